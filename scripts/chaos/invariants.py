"""The invariants, checked after the faults stop, from PostgreSQL (psql on the private cluster), Redis (the
scheduler's records, watched during the run) and the public API (`/api/v1/me`, products, admin queues).

Each check returns a list of violations (strings; empty = holds). Checks marked `converges` describe state the
system is expected to reach by itself once every dependency is back (orders confirmed, copies refreshed, queues
drained): the harness polls them until they hold or the quiesce time runs out. The others are facts of the run
that no amount of waiting changes (answers already sent, ticks already run, messages already dead-lettered).
"""

import json
import random
import time
from collections import defaultdict
from decimal import Decimal

import api
import settings

CONSUMER = "order-post-processing"


class Context:
    """What the checks read: the servers, the workload's records, and what was observed during the run."""

    def __init__(self, postgres, redis, instances, workload, recorder, injector, supervisor, job_runs,
                 initial_stock):
        self.pg = postgres
        self.redis = redis
        self.instances = instances
        self.workload = workload
        self.recorder = recorder
        self.injector = injector
        self.supervisor = supervisor
        self.job_runs = job_runs
        self.initial_stock = initial_stock      # product id -> stock before the run
        self.admin_cookie = None
        self.route = random.Random(0)
        self.resolved = {}                      # facts learned about unknown outcomes (for the report)
        self.notes = {}                         # check name -> findings that are not violations (for the report)

    # --- API helpers (not recorded as workload traffic) ---

    def get(self, instance, path, cookie=None):
        for _ in range(3):
            reply, _ = api.request(instance.port, "GET", path, "check", None, cookie=cookie, timeout=10)
            if reply is not None:
                return reply
            time.sleep(0.5)
        return None

    def login(self, email, password):
        for _ in range(20):
            instance = self.instances[self.route.randrange(len(self.instances))]
            reply, _ = api.request(instance.port, "POST", "/api/v1/auth/login", "check", None,
                                   body={"email": email, "password": password}, timeout=10)
            if reply is not None and reply.status == 200:
                return api.session_cookie(reply)
            time.sleep(0.5)
        return None

    def admin_get(self, path):
        for _ in range(3):
            if self.admin_cookie is None:
                self.admin_cookie = self.login(settings.ADMIN_EMAIL, settings.ADMIN_PASSWORD)
            reply = self.get(self.instances[0], path, cookie=self.admin_cookie)
            if reply is not None and reply.status == 401:
                self.admin_cookie = None
                continue
            return reply
        return None


class Check:
    def __init__(self, name, title, converges, function):
        self.name = name
        self.title = title
        self.converges = converges
        self.function = function

    def run(self, context):
        try:
            return self.function(context)
        except Exception as error:  # a check that cannot run is reported, never silently passed
            return ["the check could not run: %s: %s" % (type(error).__name__, error)]


# --- orders ---------------------------------------------------------------------------------------------------

def _orders(ctx):
    return ctx.pg.rows("""
        WITH ev AS (
            SELECT lower(payload::json->>'orderId') AS order_id, id::text AS mid, completed_at
            FROM outbox WHERE type = 'order.placed'),
        evc AS (
            SELECT ev.order_id, count(*) AS events, count(*) FILTER (WHERE ev.completed_at IS NULL) AS unpublished
            FROM ev GROUP BY ev.order_id),
        sm AS (SELECT order_id::text AS order_id, count(*) AS c FROM sent_messages
               WHERE kind = 'order-confirmation' GROUP BY 1),
        nt AS (SELECT data->>'orderId' AS order_id, count(*) AS c FROM notifications
               WHERE kind = 'order.placed' GROUP BY 1),
        ik AS (SELECT order_id::text AS order_id, count(*) AS c FROM idempotency_records GROUP BY 1)
        SELECT o.id::text AS id, o.user_id::text AS user_id, o.status, o.total::text AS total,
               coalesce(evc.events, 0) AS events, coalesce(evc.unpublished, 0) AS unpublished,
               (o.processed_at IS NOT NULL)::int AS processed, coalesce(sm.c, 0) AS confirmations,
               coalesce(nt.c, 0) AS notices, coalesce(ik.c, 0) AS keys
        FROM orders o
        LEFT JOIN evc ON evc.order_id = o.id::text LEFT JOIN sm ON sm.order_id = o.id::text
        LEFT JOIN nt ON nt.order_id = o.id::text LEFT JOIN ik ON ik.order_id = o.id::text
    """)


