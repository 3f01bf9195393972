"""Every tunable of the chaos run in one place.

Environment variables (all optional) override the defaults marked (env); the shop's own configuration for
the run is the SHOP_ENVIRONMENT block below. Change values here, not in the other modules.
"""

import os


def _int(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def _float(name, default):
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


# --- Run length -------------------------------------------------------------------------------------------
# (env) CHAOS_SECONDS: how long the workload runs with faults injected.
CHAOS_SECONDS = _int("CHAOS_SECONDS", 150)
# (env) CHAOS_DRAIN_SECONDS: after the faults stop, how long clients may keep retrying the operations they
# had in flight (no new ones start); what is still open then is "unknown" and resolved from the database.
DRAIN_SECONDS = _int("CHAOS_DRAIN_SECONDS", 20)
# (env) CHAOS_QUIESCE_SECONDS: the longest the harness waits, after the drain, for the invariants that
# converge (orders confirmed, points, copies in Redis, queues empty) to hold.
QUIESCE_SECONDS = _int("CHAOS_QUIESCE_SECONDS", 240)
# How often the converging invariants are checked while quiescing.
QUIESCE_POLL_SECONDS = 5
# (env) CHAOS_STABLE_SECONDS: quiescing also ends when the violations found have not changed for this long
# (longer than the queue's longest retry backoff, 60 s), since then nothing is converging any more.
STABLE_SECONDS = _int("CHAOS_STABLE_SECONDS", 90)

# --- Redis ------------------------------------------------------------------------------------------------
# (env) CHAOS_REDIS: `standalone` (one redis-server), `cluster` (a six-node Redis Cluster from
# scripts/redis-cluster.sh: three primaries, one replica each) or `sentinel` (a primary, one replica and three
# Sentinels from scripts/redis-sentinel.sh); `--redis` on the command line wins.
REDIS_MODES = ("standalone", "cluster", "sentinel")
REDIS_MODE = os.environ.get("CHAOS_REDIS", "").strip() or "standalone"
# (env) CHAOS_CLUSTER_PORT: the cluster's first port (nodes on PORT..PORT+5, cluster bus on +10000). Private to
# the chaos run; other users of this machine's clusters use 7000-7005 and 7100+.
CLUSTER_PORT = _int("CHAOS_CLUSTER_PORT", 7600)
# (env) CHAOS_CLUSTER_NODE_TIMEOUT: cluster-node-timeout in ms. A killed primary is failed over one to two node
# timeouts after its death; shorter also means a primary starved of CPU on a loaded machine can be failed
# over without being killed (the report counts those: failovers beyond the planned kills).
CLUSTER_NODE_TIMEOUT_MS = _int("CHAOS_CLUSTER_NODE_TIMEOUT", 3000)
CLUSTER_HEALTHY_WAIT = 90   # seconds scripts/redis-cluster.sh waits for every primary to have an online replica
CLUSTER_PROMOTE_WAIT = 60   # seconds a killed primary's replica has to take its slots (else a harness error)
# (env) CHAOS_SENTINEL_PORT: sentinel mode's BASE_PORT for scripts/redis-sentinel.sh: the primary on PORT, the
# replica on PORT+1, the Sentinels on PORT+20000..+20002 (7800, 7801, 27800-27802). Private to the chaos run: the
# Sentinel tests pick 10000-12699 (+20000), `make redis-sentinel` 6390.
SENTINEL_PORT = _int("CHAOS_SENTINEL_PORT", 7800)
SENTINEL_MASTER = "shop"        # the master name the script's Sentinels monitor (its default)
SENTINEL_QUORUM = 2             # the script's quorum: a primary counts as announced when this many Sentinels name it
SENTINEL_HEALTHY_WAIT = 90      # seconds to wait for the Sentinels to agree on a primary with an online replica
SENTINEL_PROMOTE_WAIT = 60      # seconds a failover has to get a new primary named by a quorum
# A demoted primary is reconfigured as a replica by the Sentinels when they next read its INFO (every 10 s, then
# 8 s of grace): after a planned failover about 11 s, after a restart about 10 s (measured); this bounds it.
SENTINEL_DEMOTE_WAIT = 60
# The Sentinels start no automatic failover of a master within 2 x failover-timeout (the script's 5000 ms) of the
# previous one: a Redis fault starts this many seconds after the previous failover began, so a kill is always
# followed by a promotion.
SENTINEL_SPACING = 11.0
# (env) CHAOS_SENTINEL_BOUND: `sentinel.failover` allows requests that overlap a failover to fail with 503 +
# Retry-After until this many seconds after a quorum of Sentinels named the new primary; a failure that ends
# later, or that is not a 503 (a 500, a refused or cut connection, a timeout), is a violation. 5 s is the
# client's command timeout: a command sent before the switch is retried on the new primary within it.
SENTINEL_BOUND = _float("CHAOS_SENTINEL_BOUND", 5.0)
# Around a Sentinel fault no other infrastructure fault runs (they are one track): it starts this many seconds
# after the previous one ended (and after every instance is ready), and the next starts no earlier than this
# long after the bound above; its window [start, end] covers that margin, so failures past the bound show.
SENTINEL_QUIET = 5.0
# Once the old primary is a replica (it refuses writes), the harness signs a user of its own in on each instance (a
# session written to Redis) until one succeeds; `sentinel.failover` requires that within this many seconds. The
# workload's orders are not enough: while a provider outage keeps every client retrying its payment, none are sent.
SENTINEL_PROBE_WAIT = 10.0
# sentinel: seconds either side of a planned failover's window (its start to the old primary's demotion) within
# which a tick run twice is the documented failover cost, a note rather than a violation (`scheduler.ticks`).
SPLIT_BRAIN_MARGIN = 1.0

# --- Workload ---------------------------------------------------------------------------------------------
USERS = _int("CHAOS_USERS", 48)             # (env) accounts that order
CLIENT_THREADS = _int("CHAOS_CLIENTS", 8)   # (env) concurrent clients; each owns USERS / CLIENT_THREADS users
INSTANCES = 3                               # `shop serve` processes
AMPLE_PRODUCTS = 8                          # products with stock that does not run out
AMPLE_STOCK = 1_000_000
SCARCE_PRODUCTS = 4                         # products that run out during the run (out-of-stock answers)
SCARCE_STOCK = None                         # (low, high), drawn from the seed; set by configure() so they sell out mid-run
PRICES = ["3.00", "7.99", "12.50", "19.95", "24.00", "41.00", "0.99", "99.90", "5.49", "15.00", "2.50", "64.20"]
ORDER_LINES = (1, 3)                        # distinct products per order
LINE_QUANTITY = (1, 3)
SCARCE_SHARE = 0.15                         # share of orders that include a scarce product
PAY_SHARE = 0.45                            # share of accepted orders the client then pays
READ_SHARE = 0.15                           # share of steps that read (/me, products) instead of writing
THINK_SECONDS = (0.02, 0.25)                # pause between a client's steps
REQUEST_TIMEOUT = 15.0                      # client timeout of one HTTP request (seconds)
PASSWORD = "chaos-password-local"



def configure(seconds, redis_mode=None):
    """Sets the values that depend on the run's length and on the Redis mode."""
    global CHAOS_SECONDS, PG_DOWN_SECONDS, SCARCE_STOCK, REDIS_MODE, FAULT_WEIGHTS
    CHAOS_SECONDS = seconds
    REDIS_MODE = redis_mode or REDIS_MODE
    if REDIS_MODE not in REDIS_MODES:
        raise ValueError("CHAOS_REDIS must be one of %s (got %r)" % (", ".join(REDIS_MODES), REDIS_MODE))
    FAULT_WEIGHTS = dict({"cluster": CLUSTER_FAULT_WEIGHTS, "sentinel": SENTINEL_FAULT_WEIGHTS}.get(
        REDIS_MODE, STANDALONE_FAULT_WEIGHTS))
    # CHAOS_FAULTS=stop-postgres,kill-redis: only these kinds (to chase one fault's failure).
    if os.environ.get("CHAOS_FAULTS"):
        FAULT_WEIGHTS = {kind: weight for kind, weight in FAULT_WEIGHTS.items()
                         if kind in os.environ["CHAOS_FAULTS"].split(",")} or FAULT_WEIGHTS
    PG_DOWN_SECONDS = _int("CHAOS_PG_DOWN_SECONDS", 20 if seconds >= 120 else max(4, seconds // 6))
    SCARCE_STOCK = (max(10, seconds // 5), max(20, seconds * 2 // 3))


# --- Faults -----------------------------------------------------------------------------------------------
WARMUP_SECONDS = 8          # no faults at the start of the run
COOLDOWN_SECONDS = 5        # no fault starts this close to the end of the run
# (env) CHAOS_PG_DOWN_SECONDS: how long PostgreSQL stays stopped; default 20 s, shorter for short runs.
PG_DOWN_SECONDS = None      # set by configure()
INSTANCE_DOWN = (1.0, 5.0)  # seconds a killed instance stays down before its restart
REDIS_DOWN = (0.5, 3.0)     # seconds a killed Redis stays down
SNAPSHOT_AGE = (3.0, 8.0)   # Redis restore: the snapshot is this many seconds old when it is restored
GAP = (3.0, 10.0)           # pause between two infrastructure faults
PRIMARY_DOWN = (1.0, 5.0)   # cluster, sentinel: seconds a killed primary stays down after its replica took over
# cluster: the first kills take down the primary of these keys' slots (the orders topic, then the payments
# topic, whose streams, deduplication markers and retries share one slot each); later kills a random slot's.
# Sessions, locks, idempotency claims and caches are spread over every slot, so every kill hits some of them.
PRIMARY_TARGET_KEYS = ["shop:queue:{orders}:stream", "shop:queue:{payments}:stream"]
# Kinds of infrastructure fault and their weights once each kind ran once (all run at least once when the
# run is long enough; shuffled by the seed). A cluster has no one server to kill or restore: kill-redis and
# restore-redis become kill-primary (kill -9 of the primary of a slot drawn from the seed; its replica is
# promoted, and the killed node, started again from its files, rejoins as a replica).
STANDALONE_FAULT_WEIGHTS = {"kill-instance": 5, "kill-redis": 1.5, "restore-redis": 1.5, "stop-postgres": 1}
CLUSTER_FAULT_WEIGHTS = {"kill-instance": 3, "kill-primary": 6, "stop-postgres": 1, "reshard": 3}
# sentinel: kill-redis and restore-redis become `sentinel-failover` (a planned SENTINEL FAILOVER) and
# `kill-primary` (kill -9 of the primary the Sentinels name; the replica is promoted, the killed server started
# again from its files and reconfigured by the Sentinels as a replica).
SENTINEL_FAULT_WEIGHTS = {"kill-instance": 3, "sentinel-failover": 3, "kill-primary": 3, "stop-postgres": 1}
FAULT_WEIGHTS = None        # the mode's weights, set by configure()
# cluster: `reshard` moves a batch of slots, the hot key's among them, from the primary that owns the key's slot
# to another primary (`redis-cli --cluster reshard`, keys moved with MIGRATE while the workload runs: the shops
# get ASK during the move and MOVED after it). redis-cli takes the source's lowest slots first; `{orders}` is
# slot 105, so a batch of at least its position + 1 slots holds it (the harness raises the count when needed).
RESHARD_KEY = "shop:queue:{orders}:stream"
RESHARD_SLOTS = (150, 450)  # slots moved by one reshard (drawn from the seed)
# One `reshard` fault moves the batch round the three primaries (owner -> another -> the third -> owner): three
# `redis-cli --cluster reshard` runs, three windows, RESHARD_PAUSE s apart; the layout ends as it began.
RESHARD_PAUSE = 1.0
RESHARD_ESTIMATE = 12.0     # seconds the three moves are planned to take (they take what they take; the track waits)
# No other fault (infrastructure or provider) runs within this many seconds before and after a reshard, so a
# failed request during one is the reshard's (checked by `cluster.reshard`).
RESHARD_QUIET = 5.0
# After a provider fault the wait is longer: the shop's payment circuit breaker stays open 10 s after it opened
# (PaymentsClient), and its 503 PROVIDER_UNAVAILABLE answers are the provider fault's, not the reshard's.
RESHARD_PROVIDER_QUIET = 15.0
RESHARD_TIMEOUT = 120       # seconds redis-cli may take (else a harness error)
PROVIDER_CALM = (8.0, 25.0)     # seconds between two provider faults
PROVIDER_FAULT = (3.0, 10.0)    # how long one provider fault lasts
PROVIDER_FAULTS = {"provider-outage": 2, "provider-errors": 2, "provider-slow": 1}

# The provider's behaviour between its faults: duplicated and reordered webhooks, some failed payments.
PROVIDER_BASELINE = {
    "latencyMs": 0,
    "errorRate": 0,
    "outage": False,
    "paymentFailureRate": 0.1,
    "webhookDelayMs": 200,
    "duplicateWebhooks": True,
    "reorderWebhooks": True,
}

WEBHOOK_SECRET = "chaos-local-webhook-secret-0123456789"

# --- The shop's configuration for the run -----------------------------------------------------------------
# ====================================== SHOP SETTINGS (adjust here) ======================================
# Per-process keys (DATABASE_URL, REDIS_URL, HTTP_PORT, INSTANCE_ID, provider URLs, webhook secret) are
# added by servers.py. Keys a given build does not know are ignored by it, so settings for reconciliation
# features still being written can be listed here ahead of time.
SHOP_ENVIRONMENT = {
    "LOG_LEVEL": "info",
    "PASSWORD_HASH_COST": "4",
    "LOGIN_MAX_ATTEMPTS_PER_ADDRESS": "1000000",
    "LOGIN_MAX_ATTEMPTS_PER_ACCOUNT": "100000",
    "DATABASE_STARTUP_TIMEOUT_MS": "120000",     # a restart while PostgreSQL is stopped waits for it
    "IDEMPOTENCY_CLAIM_TIMEOUT_SECONDS": "5",     # a key held by a killed instance is free again soon
    "CACHE_TTL_SECONDS": "20",                    # bounds how long a stale catalog entry can live
    "CACHE_LIST_TTL_SECONDS": "20",
    "CACHE_STALE_SECONDS": "0",
    # Scheduled jobs on 1-2 s schedules.
    "JOBS_ENABLED": "true",
    "JOBS_CACHE_REBUILD_SCHEDULE": "@every 1s",
    "JOBS_CLEANUP_SCHEDULE": "@every 2s",
    "JOBS_DAILY_SALES_SCHEDULE": "@every 2s",
    "JOBS_READ_COUNTS_FLUSH_MS": "1000",
    "JOBS_SHUTDOWN_GRACE_SECONDS": "2",
    # Queue: a killed instance's deliveries are taken over quickly.
    "QUEUE_VISIBILITY_TIMEOUT_MS": "3000",
    "QUEUE_SHUTDOWN_GRACE_SECONDS": "2",
    "OUTBOX_POLL_INTERVAL_MS": "200",
    "PAYMENTS_TIMEOUT_MS": "2000",
    # Reconciliation settings of the durability work (wave 2, docs/operations.md); builds that do not have
    # them ignore them. Short, so what Redis lost is repaired within the quiesce time.
    "OUTBOX_RESEND_AFTER_MS": "5000",            # re-publish an outbox row whose effects did not commit
    "QUEUE_TRANSIENT_BACKOFF_MAX_MS": "5000",    # longest wait between tries of a transiently failing message
    "CACHE_POINTS_TTL_SECONDS": "60",            # bounds how long a /me points copy can stay stale after a restore
    "DATABASE_REQUEST_WAIT_MS": "2000",          # a request waits this long for a connection, then answers 503
}
# ==========================================================================================================

# Scheduler jobs whose runs are watched (names from Sources/Shop/Jobs/ShopJobs.swift) and the key prefix
# (JOBS_KEY_PREFIX default). Queue and cache prefixes are the shop's defaults too.
JOB_NAMES = ["catalog-cache-rebuild", "cleanup", "daily-sales"]
JOB_SCHEDULES = {"catalog-cache-rebuild": 1.0, "cleanup": 2.0, "daily-sales": 2.0}   # seconds, as configured above
JOBS_KEY_PREFIX = "shop:jobs:"
QUEUE_KEY_PREFIX = "shop:queue:"
CACHE_KEY_PREFIX = "shop:cache:"
ORDERS_KEY_PREFIX = "shop:orders:"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-local"


configure(CHAOS_SECONDS)
