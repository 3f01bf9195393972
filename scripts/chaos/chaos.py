#!/usr/bin/env python3
"""The seeded chaos run (issue 14): a workload on three `shop serve` processes while faults are injected, then
invariants checked from PostgreSQL and the public API. See docs/chaos.md.

    python3 scripts/chaos/chaos.py --shop .build/debug/shop            # CHAOS_SEED, CHAOS_SECONDS from the env
    python3 scripts/chaos/chaos.py --shop ... --seed 7 --seconds 600
    python3 scripts/chaos/chaos.py --shop ... --plan                   # print the fault schedule and exit
    python3 scripts/chaos/chaos.py --shop ... --self-test              # show that every check can fail
    python3 scripts/chaos/chaos.py --shop ... --redis cluster          # on a six-node Redis Cluster (CHAOS_REDIS)
    python3 scripts/chaos/chaos.py --shop ... --redis sentinel         # on a primary, a replica and three Sentinels

Exit status: 0 when every invariant held, 1 when some did not, 2 when the harness itself failed.
Python 3.11 standard library only.
"""

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import api  # noqa: E402
import faults  # noqa: E402
import invariants  # noqa: E402
import observers  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402
import settings  # noqa: E402
import workload  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Harness:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.t0 = None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.base_dir = os.path.join(ROOT, ".run", "chaos")
        self.run_dir = os.path.join(self.base_dir, "%s-%s-%d" % (stamp, self.seed, os.getpid()))
        os.makedirs(self.run_dir, exist_ok=True)
        self.log_file = open(os.path.join(self.run_dir, "chaos.log"), "a")
        self.log_lock = threading.Lock()
        self.postgres = self.redis = self.provider = None
        self.instances = []
        self.harness_errors = []

    # --- logging and time ---

    def clock(self):
        return 0.0 if self.t0 is None else time.monotonic() - self.t0

    def log(self, message):
        if self.t0 is None:
            line = "[chaos   setup ] %s" % message
        else:
            line = "[chaos %7.1fs] %s" % (self.clock(), message)
        with self.log_lock:
            print(line, flush=True)
            self.log_file.write(line + "\n")
            self.log_file.flush()

    # --- setup ---

    def start_servers(self):
        servers.cleanup_stale_runs(self.base_dir, self.log)
        self.state = servers.RunState(self.run_dir)
        self.log("run folder %s" % self.run_dir)
        self.postgres = servers.PrivatePostgres(self.run_dir, self.state, self.log)
        self.log("initdb: private PostgreSQL (%s) on 127.0.0.1:%d, data in %s"
                 % (self.postgres.bin, self.postgres.port, self.postgres.data))
        self.postgres.init()
        if settings.REDIS_MODE == "cluster":
            self.redis = servers.PrivateCluster(self.run_dir, self.state, settings.CLUSTER_PORT,
                                                settings.CLUSTER_NODE_TIMEOUT_MS)
            self.log("redis cluster: 3 primaries + 3 replicas on 127.0.0.1:%d-%d (scripts/redis-cluster.sh, "
                     "cluster-node-timeout %d ms)" % (self.redis.ports[0], self.redis.ports[-1],
                                                     settings.CLUSTER_NODE_TIMEOUT_MS))
            self.redis.start()
            self.epoch_start = self.redis.epoch()
            self.log("redis cluster healthy (epoch %s): %s" % (self.epoch_start, self.redis.url))
        elif settings.REDIS_MODE == "sentinel":
            self.redis = servers.PrivateSentinel(self.run_dir, self.state, settings.SENTINEL_PORT)
            self.log("redis sentinel: primary 127.0.0.1:%d, replica :%d, Sentinels :%d-%d monitoring '%s' "
                     "(scripts/redis-sentinel.sh, quorum %d, down-after 1 s)"
                     % (self.redis.ports[0], self.redis.ports[1], self.redis.sentinels[0], self.redis.sentinels[-1],
                        settings.SENTINEL_MASTER, settings.SENTINEL_QUORUM))
            self.redis.start()
            self.epoch_start = self.redis.epochs()
            self.log("redis sentinel healthy (primary 127.0.0.1:%s): %s" % (self.redis.primary(), self.redis.url))
        else:
            self.redis = servers.PrivateRedis(self.run_dir, self.state)
            self.redis.start()
            self.log("redis-server on 127.0.0.1:%d (appendonly yes, appendfsync everysec)" % self.redis.port)
        self.provider = servers.Provider(self.args.shop, self.run_dir, self.state)
        self.provider.start()
        self.provider.control()
        self.log("shop provider on 127.0.0.1:%d (%s)" % (self.provider.port, json.dumps(settings.PROVIDER_BASELINE)))
        env = dict(os.environ, DATABASE_URL=self.postgres.url, REDIS_URL=self.redis.url, LOG_LEVEL="warning")
        servers.run_tool(self.args.shop, "seed", env, os.path.join(self.run_dir, "seed.log"))
        self.products = self.seed_products()
        self.initial_stock = {row["id"]: row["stock"] for row in
                              self.postgres.rows("SELECT id::text AS id, stock FROM products")}
        for index in range(settings.INSTANCES):
            instance = servers.ShopInstance(index, self.args.shop, self.run_dir, self.state, self.redis.url,
                                            self.postgres.url, self.provider.url)
            instance.start()
            self.instances.append(instance)
        for instance in self.instances:
            if not servers.wait_for(instance.ready, 120, 0.2):
                raise RuntimeError("%s did not become ready:\n%s" % (instance.instance_id, instance.log_tail()))
            self.log("%s ready on 127.0.0.1:%d" % (instance.instance_id, instance.port))

    def seed_products(self):
        """Products with ample stock and a few scarce ones, ids and stock drawn from the seed."""
        rng = random.Random("%s:products" % self.seed)
        products = {"ample": [], "scarce": []}
        values = []
        for kind, count in (("ample", settings.AMPLE_PRODUCTS), ("scarce", settings.SCARCE_PRODUCTS)):
            for index in range(count):
                pid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                stock = settings.AMPLE_STOCK if kind == "ample" else rng.randint(*settings.SCARCE_STOCK)
                price = rng.choice(settings.PRICES)
                products[kind].append(pid)
                values.append("('%s', 'Chaos %s %d', 'chaos run product', %s, 'USD', %d)"
                              % (pid, kind, index + 1, price, stock))
        self.postgres.psql("INSERT INTO products (id, name, description, price, currency, stock) VALUES "
                           + ", ".join(values))
        return products

    # --- the run ---

    def ensure_everything_up(self):
        if settings.REDIS_MODE == "cluster":
            if not self.redis.healthy():
                self.log("the redis cluster is not healthy after the faults (%s): starting its dead nodes"
                         % self.redis.roles())
                self.redis.restart()
        elif settings.REDIS_MODE == "sentinel":
            if not self.redis.healthy():
                self.log("the redis sentinel setup is not healthy after the faults (roles %s, named %s): starting "
                         "what is down" % (self.redis.roles(), self.redis.named()))
                self.redis.restart()
        elif not self.redis.ping():
            self.log("redis is down after the faults: starting it")
            self.redis.restart()
        if not self.postgres.is_up():
            self.log("postgres is down after the faults: starting it")
            self.postgres.start()
        for instance in self.instances:
            if not instance.alive():
                self.log("%s is down after the faults: starting it" % instance.instance_id)
                instance.start("after the faults ")
        self.provider.control()
        for instance in self.instances:
            if not servers.wait_for(instance.ready, 90, 0.5):
                self.harness_errors.append("%s not ready 90 s after the faults stopped" % instance.instance_id)

    def run(self):
        plan = faults.plan(self.seed, self.args.seconds, settings.INSTANCES)
        with open(os.path.join(self.run_dir, "plan.json"), "w") as handle:
            json.dump(plan, handle, indent=1)
        self.start_servers()
        recorder = api.Recorder(self.clock)
        self.workload = workload.Workload(self.seed, self.instances, recorder, self.products, self.log)
        self.log("registering %d users" % settings.USERS)
        self.workload.register_all()
        servers_ = {"redis": self.redis, "postgres": self.postgres, "provider": self.provider,
                    "instances": self.instances}
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self.injector = faults.Injector(plan if not self.args.no_faults else [], servers_, self.clock, self.log)
        self.supervisor = faults.Supervisor(self.instances, self.injector, self.clock, self.log)
        self.job_runs = observers.JobRuns(self.redis)
        self.log("workload and faults start: %d planned faults over %ds (seed %s)"
                 % (len(self.injector.plan), self.args.seconds, self.seed))
        self.job_runs.start()
        self.supervisor.start()
        self.workload.start()
        self.injector.start()
        while self.clock() < self.args.seconds:
            time.sleep(min(15.0, max(0.1, self.args.seconds - self.clock())))
            counts, _ = self.workload.summary()
            self.log("progress: %d requests, orders %s" % (recorder.requests, dict(sorted(counts.items()))))
        self.injector.finish()
        faults_ended = self.clock()
        self.log("faults stopped; bringing everything up, clients drain for up to %ds" % settings.DRAIN_SECONDS)
        self.ensure_everything_up()
        self.workload.stop(settings.DRAIN_SECONDS)
        self.supervisor.stop.set()
        ctx = invariants.Context(self.postgres, self.redis, self.instances, self.workload, recorder,
                                 self.injector, self.supervisor, self.job_runs, self.initial_stock)
        ctx.t0_wall = self.t0_wall
        quiesce_start = time.monotonic()
        self.quiesce(ctx)
        self.job_runs.finish()
        results = invariants.run_checks(ctx)
        info = {
            "seed": self.seed, "seconds": self.args.seconds, "run_dir": os.path.relpath(self.run_dir, ROOT),
            "faults_ended": faults_ended, "quiesce": time.monotonic() - quiesce_start, "total": self.clock(),
            "harness_errors": self.harness_errors, "t0_wall": self.t0_wall, "redis": settings.REDIS_MODE,
        }
        if settings.REDIS_MODE == "cluster":
            epoch = self.redis.epoch()
            info["cluster"] = {"epoch_start": self.epoch_start, "epoch_end": epoch, "roles": self.redis.roles(),
                               "node_timeout_ms": settings.CLUSTER_NODE_TIMEOUT_MS}
        if settings.REDIS_MODE == "sentinel":
            info["sentinel"] = {"epochs_start": self.epoch_start, "epochs_end": self.redis.epochs(),
                                "roles": self.redis.roles(), "primary": self.redis.primary()}
        try:
            info["provider"] = self.provider.stats().get("stats")
            with open(self.provider.log_path, errors="replace") as handle:
                info["provider"]["givenUp"] = sum("webhook given up" in line for line in handle)
            info["pg_orders"] = self.postgres.scalar("SELECT count(*) FROM orders")
            info["paid_orders"] = self.postgres.scalar("SELECT count(*) FROM orders WHERE status = 'paid'")
            info["failed_payments"] = self.postgres.scalar("SELECT count(*) FROM payments WHERE status = 'failed'")
        except Exception as error:
            self.harness_errors.append("figures: %s" % error)
        text, violations = report.render(info, results, ctx)
        print(text, flush=True)
        with open(os.path.join(self.run_dir, "report.txt"), "w") as handle:
            handle.write(text + "\n")
        with open(os.path.join(self.run_dir, "results.json"), "w") as handle:
            json.dump({"seed": self.seed, "seconds": self.args.seconds, "redis": settings.REDIS_MODE,
                       "faults": self.injector.done, "reshards": self.injector.reshards,
                       "sentinel_failovers": self.injector.sentinel_failovers,
                       "sentinel_failed_requests": {w["number"]: invariants.failover_traffic(recorder, w)["failed"]
                                                    for w in self.injector.sentinel_failovers},
                       "violations": results}, handle, indent=1)
        with open(os.path.join(self.run_dir, "orders.json"), "w") as handle:
            json.dump([{"user": r.user.email, "key": r.key, "lines": r.lines, "outcome": r.outcome,
                        "order": r.order_id, "answers": r.answers} for r in self.workload.orders], handle)
        if self.args.self_test:
            import selftest
            ok = selftest.run(ctx, self.log)
            return 0 if ok else 1
        if self.injector.errors or self.harness_errors:
            return 2
        return 1 if violations else 0

    def quiesce(self, ctx):
        """Polls the converging invariants until they hold or the quiesce time runs out."""
        deadline = time.monotonic() + self.args.quiesce
        last, since = None, time.monotonic()
        while True:
            results = invariants.run_checks(ctx, only_converging=True)
            failing = {name: len(found) for name, found in results.items() if found}
            if not failing:
                self.log("quiesced: every converging invariant holds")
                return
            if time.monotonic() >= deadline:
                self.log("quiesce time over; still failing: %s" % failing)
                return
            summary = {name: [v for v in found if not v.startswith("  ")] for name, found in results.items()}
            if summary != last:
                last, since = summary, time.monotonic()
            elif time.monotonic() - since >= settings.STABLE_SECONDS:
                self.log("nothing changed for %ds; still failing: %s" % (settings.STABLE_SECONDS, failing))
                return
            self.log("quiescing; not yet: %s" % failing)
            for line in results.get("queues.drained", []):
                if line.startswith("  "):
                    self.log("   " + line.strip())
            time.sleep(settings.QUIESCE_POLL_SECONDS)

    # --- teardown ---

    def cleanup(self):
        servers.CLOSING.set()
        for part in ("supervisor", "injector", "job_runs"):
            if hasattr(self, part):
                getattr(self, part).stop.set()
        if hasattr(self, "workload"):
            self.workload.stop_new.set()
            self.workload.hard_deadline = time.monotonic()
        for instance in self.instances:
            instance.stop()
        if self.provider:
            self.provider.stop()
        if self.redis:
            self.redis.stop()
        if self.postgres:
            try:
                self.postgres.destroy()
            except Exception as error:
                print("chaos: could not remove the private PostgreSQL: %s" % error, file=sys.stderr)
        if hasattr(self, "state") and os.path.exists(self.state.path):
            os.remove(self.state.path)
        self.log("cleaned up (logs kept in %s)" % self.run_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shop", default=os.environ.get("SHOP_BIN") or os.path.join(ROOT, ".build", "debug", "shop"),
                        help="the shop binary (default: $SHOP_BIN or .build/debug/shop)")
    parser.add_argument("--seed", default=os.environ.get("CHAOS_SEED") or str(random.SystemRandom().randrange(10**6)))
    parser.add_argument("--seconds", type=int, default=settings.CHAOS_SECONDS)
    parser.add_argument("--quiesce", type=int, default=settings.QUIESCE_SECONDS)
    parser.add_argument("--redis", choices=settings.REDIS_MODES, default=settings.REDIS_MODE,
                        help="one redis-server, a six-node Redis Cluster with primary kills and reshards among "
                             "the faults, or a primary, a replica and three Sentinels with failovers among them "
                             "(default: $CHAOS_REDIS or standalone)")
    parser.add_argument("--plan", action="store_true", help="print the fault schedule for the seed and exit")
    parser.add_argument("--no-faults", action="store_true", help="run the workload without faults (baseline)")
    parser.add_argument("--self-test", action="store_true",
                        help="after the run, corrupt the private database/Redis and show every check failing")
    args = parser.parse_args()
    settings.configure(args.seconds, args.redis)
    if args.plan:
        for fault in faults.plan(args.seed, args.seconds, settings.INSTANCES):
            print(json.dumps(fault))
        return 0
    if not os.access(args.shop, os.X_OK):
        print("chaos: %s is not an executable shop binary (build it, or set SHOP_BIN)" % args.shop, file=sys.stderr)
        return 2
    print("chaos: CHAOS_SEED=%s CHAOS_SECONDS=%d CHAOS_REDIS=%s shop=%s"
          % (args.seed, args.seconds, args.redis, args.shop), flush=True)

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    # Installed explicitly: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    harness = Harness(args)
    try:
        return harness.run()
    except KeyboardInterrupt:
        harness.log("interrupted")
        return 130
    except SystemExit as stop:
        harness.log("stopped by a signal")
        return stop.code
    except Exception as error:
        import traceback
        traceback.print_exc()
        harness.log("harness failed: %s" % error)
        return 2
    finally:
        # A second Ctrl-C must not skip the cleanup.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        harness.cleanup()


if __name__ == "__main__":
    sys.exit(main())