def check_client_view(ctx):
    """Every answer a client got matches PostgreSQL; unknown outcomes resolve to one order or none; no order
    exists that no client asked for; a refused order sold nothing."""
    violations = []
    records = ctx.pg.rows("SELECT user_id::text AS user_id, key, order_id::text AS order_id FROM idempotency_records")
    by_key = defaultdict(list)
    for row in records:
        by_key[(row["user_id"], row["key"])].append(row["order_id"])
    orders = {row["id"]: row for row in ctx.pg.rows("SELECT id::text AS id, user_id::text AS user_id, "
                                                     "total::text AS total, status FROM orders")}
    items = defaultdict(list)
    for row in ctx.pg.rows("SELECT order_id::text AS order_id, product_id::text AS product_id, quantity "
                           "FROM order_items ORDER BY product_id"):
        items[row["order_id"]].append((row["product_id"], row["quantity"]))
    sent = set()
    unknown_placed = unknown_absent = 0
    for record in ctx.workload.orders:
        user = record.user.id
        found = by_key.get((user, record.key), [])
        sent.add((user, record.key))
        label = "order key %s of %s" % (record.key[:8], record.user.email)
        if len(found) > 1:
            violations.append("%s: %d orders in PostgreSQL (%s)" % (label, len(found), ", ".join(found)))
        if record.outcome == "accepted":
            if len(record.ids_seen) > 1:
                violations.append("%s: the client got 201 with different order ids %s" % (label, sorted(record.ids_seen)))
            if not found:
                violations.append("%s: answered 201 (order %s) but PostgreSQL has no order for the key"
                                  % (label, record.order_id))
                continue
            if found[0] != record.order_id:
                violations.append("%s: answered order %s, PostgreSQL has %s" % (label, record.order_id, found[0]))
            order = orders.get(found[0])
            if order is None:
                violations.append("%s: the key's order %s is missing" % (label, found[0]))
                continue
            if Decimal(order["total"]) != Decimal(record.total):
                violations.append("%s: total %s answered, %s stored" % (label, record.total, order["total"]))
            if sorted(items[found[0]]) != sorted(record.lines):
                violations.append("%s: lines %s asked, %s stored" % (label, record.lines, items[found[0]]))
        elif record.outcome == "refused":
            if found:
                violations.append("%s: answered 409 OUT_OF_STOCK but order %s exists (sold without the client "
                                  "knowing)" % (label, found[0]))
        elif record.outcome == "rejected":
            violations.append("%s: unexpected answer %s" % (label, record.rejection))
        else:
            if found:
                unknown_placed += 1
            else:
                unknown_absent += 1
    ctx.resolved["unknown_placed"] = unknown_placed
    ctx.resolved["unknown_absent"] = unknown_absent
    keys_of = defaultdict(list)
    for user_key, order_ids in by_key.items():
        for order_id in order_ids:
            keys_of[order_id].append(user_key)
    for order_id, order in orders.items():
        keys = keys_of.get(order_id, [])
        if len(keys) != 1:
            violations.append("order %s has %d idempotency records" % (order_id, len(keys)))
        elif keys[0] not in sent:
            violations.append("order %s (user %s) was placed with key %s that no client sent"
                              % (order_id, order["user_id"], keys[0][1]))
    return violations


