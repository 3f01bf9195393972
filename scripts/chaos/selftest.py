"""`--self-test`: after a run has quiesced, corrupt the private PostgreSQL / Redis (or feed the observers a
fault) one way at a time, and show that the check meant to notice it does. A check that cannot fail is a defect.

Each case: apply, run the checks, compare with the baseline (the violations already present before the
corruption), revert. A case passes when its check reports something new.
"""

import http.server
import json
import threading
import time
import uuid

import api
import faults
import invariants
import servers
import settings


class Case:
    def __init__(self, name, check, apply, revert):
        self.name = name
        self.check = check
        self.apply = apply
        self.revert = revert


def _one(ctx, sql):
    rows = ctx.pg.rows(sql)
    if not rows:
        raise LookupError("nothing to corrupt: %s" % " ".join(sql.split())[:120])
    return rows[0]


def _redis(ctx, *args):
    client = ctx.redis.client()
    try:
        return client.call(*args)
    finally:
        client.close()


def cases(ctx):
    state = {}
    out = []

    # Stock: one unit vanishes.
    def stock_apply():
        state["product"] = ctx.workload.products["ample"][0]
        ctx.pg.psql("UPDATE products SET stock = stock - 1 WHERE id = '%s'" % state["product"])

    def stock_revert():
        ctx.pg.psql("UPDATE products SET stock = stock + 1 WHERE id = '%s'" % state["product"])

    out.append(Case("a product's stock changed by one", "stock.postgres", stock_apply, stock_revert))

    # The catalog's cached entry disagrees with PostgreSQL (the stock is changed behind the cache's back, and
    # the cache-rebuild job is kept from refreshing it by answering from a changed copy of the entry).
    rebuild_lock = "%slock:{job:catalog-cache-rebuild}" % settings.JOBS_KEY_PREFIX

    def cache_apply():
        # Hold the cache-rebuild job's lock, so no instance refreshes the entry while the check looks at it.
        if not servers.wait_for(lambda: _redis(ctx, "SET", rebuild_lock, "self-test", "PX", 120000, "NX") == "OK",
                                10, 0.05):
            raise LookupError("the cache-rebuild job's lock never became free")
        time.sleep(1.5)
        pid = ctx.workload.products["ample"][1]
        keys = [k for k in (_redis(ctx, "KEYS", "%s*%s*" % (settings.CACHE_KEY_PREFIX, pid)) or [])
                if _redis(ctx, "TYPE", k) == "string"]
        state["cache"] = []
        for key in keys:
            value = _redis(ctx, "GET", key)
            ttl = _redis(ctx, "PTTL", key)
            if value and '"stock"' in value:
                changed = value.replace('"stock":', '"stock":1', 1)
                state["cache"].append((key, value, ttl))
                _redis(ctx, "SET", key, changed, "PX", max(ttl, 60000))
        if not state["cache"]:
            raise LookupError("no cached entry of product %s in Redis (keys %s)" % (pid, keys))

    def cache_revert():
        for key, _, _ in state.get("cache", []):
            _redis(ctx, "DEL", key)
        if _redis(ctx, "GET", rebuild_lock) == "self-test":
            _redis(ctx, "DEL", rebuild_lock)

    out.append(Case("a cached product entry in Redis shows other stock", "stock.api", cache_apply, cache_revert))

    # An order nobody asked for (sold twice / phantom order with its own key).
    def phantom_apply():
        user = _one(ctx, "SELECT id::text AS id FROM users WHERE email LIKE 'chaos-%' ORDER BY email LIMIT 1")
        order = str(uuid.uuid4())
        state["phantom"] = order
        pid = ctx.workload.products["ample"][2]
        ctx.pg.psql(
            "BEGIN; INSERT INTO orders (id, user_id, status, total, currency) VALUES ('%s', '%s', 'confirmed', 1.00, "
            "'USD'); INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES ('%s', '%s', 1, 1.00);"
            " INSERT INTO idempotency_records (user_id, key, request_hash, order_id, response_status, response_body) "
            "VALUES ('%s', 'self-test-%s', 'x', '%s', 201, '{}'); COMMIT;"
            % (order, user["id"], order, pid, user["id"], order[:8], order))

    def phantom_revert():
        ctx.pg.psql("DELETE FROM orders WHERE id = '%s'" % state["phantom"])

    out.append(Case("an order no client placed (sold twice)", "orders.client-view", phantom_apply, phantom_revert))

    # An order's post-processing marker disappears.
    def processed_apply():
        row = _one(ctx, "SELECT id::text AS id, processed_at::text AS at FROM orders "
                        "WHERE processed_at IS NOT NULL LIMIT 1")
        state["processed"] = row
        ctx.pg.psql("UPDATE orders SET processed_at = NULL WHERE id = '%s'" % row["id"])

    def processed_revert():
        row = state["processed"]
        ctx.pg.psql("UPDATE orders SET processed_at = '%s' WHERE id = '%s'" % (row["at"], row["id"]))

    out.append(Case("an order's processed_at cleared", "orders.confirmed-once", processed_apply, processed_revert))

    # An order left `placed`.
    def placed_apply():
        row = _one(ctx, "SELECT id::text AS id FROM orders WHERE status = 'confirmed' LIMIT 1")
        state["placed"] = row["id"]
        ctx.pg.psql("UPDATE orders SET status = 'placed' WHERE id = '%s'" % row["id"])

    def placed_revert():
        ctx.pg.psql("UPDATE orders SET status = 'confirmed' WHERE id = '%s'" % state["placed"])

    out.append(Case("an order left placed", "orders.confirmed-once", placed_apply, placed_revert))

    # Points off in PostgreSQL.
    def points_apply():
        row = _one(ctx, "SELECT id::text AS id FROM users WHERE email LIKE 'chaos-%' AND points > 0 LIMIT 1")
        state["points"] = row["id"]
        ctx.pg.psql("UPDATE users SET points = points + 7 WHERE id = '%s'" % row["id"])

    def points_revert():
        ctx.pg.psql("UPDATE users SET points = points - 7 WHERE id = '%s'" % state["points"])

    out.append(Case("a user's points changed in PostgreSQL", "points.postgres", points_apply, points_revert))

    # The /me copy in Redis wrong.
    def copy_apply():
        user = next(u for u in ctx.workload.users if u.id)
        key = "%spoints:{%s}" % (settings.CACHE_KEY_PREFIX, user.id.lower())
        state["copy"] = key
        # The copy is `<version>:<points>` (PointsReader); a value without the version is ignored by the shop.
        row = _one(ctx, "SELECT points, points_version AS version FROM users WHERE id = '%s'" % user.id)
        _redis(ctx, "SET", key, "%d:%d" % (row["version"], row["points"] + 5), "PX", 600000)

    def copy_revert():
        _redis(ctx, "DEL", state["copy"])

    out.append(Case("a user's points copy in Redis wrong", "points.me", copy_apply, copy_revert))

    # A paid order's payment put back to processing (stuck, and the order paid without a succeeded payment).
    def payment_apply():
        row = _one(ctx, "SELECT id::text AS id FROM payments WHERE status = 'succeeded' LIMIT 1")
        state["payment"] = row["id"]
        ctx.pg.psql("UPDATE payments SET status = 'processing' WHERE id = '%s'" % row["id"])

    def payment_revert():
        ctx.pg.psql("UPDATE payments SET status = 'succeeded' WHERE id = '%s'" % state["payment"])

    out.append(Case("a succeeded payment set back to processing", "payments", payment_apply, payment_revert))

    # A paid order set back to confirmed.
    def paid_apply():
        row = _one(ctx, "SELECT id::text AS id FROM orders WHERE status = 'paid' LIMIT 1")
        state["paid"] = row["id"]
        ctx.pg.psql("UPDATE orders SET status = 'confirmed' WHERE id = '%s'" % row["id"])

    def paid_revert():
        ctx.pg.psql("UPDATE orders SET status = 'paid' WHERE id = '%s'" % state["paid"])

    out.append(Case("a paid order set back to confirmed", "payments", paid_apply, paid_revert))

    # A message waiting for a retry that never comes due.
    delayed = "%s{orders}:delayed:%s" % (settings.QUEUE_KEY_PREFIX, invariants.CONSUMER)

    def delayed_apply():
        _redis(ctx, "ZADD", delayed, str(int(time.time() * 1000) + 3_600_000), "chaos-self-test")

    def delayed_revert():
        _redis(ctx, "ZREM", delayed, "chaos-self-test")

    out.append(Case("a retry waiting in the queue's delayed set", "queues.drained", delayed_apply, delayed_revert))

    # A dead letter.
    dead = "%s{orders}:dead" % settings.QUEUE_KEY_PREFIX

    def dead_apply():
        state["dead"] = _redis(ctx, "XADD", dead, "*", "dl:failed_at", str(int(time.time() * 1000)),
                               "dl:group", invariants.CONSUMER, "dl:reason", "handler-failed",
                               "dl:error", "self-test", "dl:entry", "0-1", "dl:attempts", "5", "dl:deliveries", "5",
                               "id", "self-test", "type", "order.placed", "payload", "{}")

    def dead_revert():
        _redis(ctx, "XDEL", dead, state["dead"])

    out.append(Case("a dead letter in the orders topic", "queues.dead-letters", dead_apply, dead_revert))

    # A tick run twice: a second run of a recorded tick appears in the scheduler's history.
    history = "%s{cleanup}:history" % settings.JOBS_KEY_PREFIX

    def tick_apply():
        runs = [r for r in ctx.job_runs.snapshot() if r["job"] == "cleanup" and not r.get("manual")]
        if not runs:
            raise LookupError("no cleanup run was seen")
        # Started an hour before the run: never inside a planned failover (where `scheduler.ticks` only notes it).
        twin = dict(runs[0], runID=str(uuid.uuid4()), instance="self-test",
                    startedAt=int((ctx.t0_wall - 3600) * 1000))
        state["twin"] = twin
        _redis(ctx, "LPUSH", history, json.dumps(twin))
        ctx.job_runs.poll()

    def tick_revert():
        _redis(ctx, "LREM", history, 0, json.dumps(state["twin"]))
        with ctx.job_runs.lock:
            ctx.job_runs.runs.pop(state["twin"]["runID"], None)

    out.append(Case("a scheduler tick recorded twice", "scheduler.ticks", tick_apply, tick_revert))

    # The edge: a 500 and a 503 without Retry-After from a stand-in server, through the clients' own code.
    def edge_apply():
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(500 if self.path == "/500" else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        state["edge"] = (server, len(ctx.recorder.bad))
        for path in ("/500", "/503"):
            api.request(server.server_address[1], "GET", path, "self-test", ctx.recorder, instance="stand-in")
        server.shutdown()

    def edge_revert():
        _, count = state["edge"]
        del ctx.recorder.bad[count:]

    out.append(Case("a 500 and a 503 without Retry-After", "http.edge", edge_apply, edge_revert))

    # A request fails during a live reshard (cluster mode, when the run had one): a 500 and a refused connection
    # recorded inside the first reshard's window.
    if ctx.injector.reshards:
        def reshard_apply():
            window = ctx.injector.reshards[0]
            at = (window["start"] + window["end"]) / 2
            state["reshard"] = [(at, at + 0.01, "self-test", "stand-in", 500, "self-test failure"),
                                (at, at + 0.01, "self-test", "stand-in", "refused", "")]
            ctx.recorder.spans.extend(state["reshard"])

        def reshard_revert():
            for span in state["reshard"]:
                ctx.recorder.spans.remove(span)

        out.append(Case("a 500 and a refused connection during a reshard", "cluster.reshard", reshard_apply,
                        reshard_revert))

    # Requests fail in a Sentinel failover's window (sentinel mode, when the run had one that got a new primary): a
    # 503 that ends 1 s past the bound, and a cut connection within it (only 503s may fail, and only until then).
    named = [w for w in ctx.injector.sentinel_failovers if w.get("announced") is not None]
    if named:
        window = named[0]
        late = window["announced"] + settings.SENTINEL_BOUND + 1.0
        spans = {"late": (late - 0.5, late, "self-test", "stand-in", 503, "self-test failure"),
                 "cut": (window["announced"] + 0.1, window["announced"] + 0.2, "self-test", "stand-in",
                         "connection-error", "")}

        def failover_case(which):
            def apply():
                ctx.recorder.spans.append(spans[which])

            def revert():
                ctx.recorder.spans.remove(spans[which])
            return apply, revert

        out.append(Case("a 503 ending past a failover's bound", "sentinel.failover", *failover_case("late")))
        out.append(Case("a cut connection within a failover's bound", "sentinel.failover", *failover_case("cut")))

    # An instance that did not take the harness's sign-in after a failover's demotion (it did not follow).
    probed = [w for w in ctx.injector.sentinel_failovers if w.get("probe")]
    if probed:
        def probe_apply():
            window = probed[0]
            name = sorted(window["probe"])[0]
            state["probe"] = (window, name, window["probe"][name])
            window["probe"][name] = None

        def probe_revert():
            window, name, value = state["probe"]
            window["probe"][name] = value

        out.append(Case("an instance refusing writes after a failover", "sentinel.failover", probe_apply,
                        probe_revert))

    # An instance dies without the plan killing it.
    def crash_apply():
        supervisor = faults.Supervisor(ctx.instances, ctx.injector, ctx.injector.clock, lambda m: None)
        state["supervisor"] = supervisor
        supervisor.start()
        ctx.instances[0].kill9()
        servers.wait_for(lambda: supervisor.crashes, 10)
        supervisor.stop.set()
        supervisor.thread.join()
        ctx.supervisor.crashes.extend(supervisor.crashes)

    def crash_revert():
        for crash in state["supervisor"].crashes:
            ctx.supervisor.crashes.remove(crash)
        servers.wait_for(ctx.instances[0].ready, 60, 0.2)

    out.append(Case("an instance exits by itself", "instances", crash_apply, crash_revert))
    return out


def run(ctx, log):
    log("self-test: baseline")
    baseline = invariants.run_checks(ctx)
    rows = []
    ok = True
    for case in cases(ctx):
        try:
            case.apply()
        except Exception as error:
            rows.append((case.name, case.check, "NOT APPLIED", str(error)[:100]))
            ok = False
            try:
                case.revert()
            except Exception:
                pass
            continue
        try:
            check = next(c for c in invariants.CHECKS if c.name == case.check)
            found = check.run(ctx)
            new = [v for v in found if v not in baseline.get(case.check, [])
                   and not v.startswith("the check could not run")]
        finally:
            case.revert()
        caught = bool(new)
        ok = ok and caught
        rows.append((case.name, case.check, "caught" if caught else "MISSED", (new[0] if new else "")[:110]))
        log("self-test: %-45s %-22s %s" % (case.name, case.check, "caught" if caught else "MISSED"))
    print("")
    print("-- self-test: each corruption and the check that must notice it")
    width = max(len(r[0]) for r in rows)
    for name, check, result, detail in rows:
        print("  %-*s  %-22s  %-11s %s" % (width, name, check, result, detail.replace("\n", " ")))
    print("")
    print("BENCH chaos.selftest_missed %d count" % sum(1 for r in rows if r[2] != "caught"))
    return ok
