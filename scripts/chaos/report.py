"""The run's report: faults, workload outcomes, HTTP statuses, scheduler runs, invariants; then BENCH lines."""

from collections import Counter, defaultdict

import invariants
import settings

DETAIL_LINES = 12


def _table(rows, header):
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, header))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in rows:
        out.append("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)))
    return "\n".join(out)


def _in_windows(t, windows, grace):
    return any(start <= t <= end + grace for start, end, _ in windows)


def _gaps(runs, info):
    """Per job: ticks run of ticks due during the workload, the longest stretch without a run, and its start."""
    start, end = info.get("t0_wall"), info.get("t0_wall", 0) + info.get("faults_ended", 0)
    if not start:
        return {}
    out = {}
    for job, schedule in settings.JOB_SCHEDULES.items():
        ticks = sorted({r["tick"] / 1000 for r in runs if r["job"] == job and not r.get("manual")
                        and start <= r["tick"] / 1000 <= end})
        points = [start] + ticks + [end]
        gap, at = max((b - a, a) for a, b in zip(points, points[1:]))
        out[job] = ("%d/%d" % (len(ticks), int((end - start) // schedule)), "%.0fs" % gap, "%.0fs" % (at - start))
    return out


def _per_instance(seconds):
    return ", ".join("%s %.2fs" % (name, value) for name, value in sorted(seconds.items())) or "none"


def _sentinel(out, info, injector, recorder):
    """The Sentinel failovers (per failover: how, times, what the clients saw in its window) into `out`; returns
    their BENCH figures."""
    failovers = injector.sentinel_failovers
    state = info.get("sentinel") or {}
    planned = sum(w["kind"] == "sentinel-failover" for w in failovers)
    epochs = [max(state.get(key, {}).values(), default=None) for key in ("epochs_start", "epochs_end")]
    extra = epochs[1] - epochs[0] - len(failovers) if None not in epochs else None
    out.append("   redis sentinel: %d failovers (%d SENTINEL FAILOVER, %d kill -9 of the primary); config epoch "
               "%s -> %s (failovers beyond the planned ones: %s); primary at the end 127.0.0.1:%s; roles %s; "
               "bound: a failure may end at most %.0fs after a quorum named the new primary"
               % (len(failovers), planned, len(failovers) - planned, epochs[0], epochs[1],
                  max(0, extra) if extra is not None else "?", state.get("primary"),
                  ", ".join("%d %s" % (port, role) for port, role in sorted(state.get("roles", {}).items())),
                  settings.SENTINEL_BOUND))
    figures = []
    totals = Counter()
    promotions, last_failures, writes = [], [], []
    for w in failovers:
        traffic = invariants.failover_traffic(recorder, w)
        outcomes = Counter(span[4] for span in traffic["during"])
        announced = w.get("announced")
        promotion = announced - w["start"] if announced is not None else None
        last = max((span[1] - announced for span in traffic["failed"]), default=None) if announced is not None \
            else None
        # The clients wait rather than fail while the client library retries on the primary the Sentinels name.
        slowest = max((span[1] - span[0] for span in traffic["during"] if span[2] == "orders.create"), default=0.0)
        out.append("   failover %d %s t=%.1f..%.1fs 127.0.0.1:%d -> 127.0.0.1:%d%s: new primary named by a quorum %s "
                   "after the %s (first Sentinel %s), old primary a replica %s after it%s"
                   % (w["number"], w["kind"], w["start"], w["end"], w["old"], w["new"],
                      " (via Sentinel :%d)" % w["sentinel"] if "sentinel" in w else "",
                      "%.2fs" % promotion if promotion is not None else "never",
                      "command" if w["kind"] == "sentinel-failover" else "kill",
                      "%.2fs" % (w["first"] - w["start"]) if "first" in w else "-",
                      "%.1fs" % (w["demoted"] - w["start"]) if "demoted" in w else "never",
                      " (restarted %.1fs after the quorum)" % w["down"] if "down" in w else ""))
        out.append("      requests in the window %d, failed %d (beyond the bound or not a 503: %d; the last failure "
                   "ended %s after the quorum); provider 503s %d, 401 %d; slowest order answer %.2fs; first order "
                   "placed after the quorum: %s; after the demotion: %s; the harness's sign-in after the demotion: "
                   "%s; answers %s%s"
                   % (len(traffic["during"]), len(traffic["failed"]), len(traffic["late"]),
                      "%.2fs" % last if last is not None else "-", len(traffic["provider"]), traffic["unauthorized"],
                      slowest,
                      _per_instance(traffic["followed"]), _per_instance(traffic["written"]),
                      ", ".join("%s %s" % (name, "%.2fs" % value if value is not None else "FAILED")
                                for name, value in sorted(w.get("probe", {}).items())) or "none",
                      ", ".join("%s %d" % (k, n) for k, n in sorted(outcomes.items(), key=lambda i: str(i[0]))),
                      "; FAILED: " + w["error"] if w.get("error") else ""))
        for begun, ended, label, instance, outcome, text in sorted(traffic["failed"], key=lambda span: span[1])[:6]:
            out.append("      failed: %s on %s sent t=%.2fs, %s at t=%.2fs (%s the quorum)%s"
                       % (label, instance, begun, outcome, ended,
                          "%+.2fs after" % (ended - announced) if announced is not None else "no",
                          ": " + text[:140] if text else ""))
        totals["requests"] += len(traffic["during"])
        totals["failed"] += len(traffic["failed"])
        totals["late"] += len(traffic["late"])
        prefix = "chaos.sentinel.failover%d." % w["number"]
        if promotion is not None:
            promotions.append(promotion)
            figures.append((prefix + "promotion_ms", int(promotion * 1000), "ms"))
        figures.append((prefix + "failed", len(traffic["failed"]), "count"))
        figures.append((prefix + "slowest_order_ms", int(slowest * 1000), "ms"))
        if last is not None:
            last_failures.append(last)
        probes = [value for value in w.get("probe", {}).values() if value is not None]
        if probes:
            writes.append(max(probes))
    summary = [
        ("chaos.sentinel.failovers", len(failovers), "count"),
        ("chaos.sentinel.planned_failovers", planned, "count"),
        ("chaos.sentinel.primary_kills", len(failovers) - planned, "count"),
        ("chaos.sentinel.promotion_max_ms", int(max(promotions, default=0) * 1000), "ms"),
        ("chaos.sentinel.failover_requests", totals["requests"], "count"),
        ("chaos.sentinel.failover_failed", totals["failed"], "count"),
        ("chaos.sentinel.failover_failed_beyond_bound", totals["late"], "count"),
        ("chaos.sentinel.last_failure_after_quorum_ms", int(max(last_failures, default=0) * 1000), "ms"),
        # From the old primary's demotion (it refuses writes from then on) to the harness's sign-in (a session
        # write) succeeding on an instance, the slowest instance of the slowest failover.
        ("chaos.sentinel.write_after_demotion_max_ms", int(max(writes, default=0) * 1000), "ms"),
    ]
    return summary + figures


def render(info, results, ctx):
    """The report as text, and the headline figures (name -> (value, unit))."""
    out = []
    injector, workload, recorder = ctx.injector, ctx.workload, ctx.recorder
    out.append("")
    out.append("== chaos run: CHAOS_SEED=%s CHAOS_SECONDS=%s (faults stopped at t=%.0fs, quiesced in %.0fs, total %.0fs)"
               % (info["seed"], info["seconds"], info["faults_ended"], info["quiesce"], info["total"]))
    cluster = info.get("redis") == "cluster"
    sentinel = info.get("redis") == "sentinel"
    out.append("   reproduce: make chaos CHAOS_SEED=%s CHAOS_SECONDS=%s%s   (run folder %s)"
               % (info["seed"], info["seconds"],
                  " CHAOS_REDIS=%s" % info["redis"] if cluster or sentinel else "", info["run_dir"]))
    out.append("")
    out.append("-- faults injected")
    kinds = Counter(f["kind"] for f in injector.done)
    out.append(_table([[k, n] for k, n in sorted(kinds.items())], ["kind", "count"]))
    for fault in injector.done:
        out.append("   t=%6.1fs..%6.1fs  %-15s %s" % (fault["start"], fault["end"], fault["kind"], fault["detail"]))
    if cluster and info.get("cluster"):
        state = info["cluster"]
        kills = kinds.get("kill-primary", 0)
        epochs = (state["epoch_end"] - state["epoch_start"]) if None not in (state["epoch_start"],
                                                                            state["epoch_end"]) else None
        out.append("   redis cluster (cluster-node-timeout %d ms): %d primaries killed, promotion %s; current "
                   "epoch %s -> %s (failovers beyond the planned kills, e.g. of a primary starved of CPU: %s); "
                   "roles at the end: %s"
                   % (state["node_timeout_ms"], kills,
                      "%.1f-%.1fs after the kill" % (min(injector.failovers), max(injector.failovers))
                      if injector.failovers else "-",
                      state["epoch_start"], state["epoch_end"],
                      max(0, epochs - kills) if epochs is not None else "?",
                      ", ".join("%d %s" % (port, role) for port, role in sorted(state["roles"].items()))))
    reshard_requests = reshard_failed = 0
    for window in getattr(injector, "reshards", []):
        during, failed = invariants.reshard_traffic(recorder, window)
        reshard_requests += len(during)
        reshard_failed += len(failed)
        outcomes = Counter(span[4] for span in during)
        out.append("   reshard %d t=%.1f..%.1fs (%.1fs): %d slots (%d-%d, %d keys at the start) 127.0.0.1:%d -> "
                   "127.0.0.1:%d; redirections answered by the nodes: ASK %d, MOVED %d, TRYAGAIN %d; requests in "
                   "the window %d, failed %d (answers %s)"
                   % (window["number"], window["start"], window["end"], window["end"] - window["start"],
                      window["slots"], window["first"], window["last"], window["keys"], window["from"],
                      window["to"], window["redirections"].get("ASK", 0), window["redirections"].get("MOVED", 0),
                      window["redirections"].get("TRYAGAIN", 0), len(during), len(failed),
                      ", ".join("%s %d" % (k, n) for k, n in sorted(outcomes.items(), key=lambda i: str(i[0])))))
    failover_figures = _sentinel(out, info, injector, recorder) if sentinel else []
    out.append("")
    orders, pays = workload.summary()
    out.append("-- workload (%d users, %d clients)" % (len(workload.users), len(workload.threads)))
    rows = [["orders accepted (201)", orders.get("accepted", 0)],
            ["orders refused (409 OUT_OF_STOCK)", orders.get("refused", 0)],
            ["orders unknown at the end", orders.get("unknown", 0)],
            ["  ... resolved: placed once", ctx.resolved.get("unknown_placed", "-")],
            ["  ... resolved: not placed", ctx.resolved.get("unknown_absent", "-")],
            ["orders with an unexpected answer", orders.get("rejected", 0)],
            ["payments accepted (202)", pays.get("accepted", 0)],
            ["payments already paid (409)", pays.get("already-paid", 0)],
            ["payments unknown at the end", pays.get("unknown", 0)],
            ["payments with an unexpected answer", pays.get("rejected", 0)]]
    lost = [r for r in workload.orders if any(a in ("connection-error", "timeout") for a in r.answers)]
    rows.append(["orders retried after a lost answer", "%d (then %d accepted, %d refused, %d unknown)" % (
        len(lost), sum(r.outcome == "accepted" for r in lost), sum(r.outcome == "refused" for r in lost),
        sum(r.outcome == "unknown" for r in lost))])
    out.append(_table(rows, ["outcome", "count"]))
    paid = info.get("paid_orders")
    if paid is not None:
        out.append("   in PostgreSQL: %s orders, %s paid, %s payments failed by the provider"
                   % (info.get("pg_orders"), paid, info.get("failed_payments")))
    out.append("")
    out.append("-- HTTP answers seen by the clients (%d requests)" % recorder.requests)
    by_label = defaultdict(Counter)
    for (label, status), count in recorder.statuses.items():
        by_label[label][status] += count
    statuses = sorted({s for c in by_label.values() for s in c}, key=str)
    rows = [[label] + [by_label[label].get(s, "") for s in statuses] for label in sorted(by_label)]
    out.append(_table(rows, ["route"] + [str(s) for s in statuses]))
    windows = injector.windows()
    outside = [u for u in recorder.unavailable if not _in_windows(u[0], windows, 10.0)]
    max_503 = max((u[2] for u in recorder.unavailable), default=0.0)
    out.append("   503 answers: %d (max latency %.2fs); %d outside a dependency outage (+10 s); slowest answer %.2fs"
               % (len(recorder.unavailable), max_503, len(outside), recorder.max_seconds))
    if outside:
        sample = Counter("%s on %s" % (u[1], u[3]) for u in outside).most_common(5)
        out.append("   503 outside outages: " + ", ".join("%dx %s" % (n, k) for k, n in sample))
    out.append("")
    runs = ctx.job_runs.snapshot()
    out.append("-- scheduler runs seen in Redis during the run (%d polls, %d failed)"
               % (ctx.job_runs.polls, ctx.job_runs.failed_polls))
    by_job = defaultdict(Counter)
    for run in runs:
        by_job[run["job"]][run.get("outcome") or "unfinished"] += 1
    outcomes = sorted({o for c in by_job.values() for o in c})
    gaps = _gaps(runs, info)
    out.append(_table([[job] + [by_job[job].get(o, "") for o in outcomes] + list(gaps.get(job, ("", "", "")))
                       for job in sorted(by_job)],
                      ["job"] + outcomes + ["ticks run/due", "longest gap", "gap from t="]))
    out.append("   (ticks due: run length / schedule; a gap is time without a run of the job: liveness, not an invariant)")
    if info.get("provider"):
        stats = info["provider"]
        out.append("")
        out.append("-- provider: %s payment requests, %s webhook deliveries, %s accepted, %s webhooks given up "
                   "after 10 minutes of retries" % (stats.get("paymentRequests"), stats.get("webhooksSent"),
                                         stats.get("webhooksAccepted"), stats.get("givenUp")))
    out.append("")
    out.append("-- invariants")
    total = 0
    rows = []
    for check in invariants.CHECKS:
        found = results.get(check.name, [])
        count = len([v for v in found if not v.startswith("  ")])
        total += count
        rows.append([check.name, "ok" if not found else "VIOLATED (%d)" % count, check.title])
    out.append(_table(rows, ["check", "result", "what"]))
    for check in invariants.CHECKS:
        for note in ctx.notes.get(check.name, []):
            out.append("   note (%s, not a violation): %s" % (check.name, note))
    for check in invariants.CHECKS:
        found = results.get(check.name, [])
        if not found:
            continue
        out.append("")
        out.append("   %s:" % check.name)
        for line in found[:DETAIL_LINES]:
            out.append("     - " + line.replace("\n", "\n       "))
        if len(found) > DETAIL_LINES:
            out.append("     ... and %d more" % (len(found) - DETAIL_LINES))
    if injector.errors or info.get("harness_errors"):
        out.append("")
        out.append("-- HARNESS ERRORS (the run did not do what it planned)")
        for error in injector.errors + info.get("harness_errors", []):
            out.append("   " + error)
    figures = [
        ("chaos.orders", orders.get("accepted", 0), "count"),
        ("chaos.orders_refused", orders.get("refused", 0), "count"),
        ("chaos.orders_unknown", orders.get("unknown", 0), "count"),
        ("chaos.payments", pays.get("accepted", 0), "count"),
        ("chaos.faults", len(injector.done), "count"),
        ("chaos.requests", recorder.requests, "count"),
        ("chaos.503_max_ms", int(max_503 * 1000), "ms"),
        ("chaos.quiesce_s", int(info["quiesce"]), "s"),
        ("chaos.violations", total, "count"),
    ]
    if cluster:
        # Figures of a cluster run are named apart from the standalone run's (chaos.cluster.*).
        figures = [(name.replace("chaos.", "chaos.cluster.", 1), value, unit) for name, value, unit in figures]
        figures.insert(-1, ("chaos.cluster.primary_kills", kinds.get("kill-primary", 0), "count"))
        figures.insert(-1, ("chaos.cluster.promotion_max_ms", int(max(injector.failovers, default=0) * 1000), "ms"))
        reshards = getattr(injector, "reshards", [])
        figures.insert(-1, ("chaos.cluster.reshards", len(reshards), "count"))
        figures.insert(-1, ("chaos.cluster.reshard_slots", sum(w["slots"] for w in reshards), "count"))
        figures.insert(-1, ("chaos.cluster.reshard_keys", sum(w["keys"] for w in reshards), "count"))
        figures.insert(-1, ("chaos.cluster.reshard_ask", sum(w["redirections"].get("ASK", 0) for w in reshards),
                            "count"))
        figures.insert(-1, ("chaos.cluster.reshard_requests", reshard_requests, "count"))
        figures.insert(-1, ("chaos.cluster.reshard_failed", reshard_failed, "count"))
    if sentinel:
        figures = [(name.replace("chaos.", "chaos.sentinel.", 1), value, unit) for name, value, unit in figures]
        figures[-1:-1] = failover_figures
    out.append("")
    for name, value, unit in figures:
        out.append("BENCH %s %s %s" % (name, value, unit))
    return "\n".join(out), total