def check_confirmed_once(ctx):
    """Every order's `order.placed` event was delivered and post-processed exactly once: one outbox row, marked
    delivered (completed_at), the order marked processed (processed_at), one confirmation message, one
    notification, status confirmed (or paid)."""
    violations = []
    for row in _orders(ctx):
        problems = []
        if row["status"] not in ("confirmed", "paid"):
            problems.append("status %s" % row["status"])
        if row["events"] != 1:
            problems.append("%d order.placed outbox rows" % row["events"])
        if row["unpublished"]:
            problems.append("%d outbox rows still owed" % row["unpublished"])
        if row["processed"] != 1:
            problems.append("not marked post-processed")
        if row["confirmations"] != 1:
            problems.append("%d confirmation messages" % row["confirmations"])
        if row["notices"] != 1:
            problems.append("%d order.placed notifications" % row["notices"])
        if problems:
            violations.append("order %s: %s" % (row["id"], ", ".join(problems)))
    owed = int(ctx.pg.scalar("SELECT count(*) FROM outbox WHERE completed_at IS NULL"))
    if owed:
        violations.append("%d outbox rows (any topic) are still owed: their consumer never committed" % owed)
    return violations


# --- points -----------------------------------------------------------------------------------------------

def _points(ctx):
    return ctx.pg.rows("""
        WITH done AS (SELECT id::text AS order_id FROM orders WHERE processed_at IS NOT NULL)
        SELECT u.id::text AS id, u.email, u.points,
               coalesce(sum(floor(o.total)), 0)::bigint AS expected,
               coalesce(sum(floor(o.total)) FILTER (WHERE d.order_id IS NOT NULL), 0)::bigint AS processed,
               count(o.id) AS orders
        FROM users u LEFT JOIN orders o ON o.user_id = u.id LEFT JOIN done d ON d.order_id = o.id::text
        GROUP BY u.id, u.email, u.points
    """)


def check_points_pg(ctx):
    """users.points is exactly one point per whole currency unit of each of the user's orders (as
    OrderPostProcessor awards them: floor(total))."""
    violations = []
    for row in _points(ctx):
        if row["points"] != row["expected"]:
            violations.append("%s: %d points in PostgreSQL, %d expected from %d orders (%d from the orders "
                              "whose event was processed)" % (row["email"], row["points"], row["expected"],
                                                              row["orders"], row["processed"]))
    return violations


def check_points_me(ctx):
    """`GET /api/v1/me` on every instance shows each user's points as PostgreSQL has them."""
    violations = []
    points = {row["email"]: row["points"] for row in ctx.pg.rows("SELECT email, points FROM users")}
    for user in ctx.workload.users:
        if user.cookie is None:
            user.cookie = ctx.login(user.email, settings.PASSWORD)
        for instance in ctx.instances:
            reply = ctx.get(instance, "/api/v1/me", cookie=user.cookie)
            if reply is not None and reply.status == 401:
                user.cookie = ctx.login(user.email, settings.PASSWORD)
                reply = ctx.get(instance, "/api/v1/me", cookie=user.cookie)
            if reply is None or reply.status != 200:
                violations.append("%s: /me on %s answered %s" % (user.email, instance.instance_id,
                                                                  reply.status if reply else "nothing"))
                continue
            shown = reply.json()["data"].get("points")
            if shown != points.get(user.email):
                violations.append("%s: /me on %s shows %s points, PostgreSQL has %s"
                                  % (user.email, instance.instance_id, shown, points.get(user.email)))
    return violations


# --- stock ------------------------------------------------------------------------------------------------

def check_stock(ctx):
    """Every product's stock is its initial stock minus the units of its order lines, and never negative."""
    violations = []
    rows = ctx.pg.rows("SELECT p.id::text AS id, p.name, p.stock, coalesce(sum(i.quantity), 0) AS sold "
                       "FROM products p LEFT JOIN order_items i ON i.product_id = p.id GROUP BY p.id")
    for row in rows:
        initial = ctx.initial_stock.get(row["id"])
        if initial is None:
            violations.append("product %s (%s) did not exist before the run" % (row["id"], row["name"]))
            continue
        if row["stock"] < 0:
            violations.append("%s: stock %d is negative" % (row["name"], row["stock"]))
        if row["stock"] != initial - row["sold"]:
            violations.append("%s: stock %d, but %d initial - %d sold = %d"
                              % (row["name"], row["stock"], initial, row["sold"], initial - row["sold"]))
    return violations


def check_stock_api(ctx):
    """The catalog (through its Redis cache) shows PostgreSQL's stock on every instance."""
    violations = []
    stock = {row["id"]: row["stock"] for row in ctx.pg.rows("SELECT id::text AS id, stock FROM products")}
    for pid in ctx.workload.products["ample"] + ctx.workload.products["scarce"]:
        for instance in ctx.instances:
            reply = ctx.get(instance, "/api/v1/products/%s" % pid)
            if reply is None or reply.status != 200:
                violations.append("product %s on %s answered %s" % (pid, instance.instance_id,
                                                                    reply.status if reply else "nothing"))
                continue
            shown = reply.json()["data"]["stock"]
            if shown != stock[pid]:
                violations.append("product %s on %s shows stock %d, PostgreSQL has %d"
                                  % (pid, instance.instance_id, shown, stock[pid]))
    return violations


# --- payments ---------------------------------------------------------------------------------------------

def check_payments(ctx):
    """Each succeeded payment made its order paid exactly once; every paid order has one succeeded payment;
    no payment the provider took on (it has a provider id) is left pending or processing; every 202 the
    clients got is a payment in PostgreSQL."""
    violations = []
    payments = ctx.pg.rows("""
        SELECT p.id::text AS id, p.order_id::text AS order_id, p.status, p.provider_payment_id AS provider,
               o.status AS order_status,
               (SELECT count(*) FROM payment_events e WHERE e.payment_id = p.id AND e.type = 'payment.succeeded'
                AND e.applied) AS applied
        FROM payments p JOIN orders o ON o.id = p.order_id""")
    for row in payments:
        if row["status"] == "succeeded":
            if row["order_status"] != "paid":
                violations.append("payment %s succeeded but its order %s is %s"
                                  % (row["id"], row["order_id"], row["order_status"]))
            if row["applied"] != 1:
                violations.append("payment %s succeeded with %d applied payment.succeeded events"
                                  % (row["id"], row["applied"]))
        elif row["status"] in ("pending", "processing") and row["provider"]:
            violations.append("payment %s (provider %s, order %s) is stuck %s: the provider finished it"
                              % (row["id"], row["provider"], row["order_id"], row["status"]))
    paid = ctx.pg.rows("""
        SELECT o.id::text AS id, o.status,
               (SELECT count(*) FROM payments p WHERE p.order_id = o.id AND p.status = 'succeeded') AS succeeded,
               (SELECT count(*) FROM notifications n WHERE n.kind = 'payment.succeeded'
                AND n.data->>'orderId' = o.id::text) AS notices
        FROM orders o
        WHERE o.status = 'paid' OR EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id AND p.status = 'succeeded')""")
    for row in paid:
        if row["succeeded"] != 1:
            violations.append("order %s is %s with %d succeeded payments" % (row["id"], row["status"], row["succeeded"]))
        if row["notices"] != 1:
            violations.append("order %s: %d payment.succeeded notifications" % (row["id"], row["notices"]))
    known = {row["id"]: row for row in payments}
    for record in ctx.workload.payments:
        if record.outcome == "accepted":
            payment = record.payment or {}
            row = known.get(payment.get("id"))
            if row is None:
                violations.append("pay of order %s answered 202 (payment %s) but PostgreSQL has no such payment"
                                  % (record.order_id, payment.get("id")))
            elif not row["provider"]:
                violations.append("payment %s answered 202 but has no provider id" % row["id"])
        elif record.outcome == "rejected":
            violations.append("pay of order %s: unexpected answer %s" % (record.order_id, record.payment))
    return violations


# --- queues -----------------------------------------------------------------------------------------------

def _queue_stats(ctx):
    reply = ctx.admin_get("/api/v1/admin/queues")
    if reply is None or reply.status != 200:
        raise RuntimeError("GET /api/v1/admin/queues answered %s" % (reply.status if reply else "nothing"))
    return reply.json()["data"]


def _pending_details(ctx, topic, group):
    """Who holds the group's pending deliveries, for how long, and the lock their handler needs (Redis)."""
    lines = []
    client = ctx.redis.client()
    try:
        stream = "%s{%s}:stream" % (settings.QUEUE_KEY_PREFIX, topic)
        for entry_id, consumer, idle, deliveries in (client.call("XPENDING", stream, group, "-", "+", 5) or []):
            detail = "  pending %s held by %s, idle %d ms, %d deliveries" % (entry_id, consumer, idle, deliveries)
            entries = client.call("XRANGE", stream, entry_id, entry_id) or []
            if entries:
                fields = entries[0][1]
                values = dict(zip(fields[0::2], fields[1::2]))
                detail += ", message %s (%s)" % (values.get("id"), values.get("type"))
                try:
                    user = json.loads(values.get("payload", "{}")).get("userId", "")
                except ValueError:
                    user = ""
                if user:
                    key = "%slock:{user:%s}" % (settings.ORDERS_KEY_PREFIX, user.lower())
                    detail += "; lock %s held by %s ttl %s ms" % (key, client.call("GET", key), client.call("PTTL", key))
            lines.append(detail)
    finally:
        client.close()
    return lines


def _undelivered(ctx, topic, last_delivered):
    """Entries of the topic's stream after the group's last delivered id (up to 1000), read from Redis."""
    client = ctx.redis.client()
    try:
        stream = "%s{%s}:stream" % (settings.QUEUE_KEY_PREFIX, topic)
        return len(client.call("XRANGE", stream, "(" + last_delivered, "+", "COUNT", 1000) or [])
    finally:
        client.close()


def check_queues_drained(ctx):
    """Nothing is pending, waiting for a retry or undelivered in any topic's consumer groups.

    `lag` is Redis's counter (entries added - the group's entries read). Redis before 7.2.4 does not replicate
    a group's entries-read with XREADGROUP (redis/redis#12898), so after a failover the promoted replica
    overstates the lag for good. A lag is therefore checked against the stream itself: a violation when
    entries follow the group's last delivered id, else a note (the counter is wrong, nothing is undelivered).
    """
    violations = []
    ctx.notes.pop("queues.drained", None)
    for topic in _queue_stats(ctx):
        for group in topic["groups"]:
            for field in ("pending", "delayed", "lag"):
                value = group.get(field)
                if value and field == "lag":
                    undelivered = _undelivered(ctx, topic["topic"], group["lastDeliveredID"])
                    if not undelivered:
                        ctx.notes.setdefault("queues.drained", []).append(
                            "%s/%s: Redis reports lag %s, but no entry follows the last delivered id %s "
                            "(entries-read not replicated before Redis 7.2.4, redis/redis#12898)"
                            % (topic["topic"], group["name"], value, group["lastDeliveredID"]))
                        continue
                    value = "%s (%d entries after the last delivered id %s)" % (value, undelivered,
                                                                               group["lastDeliveredID"])
                if value:
                    violations.append("%s/%s: %s = %s" % (topic["topic"], group["name"], field, value))
                    if field == "pending":
                        try:
                            violations += _pending_details(ctx, topic["topic"], group["name"])
                        except Exception as error:
                            violations.append("  (no details: %s)" % error)
    if violations:
        # Handlers that still run hold a database session, or wait for one.
        for row in ctx.pg.rows("SELECT pid, state, now() - xact_start AS age, left(query, 80) AS query "
                               "FROM pg_stat_activity WHERE usename = 'shop' AND state <> 'idle' "
                               "AND pid <> pg_backend_pid()"):
            violations.append("  postgres backend %s %s for %s: %s" % (row["pid"], row["state"], row["age"],
                                                                      row["query"]))
        if not topic["groups"] and topic["length"]:
            violations.append("%s: %d messages but no consumer group" % (topic["topic"], topic["length"]))
    return violations


def check_dead_letters(ctx):
    """Nothing was dead-lettered (the workload sends no malformed or refused messages, so any dead letter is
    a transient fault treated as the message's own)."""
    violations = []
    for topic in _queue_stats(ctx):
        if not topic["deadLetters"]:
            continue
        reply = ctx.admin_get("/api/v1/admin/queues/%s/dead-letters?limit=500" % topic["topic"])
        letters = reply.json()["data"] if reply is not None and reply.status == 200 else []
        reasons = defaultdict(int)
        for letter in letters:
            reasons["%s/%s: %s: %s" % (topic["topic"], letter.get("group"), letter.get("reason"),
                                       (letter.get("error") or "")[:160])] += 1
        violations.append("%s: %d dead letters" % (topic["topic"], topic["deadLetters"]))
        for text, count in sorted(reasons.items(), key=lambda item: -item[1]):
            violations.append("  %dx %s" % (count, text))
    return violations


# --- scheduler --------------------------------------------------------------------------------------------

def planned_failover_during(ctx, runs):
    """The planned Sentinel failover (`SENTINEL FAILOVER`) within whose split-brain interval two runs of one tick
    both started, or None. Sentinel promotes the replica first and demotes the old primary only when it
    reconfigures it (about 11 s later here): meanwhile an instance that has not switched yet still takes locks and
    claims ticks on the old primary, and those writes are lost. That is the cost docs/scheduler.md and
    docs/locks.md state for a failover; the interval is from the failover's start to the old primary's demotion,
    SPLIT_BRAIN_MARGIN s either side. A kill cannot cause it (the old primary is dead), so kills are not counted."""
    t0 = getattr(ctx, "t0_wall", None)
    if t0 is None or len(runs) != 2:
        return None
    for window in ctx.injector.sentinel_failovers:
        if window["kind"] != "sentinel-failover":
            continue
        begin = t0 + window["start"] - settings.SPLIT_BRAIN_MARGIN
        finish = t0 + (window.get("demoted") or window["end"]) + settings.SPLIT_BRAIN_MARGIN
        if all(begin <= run["startedAt"] / 1000.0 <= finish for run in runs):
            return window
    return None


def check_ticks(ctx):
    """Each scheduler tick ran at most once across the instances (every run seen in Redis during the run), but
    for a tick run twice inside a planned Sentinel failover's split-brain interval: reported as a note, the cost
    the docs state (`planned_failover_during`)."""
    by_tick = defaultdict(list)
    for run in ctx.job_runs.snapshot():
        if not run.get("manual"):
            by_tick[(run["job"], run["tick"])].append(run)
    violations = []
    ctx.notes.pop("scheduler.ticks", None)
    for (job, tick), runs in sorted(by_tick.items()):
        if len(runs) > 1:
            text = "%s tick %s ran %d times: %s" % (
                job, time.strftime("%H:%M:%S", time.gmtime(tick / 1000)) + ".%03d" % (tick % 1000), len(runs),
                ", ".join("%s on %s (%s)" % (r["runID"][:8], r["instance"], r.get("outcome") or "running")
                          for r in runs))
            window = planned_failover_during(ctx, runs)
            if window is None:
                violations.append(text)
            else:
                ctx.notes.setdefault("scheduler.ticks", []).append(
                    "%s, both inside planned failover %d (t=%.1f..%.1fs, the old primary demoted at t=%s): the "
                    "documented failover cost (docs/scheduler.md)" % (
                        text, window["number"], window["start"], window["end"],
                        "%.1fs" % window["demoted"] if window.get("demoted") is not None else "?"))
    return violations


# --- edge and processes -------------------------------------------------------------------------------------

def check_http(ctx):
    """No 5xx other than 503, and every 503 carries Retry-After."""
    violations = []
    grouped = defaultdict(list)
    for t, label, instance, status, text in ctx.recorder.bad:
        grouped[(label, status, text[:120])].append((t, instance))
    for (label, status, text), seen in sorted(grouped.items(), key=lambda item: -len(item[1])):
        violations.append("%s answered %d %dx (first at t=%.1fs on %s): %s"
                          % (label, status, len(seen), seen[0][0], seen[0][1], text))
    return violations


def reshard_traffic(recorder, window):
    """(requests, failed) of a reshard window: every request whose span overlaps [start, end], and those of
    them that failed — any 5xx (503 included), a refused or cut connection, a timeout — and started no earlier
    than RESHARD_QUIET s before the window (no other fault was under way then, so the failure is the
    reshard's). Spans are (start, end, label, instance, status or error kind, text)."""
    start, end = window["start"], window["end"]
    during = [span for span in list(recorder.spans) if span[0] <= end and span[1] >= start]
    failed = [span for span in during if span[0] >= start - settings.RESHARD_QUIET
              and (not isinstance(span[4], int) or span[4] >= 500)]
    return during, failed


def check_reshard(ctx):
    """No request failed during a live reshard (cluster mode): MOVED and ASK are followed, nothing is refused."""
    violations = []
    for window in ctx.injector.reshards:
        if window.get("error"):
            violations.append("reshard %d (t=%.1f..%.1fs, 127.0.0.1:%d -> 127.0.0.1:%d) did not complete: %s"
                              % (window["number"], window["start"], window["end"], window["from"], window["to"],
                                 window["error"]))
        _, failed = reshard_traffic(ctx.recorder, window)
        grouped = defaultdict(list)
        for begun, ended, label, instance, outcome, text in failed:
            grouped[(label, outcome, text[:120])].append((begun, ended, instance))
        for (label, outcome, text), seen in sorted(grouped.items(), key=lambda item: -len(item[1])):
            violations.append("reshard %d (t=%.1f..%.1fs, %d slots 127.0.0.1:%d -> 127.0.0.1:%d): %s answered %s "
                              "%dx (first sent at t=%.1fs on %s)%s"
                              % (window["number"], window["start"], window["end"], window["slots"], window["from"],
                                 window["to"], label, outcome, len(seen), seen[0][0], seen[0][2],
                                 ": " + text if text else ""))
    return violations


def _provider_answer(span):
    """A 503 of the payment provider's (its outage, or the shop's circuit breaker after one): a provider fault's,
    which may overlap a failover (the provider track runs beside the infrastructure track)."""
    return span[4] == 503 and "PROVIDER_UNAVAILABLE" in span[5]


def failover_traffic(recorder, window):
    """What the clients saw during a Sentinel failover window [start, end]: every request whose span overlaps it
    (`during`), and of those that started no earlier than SENTINEL_QUIET s before it (no other infrastructure
    fault ran then) the ones that failed — a 5xx (503 included), a refused or cut connection, a timeout — apart from
    the provider's 503s (`failed`), the provider's 503s (`provider`), the failures that are violations (`late`:
    ended more than SENTINEL_BOUND s after a quorum named the new primary, or not a 503), and per instance the first
    201 of an order that was sent after the new primary was named (`followed`: instance -> seconds after it), and
    after the old primary became a replica, when it did (`written`: instance -> seconds after the demotion).
    Spans are (start, end, label, instance, status or error kind, text)."""
    start, end = window["start"], window["end"]
    during = [span for span in list(recorder.spans) if span[0] <= end and span[1] >= start]
    mine = [span for span in during if span[0] >= start - settings.SENTINEL_QUIET]
    failures = [span for span in mine if not isinstance(span[4], int) or span[4] >= 500]
    provider = [span for span in failures if _provider_answer(span)]
    failed = [span for span in failures if not _provider_answer(span)]
    announced = window.get("announced")
    bound = (announced if announced is not None else start) + settings.SENTINEL_BOUND
    late = [span for span in failed if span[1] > bound or span[4] != 503]
    followed, written = {}, {}
    for begun, ended, label, instance, outcome, _ in during:
        if label != "orders.create" or outcome != 201:
            continue
        if announced is not None and begun >= announced:
            followed[instance] = min(followed.get(instance, float("inf")), ended - announced)
        demoted = window.get("demoted")
        if demoted is not None and begun >= demoted:
            written[instance] = min(written.get(instance, float("inf")), ended - demoted)
    return {"during": during, "failed": failed, "provider": provider, "late": late, "followed": followed,
            "written": written, "unauthorized": sum(1 for span in mine if span[4] == 401)}


def check_sentinel(ctx):
    """Every Sentinel failover completed (a quorum named the new primary, the old one became its replica, the
    Sentinels agreed again) and the shops followed: no request overlapping it failed other than with a 503 that
    ended within SENTINEL_BOUND s of the new primary being named, and every instance accepted the harness's sign-in
    (a session write, which the demoted server refuses) within SENTINEL_PROBE_WAIT s of the old primary's demotion."""
    violations = []
    for window in ctx.injector.sentinel_failovers:
        label = "failover %d (%s, t=%.1f..%.1fs, 127.0.0.1:%d -> 127.0.0.1:%d)" % (
            window["number"], window["kind"], window["start"], window["end"], window["old"], window["new"])
        if window.get("error"):
            violations.append("%s did not complete: %s" % (label, window["error"]))
        traffic = failover_traffic(ctx.recorder, window)
        grouped = defaultdict(list)
        for begun, ended, name, instance, outcome, text in traffic["late"]:
            grouped[(name, outcome, text[:120])].append((begun, ended, instance))
        for (name, outcome, text), seen in sorted(grouped.items(), key=lambda item: -len(item[1])):
            last = max(ended for _, ended, _ in seen)
            violations.append("%s: %s answered %s %dx, the last ending %s (first sent at t=%.1fs on %s)%s"
                              % (label, name, outcome, len(seen),
                                 "%.1fs after the new primary was named" % (last - window["announced"])
                                 if window.get("announced") is not None else "at t=%.1fs" % last,
                                 seen[0][0], seen[0][2], ": " + text if text else ""))
        if window.get("demoted") is not None:
            missing = [name for name, seconds in sorted(window.get("probe", {}).items()) if seconds is None]
            if missing or not window.get("probe"):
                violations.append("%s: %s accepted no sign-in (a session written to Redis) within %.0fs after "
                                  "127.0.0.1:%d became a replica (t=%.1fs): the shop did not follow"
                                  % (label, ", ".join(missing) or "no instance was probed: nothing",
                                     settings.SENTINEL_PROBE_WAIT, window["old"], window["demoted"]))
    return violations


def check_instances(ctx):
    """No instance exited by itself, and every instance is ready at the end."""
    violations = []
    for crash in ctx.supervisor.crashes:
        violations.append("%s exited by itself at t=%.1fs (status %s); log tail:\n%s"
                          % (crash["instance"], crash["t"], crash["status"], crash["log"]))
    for instance in ctx.instances:
        if not instance.ready():
            violations.append("%s is not ready at the end" % instance.instance_id)
    return violations


CHECKS = [
    Check("orders.client-view", "answers match PostgreSQL; unknown outcomes resolve; nothing sold twice", False,
          check_client_view),
    Check("orders.confirmed-once", "every order's event published and post-processed exactly once", True,
          check_confirmed_once),
    Check("points.postgres", "points exact in PostgreSQL", True, check_points_pg),
    Check("points.me", "/me shows PostgreSQL's points on every instance", True, check_points_me),
    Check("stock.postgres", "stock = initial - sold, never negative", False, check_stock),
    Check("stock.api", "catalog shows PostgreSQL's stock on every instance", True, check_stock_api),
    Check("payments", "succeeded payment <-> order paid once; nothing stuck", True, check_payments),
    Check("queues.drained", "nothing pending, delayed or undelivered", True, check_queues_drained),
    Check("queues.dead-letters", "nothing dead-lettered", False, check_dead_letters),
    Check("scheduler.ticks", "each tick ran at most once", False, check_ticks),
    Check("http.edge", "no 5xx but 503, and 503 with Retry-After", False, check_http),
    Check("instances", "no instance crashed; all ready at the end", True, check_instances),
    Check("cluster.reshard", "no request failed during a live reshard (cluster)", False, check_reshard),
    Check("sentinel.failover", "failovers complete; shops follow; 503s only within the bound (sentinel)", False,
          check_sentinel),
]


def run_checks(ctx, only_converging=False):
    """{check name: [violations]} for every check (or only those that converge)."""
    results = {}
    for check in CHECKS:
        if only_converging and not check.converges:
            continue
        results[check.name] = check.run(ctx)
    return results
