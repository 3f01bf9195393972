"""The fault schedule (drawn from the seed before the run) and the threads that carry it out.

Two tracks run side by side: infrastructure faults one after another (kill -9 of an instance, kill -9 of Redis,
Redis restored from a snapshot taken seconds earlier, PostgreSQL stopped; on a Redis Cluster, kill -9 of a
primary instead of the two Redis faults, and live reshards of a batch of slots; with Sentinel, planned failovers
and kill -9 of the primary), and provider faults (outage, error burst, slow answers). Every fault is logged with
its planned and actual times.
"""

import os
import random
import subprocess
import threading
import time
import uuid

import api
import resp
import servers
import settings

# sentinel: what a planned failover and a kill are planned to take, without the quiet margin before them and the
# time a killed server stays down. Measured: a quorum names the new primary 0.5-1.3 s after SENTINEL FAILOVER and
# the old primary is a replica ~11 s after it; a kill's new primary is named ~2.3 s after it and the restarted
# server is a replica 11-12.5 s after its start; each window then runs SENTINEL_QUIET s longer. The track waits
# for what the faults take, so these only spread the plan (the runs in docs/chaos.md used these values).
SENTINEL_FAILOVER_ESTIMATE = 14.0
SENTINEL_KILL_ESTIMATE = 15.0


def plan(seed, seconds, instances):
    """The fault schedule: [{"at", "kind", params...}] sorted by time. Same seed and length, same schedule."""
    rng = random.Random("%s:faults" % seed)
    faults = []
    end = seconds - settings.COOLDOWN_SECONDS
    t = settings.WARMUP_SECONDS + rng.uniform(0, 3)
    must = list(settings.FAULT_WEIGHTS)
    rng.shuffle(must)
    if "reshard" in must:
        # At least one reshard per run, however short: it is among the first two kinds.
        must.remove("reshard")
        must.insert(rng.randrange(2), "reshard")
    kinds, weights = zip(*settings.FAULT_WEIGHTS.items())
    while True:
        kind = must.pop(0) if must else rng.choices(kinds, weights)[0]
        fault = {"at": round(t, 2), "kind": kind}
        if kind == "kill-instance":
            fault["instance"] = rng.randrange(instances)
            fault["down"] = round(rng.uniform(*settings.INSTANCE_DOWN), 2)
            length = fault["down"]
        elif kind == "kill-redis":
            fault["down"] = round(rng.uniform(*settings.REDIS_DOWN), 2)
            length = fault["down"] + 1.0
        elif kind == "restore-redis":
            fault["age"] = round(rng.uniform(*settings.SNAPSHOT_AGE), 2)
            length = fault["age"] + 2.0
        elif kind == "sentinel-failover":
            fault["sentinel"] = rng.randrange(3)     # which of the three Sentinels gets SENTINEL FAILOVER
            length = settings.SENTINEL_QUIET + SENTINEL_FAILOVER_ESTIMATE
        elif kind == "kill-primary" and settings.REDIS_MODE == "sentinel":
            fault["down"] = round(rng.uniform(*settings.PRIMARY_DOWN), 2)
            length = settings.SENTINEL_QUIET + SENTINEL_KILL_ESTIMATE + fault["down"]
        elif kind == "kill-primary":
            kills = sum(f["kind"] == "kill-primary" for f in faults)
            if kills < len(settings.PRIMARY_TARGET_KEYS):
                fault["key"] = settings.PRIMARY_TARGET_KEYS[kills]
                fault["slot"] = resp.key_slot(fault["key"])
            else:
                fault["slot"] = rng.randrange(16384)
            fault["down"] = round(rng.uniform(*settings.PRIMARY_DOWN), 2)
            # Detection and promotion take one to two node timeouts; the restarted node's full resync a few s.
            length = 2 * settings.CLUSTER_NODE_TIMEOUT_MS / 1000 + fault["down"] + 4.0
        elif kind == "reshard":
            fault["key"] = settings.RESHARD_KEY
            fault["slot"] = resp.key_slot(fault["key"])
            fault["slots"] = rng.randint(*settings.RESHARD_SLOTS)
            fault["to"] = rng.randrange(2)      # which of the two other primaries (by port) receives the slots
            # Quiet before and after: the track (and the provider's) wait for it at run time too.
            length = settings.RESHARD_ESTIMATE + 2 * settings.RESHARD_QUIET
        else:
            fault["down"] = settings.PG_DOWN_SECONDS
            fault["mode"] = rng.choice(["immediate", "fast"])
            length = fault["down"] + 3.0
        if t + length > end:
            # Too long for what is left: try the short kinds once more, then stop.
            if kind != "kill-instance" and "kill-instance" in kinds and t + settings.INSTANCE_DOWN[1] <= end:
                continue
            break
        faults.append(fault)
        t += length + rng.uniform(*settings.GAP)
    # Provider track.
    rng = random.Random("%s:provider" % seed)
    t = 4 + rng.uniform(*settings.PROVIDER_CALM) / 2
    kinds, weights = zip(*settings.PROVIDER_FAULTS.items())
    while True:
        length = round(rng.uniform(*settings.PROVIDER_FAULT), 2)
        if t + length > end:
            break
        kind = rng.choices(kinds, weights)[0]
        fault = {"at": round(t, 2), "kind": kind, "length": length}
        if kind == "provider-errors":
            fault["errorRate"] = round(rng.uniform(0.3, 0.8), 2)
        elif kind == "provider-slow":
            fault["latencyMs"] = rng.choice([1500, 2500, 4000])
        faults.append(fault)
        t += length + rng.uniform(*settings.PROVIDER_CALM)
    return sorted(faults, key=lambda f: f["at"])


class Injector:
    """Carries out a plan against the run's servers; records what happened and when."""

    def __init__(self, plan_, servers, clock, log):
        self.plan = plan_
        self.redis = servers["redis"]
        self.postgres = servers["postgres"]
        self.provider = servers["provider"]
        self.instances = servers["instances"]
        self.clock = clock
        self.log = log
        self.done = []                 # executed faults: dict with kind, start, end, detail
        self.errors = []               # harness-side problems (a restore that did not restore)
        self.down = set()              # instance indexes killed on purpose and not restarted yet
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = []
        self.snapshots = 0
        self.failovers = []            # cluster: seconds from a primary's kill -9 to its replica's promotion
        self.reshards = []             # cluster: one dict per reshard, with its window (start, end of redis-cli)
        self.sentinel_failovers = []   # sentinel: one dict per failover (planned or kill), with its window
        # A reshard runs alone: no other fault is under way, none ended less than RESHARD_QUIET s (a provider
        # fault: RESHARD_PROVIDER_QUIET s) ago when it starts, and none starts until RESHARD_QUIET s after it.
        # Faults due meanwhile wait; so do provider faults while a reshard waits for its quiet.
        self.quiet = threading.Condition()
        self.busy = {"reshard": 0, "infra": 0, "provider": 0}
        self.ended = {"reshard": float("-inf"), "infra": float("-inf"), "provider": float("-inf")}
        self.reshard_waiting = False

    def start(self):
        infra = [f for f in self.plan if not f["kind"].startswith("provider")]
        provider = [f for f in self.plan if f["kind"].startswith("provider")]
        for name, faults in (("faults-infra", infra), ("faults-provider", provider)):
            thread = threading.Thread(target=self._track, args=(faults,), name=name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self):
        """No new faults; waits for the ones under way (a stopped PostgreSQL is started again)."""
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _track(self, faults):
        for fault in faults:
            while not self.stop.is_set() and self.clock() < fault["at"]:
                time.sleep(min(0.2, fault["at"] - self.clock()))
            if not self._enter(fault["kind"]):
                return
            started = self.clock()
            try:
                detail = getattr(self, "_" + fault["kind"].replace("-", "_"))(fault)
            except Exception as error:  # a fault that could not be carried out is a harness problem
                detail = "FAILED: %s" % error
                self.errors.append("%s at %.1fs: %s" % (fault["kind"], started, error))
            finally:
                self._leave(fault["kind"])
            entry = {"kind": fault["kind"], "planned": fault["at"], "start": round(started, 2),
                     "end": round(self.clock(), 2), "detail": detail}
            with self.lock:
                self.done.append(entry)
            self.log("fault %-15s t=%6.1fs..%6.1fs  %s" % (entry["kind"], entry["start"], entry["end"], detail))

    @staticmethod
    def _track_of(kind):
        return "reshard" if kind == "reshard" else "provider" if kind.startswith("provider") else "infra"

    def _may_start(self, track):
        now = self.clock()
        if track == "reshard":
            return (not self.busy["infra"] and not self.busy["provider"]
                    and now - self.ended["infra"] >= settings.RESHARD_QUIET
                    and now - self.ended["provider"] >= settings.RESHARD_PROVIDER_QUIET)
        if track == "provider" and self.reshard_waiting:
            return False
        return not self.busy["reshard"] and now - self.ended["reshard"] >= settings.RESHARD_QUIET

    def _enter(self, kind):
        """Waits until `kind` may start next to a reshard (see `quiet`); False when the run stops meanwhile."""
        track = self._track_of(kind)
        with self.quiet:
            self.reshard_waiting = self.reshard_waiting or track == "reshard"
            try:
                while not self.stop.is_set():
                    if self._may_start(track):
                        self.busy[track] += 1
                        return True
                    self.quiet.wait(0.2)
            finally:
                if track == "reshard":
                    self.reshard_waiting = False
        return False

    def _leave(self, kind):
        track = self._track_of(kind)
        with self.quiet:
            self.busy[track] -= 1
            self.ended[track] = self.clock()
            self.quiet.notify_all()

    # --- infrastructure ---

    def _kill_instance(self, fault):
        instance = self.instances[fault["instance"]]
        with self.lock:
            self.down.add(fault["instance"])
        pid = instance.popen.pid if instance.popen else None
        instance.kill9()
        time.sleep(fault["down"])
        instance.start("after kill -9 at t=%.1fs " % self.clock())
        with self.lock:
            self.down.discard(fault["instance"])
        return "kill -9 %s (pid %s), restarted after %.1fs" % (instance.instance_id, pid, fault["down"])

    def _kill_redis(self, fault):
        self.redis.kill9()
        time.sleep(fault["down"])
        self.redis.restart()
        return "kill -9 redis-server (appendfsync everysec), restarted after %.1fs" % fault["down"]

    def _restore_redis(self, fault):
        self.snapshots += 1
        name = "snapshot-%d" % self.snapshots
        marker = "chaos:snapshot"
        snapshot = self.redis.snapshot(name, marker, name)
        time.sleep(fault["age"])
        # Written after the snapshot: must be gone after the restore.
        client = self.redis.client()
        try:
            client.call("SET", "chaos:after-snapshot", name)
        finally:
            client.close()
        self.redis.restore(snapshot)
        client = self.redis.client()
        try:
            present, after = client.call("GET", marker), client.call("GET", "chaos:after-snapshot")
        finally:
            client.close()
        if present != name or after == name:
            raise RuntimeError("the restore did not bring back the snapshot (marker %r, later key %r)"
                               % (present, after))
        return "snapshot, %.1fs later kill -9 + restore of it (writes of the last %.1fs lost; marker verified)" % (
            fault["age"], fault["age"])

    def _kill_primary(self, fault):
        if settings.REDIS_MODE == "sentinel":
            return self._sentinel_fault(fault)
        cluster = self.redis
        if not servers.wait_for(cluster.healthy, settings.CLUSTER_HEALTHY_WAIT, 0.5):
            raise RuntimeError("the cluster is not healthy (a primary without an online replica) before the kill; "
                               "roles %s" % cluster.roles())
        slot = fault["slot"]
        port = cluster.owner(slot)
        if port is None:
            raise RuntimeError("no node names the owner of slot %d" % slot)
        pid = cluster.kill9(port)
        killed = time.monotonic()
        promoted = cluster.wait_promoted(slot, port, settings.CLUSTER_PROMOTE_WAIT)
        if promoted is None:
            cluster.restart()
            raise RuntimeError("slot %d: no replica of 127.0.0.1:%d was promoted within %ds"
                               % (slot, port, settings.CLUSTER_PROMOTE_WAIT))
        failover = time.monotonic() - killed
        with self.lock:
            self.failovers.append(failover)
        time.sleep(fault["down"])
        cluster.restart()
        role = cluster.role(port)
        if role != "slave":
            raise RuntimeError("127.0.0.1:%d came back as %s, not as a replica" % (port, role))
        owner = "slot %d" % slot + (" of %s" % fault["key"] if fault.get("key") else "")
        return ("kill -9 primary 127.0.0.1:%d (pid %d, owner of %s); 127.0.0.1:%d promoted %.1fs later; "
                "restarted %.1fs after that, rejoined as a replica" % (port, pid, owner, promoted, failover,
                                                                       fault["down"]))

    def _reshard(self, fault):
        """Moves a batch of slots that holds `fault["key"]`'s slot round the three primaries with
        `redis-cli --cluster reshard` while the workload runs: from its owner to another primary, from there to
        the third, and back to the owner (so the layout is as before). Each move is a window of its own."""
        cluster = self.redis
        if not servers.wait_for(cluster.healthy, settings.CLUSTER_HEALTHY_WAIT, 0.5):
            raise RuntimeError("the cluster is not healthy before the reshard; roles %s" % cluster.roles())
        # Everything else is back (an instance restarted by the previous fault is serving): a failure in a
        # window is then the reshard's.
        for instance in self.instances:
            if not servers.wait_for(instance.ready, 60, 0.2):
                raise RuntimeError("%s not ready before the reshard" % instance.instance_id)
        source = cluster.owner(fault["slot"])
        if source is None:
            raise RuntimeError("no node names the owner of slot %d" % fault["slot"])
        others = sorted(port for port in cluster.primaries() if port != source)
        if len(others) != 2:
            raise RuntimeError("expected two other primaries, found %s (roles %s)" % (others, cluster.roles()))
        first = others[fault["to"]]
        route = [(source, first), (first, others[1 - fault["to"]]), (others[1 - fault["to"]], source)]
        details = []
        for origin, target in route:
            try:
                entry = self._move(fault, origin, target)
            except servers.Finding as finding:
                details.append("FAILED: %s" % finding)
                break
            details.append("%d -> %d t=%.1f..%.1fs (%d slots, %d keys; ASK %d, MOVED %d, TRYAGAIN %d)"
                           % (origin, target, entry["start"], entry["end"], entry["slots"], entry["keys"],
                              entry["redirections"].get("ASK", 0), entry["redirections"].get("MOVED", 0),
                              entry["redirections"].get("TRYAGAIN", 0)))
            time.sleep(settings.RESHARD_PAUSE)
        return ("redis-cli --cluster reshard of a batch of slots (slot %d of %s among them) round the primaries: %s"
                % (fault["slot"], fault["key"], "; ".join(details)))

    def _move(self, fault, source, target):
        """One `redis-cli --cluster reshard` of the source's lowest slots, enough to hold the key's; recorded in
        `reshards` with its window (the command's run), the keys in those slots at the start and the ASK,
        MOVED and TRYAGAIN replies the nodes gave meanwhile (INFO errorstats)."""
        cluster = self.redis
        slot = fault["slot"]
        if cluster.owner(slot) != source:
            raise RuntimeError("slot %d is owned by %s, not 127.0.0.1:%d" % (slot, cluster.owner(slot), source))
        owned = cluster.slots_of(source)
        # redis-cli moves the source's lowest slots first: enough of them to include the key's slot.
        count = max(fault["slots"], owned.index(slot) + 1)
        moved = owned[:count]
        keys = cluster.count_keys(source, moved)
        before = cluster.redirections()
        number = len(self.reshards) + 1
        log_path = os.path.join(cluster.run_dir, "reshard-%d.log" % number)
        argv = ["redis-cli", "--cluster", "reshard", "127.0.0.1:%d" % source,
                "--cluster-from", cluster.node_id(source), "--cluster-to", cluster.node_id(target),
                "--cluster-slots", str(count), "--cluster-yes"]
        start = self.clock()
        with open(log_path, "w") as log:
            log.write(" ".join(argv) + "\n")
            log.flush()
            result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=settings.RESHARD_TIMEOUT)
        end = self.clock()
        after = cluster.redirections()
        with open(log_path, errors="replace") as log:
            lines = log.read().splitlines()
        failure = None
        if result.returncode != 0:
            # A move that cannot finish (e.g. MIGRATE's "Target key exists": a key of the slot was written on
            # the importing node while the migrating one still had it) is the system's finding, not the
            # harness's: recorded for `cluster.reshard`, the keys named, then the slot finished with REPLACE
            # (`redis-cli --cluster fix --cluster-replace`: the source's copy wins) so the run goes on.
            moving = [line for line in lines if line.startswith("Moving slot ")]
            stuck = int(moving[-1].split()[2]) if moving else slot
            text = [line.strip("*\x1b[0m31;1 ") for line in lines[-8:] if line.strip()]
            failure = ("redis-cli exited with %d while moving slot %d (%s); keys of that slot on both nodes: %s"
                       % (result.returncode, stuck, " | ".join(text[-4:])[:300],
                          cluster.keys_on_both(stuck, source, target)))
            self.log("reshard %d FAILED: %s" % (number, failure))
            with open(log_path, "a") as log:
                fix = subprocess.run(["redis-cli", "--cluster", "fix", "127.0.0.1:%d" % source, "--cluster-replace",
                                      "--cluster-yes"], stdout=log, stderr=subprocess.STDOUT,
                                     timeout=settings.RESHARD_TIMEOUT)
            if fix.returncode != 0:
                raise RuntimeError("reshard %d failed (%s) and redis-cli --cluster fix could not repair it; see %s"
                                   % (number, failure, log_path))
        owner = cluster.owner(slot)
        if failure is None and owner != target:
            raise RuntimeError("after the reshard slot %d is owned by %s, not 127.0.0.1:%d" % (slot, owner, target))
        entry = {"error": failure, "number": number, "start": round(start, 2), "end": round(end, 2),
                 "from": source, "to": target, "slots": count, "moved": sum(line.startswith("Moving slot ") for line in lines),
                 "first": moved[0], "last": moved[-1], "slot": slot, "key": fault["key"], "keys": keys,
                 "redirections": {kind: after.get(kind, 0) - before.get(kind, 0) for kind in after}}
        with self.lock:
            self.reshards.append(entry)
        if failure is not None:
            raise servers.Finding("reshard %d: %s" % (number, failure))
        self.log("reshard %d: %d slots (%d-%d, %d keys) 127.0.0.1:%d -> 127.0.0.1:%d in t=%.1f..%.1fs; ASK %d, "
                 "MOVED %d, TRYAGAIN %d" % (number, count, moved[0], moved[-1], keys, source, target, start, end,
                                            entry["redirections"].get("ASK", 0),
                                            entry["redirections"].get("MOVED", 0),
                                            entry["redirections"].get("TRYAGAIN", 0)))
        return entry

    # --- Sentinel ---

    def _sentinel_failover(self, fault):
        return self._sentinel_fault(fault)

    def _sentinel_fault(self, fault):
        """A failover under load: `SENTINEL FAILOVER shop` sent to one Sentinel, or kill -9 of the primary a quorum
        names (started again `down` s after a new primary is named; the Sentinels must turn it into a replica).
        Recorded in `sentinel_failovers` with its window [start, end]: from the command (the kill) until the Sentinels
        agree again and SENTINEL_QUIET s past both the bound (SENTINEL_BOUND s after a quorum named the new primary)
        and the old primary's demotion. Nothing else of the infrastructure track runs in it; provider faults may.
        Once the old primary is a replica, every instance must take a write: the harness's own sign-in (`probe`)."""
        setup = self.redis
        if not servers.wait_for(setup.healthy, settings.SENTINEL_HEALTHY_WAIT, 0.5):
            raise RuntimeError("the Sentinels do not agree on a primary with an online replica before the fault; "
                               "roles %s, named %s" % (setup.roles(), setup.named()))
        # Every instance serves (a failure in the window is then the failover's), the previous infrastructure fault
        # ended SENTINEL_QUIET s ago, and the previous failover began long enough ago for the Sentinels to start
        # another one.
        for instance in self.instances:
            if not servers.wait_for(instance.ready, 60, 0.2):
                raise RuntimeError("%s not ready before the failover" % instance.instance_id)
        last = max((entry["start"] for entry in self.sentinel_failovers), default=float("-inf"))
        while (self.clock() - self.ended["infra"] < settings.SENTINEL_QUIET
               or self.clock() - last < settings.SENTINEL_SPACING) and not self.stop.is_set():
            time.sleep(0.1)
        if self.stop.is_set():
            return "not started: the run's fault time ended while it waited for its quiet margin"
        old = setup.primary()
        new = next(port for port in setup.ports if port != old)
        planned = fault["kind"] == "sentinel-failover"
        entry = {"number": len(self.sentinel_failovers) + 1, "kind": fault["kind"], "old": old, "new": new,
                 "error": None, "epochs": setup.epochs()}
        if planned:
            sentinel = setup.sentinels[fault["sentinel"]]
            entry["sentinel"] = sentinel
            deadline = time.monotonic() + 20
            while True:
                entry["start"] = round(self.clock(), 2)
                answer = setup.failover(sentinel)
                # INPROG (a failover still under way) and NOGOODSLAVE (the replica's link not yet reported up)
                # pass; anything else, or still refused after 20 s, is the harness's problem.
                if answer == "OK" or time.monotonic() > deadline or not answer.split()[0] in ("INPROG",
                                                                                             "NOGOODSLAVE"):
                    break
                time.sleep(0.5)
            if answer != "OK":
                raise RuntimeError("SENTINEL FAILOVER %s on 127.0.0.1:%d answered %s"
                                   % (settings.SENTINEL_MASTER, sentinel, answer))
        else:
            entry["start"] = round(self.clock(), 2)
            entry["pid"] = setup.kill9(old)
            entry["down"] = fault["down"]
        seen = {}

        def promoted():
            named = setup.named()
            moved = [port for port in named.values() if port == new]
            if moved and "first" not in seen:
                seen["first"] = self.clock()
            return len(moved) >= settings.SENTINEL_QUORUM

        if servers.wait_for(promoted, settings.SENTINEL_PROMOTE_WAIT, 0.05):
            entry["announced"] = round(self.clock(), 2)
            entry["first"] = round(seen["first"], 2)
        else:
            entry["error"] = ("no quorum of Sentinels named 127.0.0.1:%d within %ds (they name %s)"
                              % (new, settings.SENTINEL_PROMOTE_WAIT, setup.named()))
        if not planned:
            time.sleep(fault["down"])
            entry["restarted"] = round(self.clock(), 2)
            try:
                setup.restart()     # waits until the Sentinels agree on a primary with an online replica
            except RuntimeError as error:
                entry["error"] = entry["error"] or "the killed server did not rejoin: %s" % error

        def demoted():
            role = setup.role(old)
            return role is not None and role[0] == "slave" and role[1] == new

        if entry["error"] is None:
            if servers.wait_for(demoted, settings.SENTINEL_DEMOTE_WAIT, 0.1):
                entry["demoted"] = round(self.clock(), 2)
            else:
                entry["error"] = ("127.0.0.1:%d is %s %ds after the new primary was named, not a replica of "
                                  "127.0.0.1:%d" % (old, setup.role(old), settings.SENTINEL_DEMOTE_WAIT, new))
        if "demoted" in entry:
            entry["probe"] = self._probe_writes(entry["demoted"])
        if entry["error"] is None and not servers.wait_for(setup.healthy, settings.SENTINEL_HEALTHY_WAIT, 0.2):
            entry["error"] = "the Sentinels do not agree on 127.0.0.1:%d with an online replica (roles %s)" % (
                new, setup.roles())
        entry["healthy"] = round(self.clock(), 2)
        entry["epochs_after"] = setup.epochs()
        # The window goes on SENTINEL_QUIET s past the bound and past the demotion: failures after the bound, and
        # orders placed once the old primary refuses writes, fall into it.
        settle = max([entry[name] for name in ("announced", "demoted") if name in entry], default=None)
        if settle is not None:
            until = max(entry.get("announced", settle) + settings.SENTINEL_BOUND, settle) + settings.SENTINEL_QUIET
            while self.clock() < until:
                time.sleep(0.1)
        entry["end"] = round(self.clock(), 2)
        with self.lock:
            self.sentinel_failovers.append(entry)
        if entry["error"]:
            self.log("failover %d FAILED: %s" % (entry["number"], entry["error"]))
            return "FAILED: %s" % entry["error"]
        how = ("SENTINEL FAILOVER %s on 127.0.0.1:%d" % (settings.SENTINEL_MASTER, entry["sentinel"]) if planned
               else "kill -9 primary 127.0.0.1:%d (pid %d)" % (old, entry["pid"]))
        after = ("" if planned else "; restarted %.1fs after that" % fault["down"])
        return ("%s; 127.0.0.1:%d named by a quorum %.1fs later (first Sentinel %.1fs)%s; 127.0.0.1:%d a replica of "
                "it %.1fs after the %s" % (how, new, entry["announced"] - entry["start"], entry["first"] - entry["start"],
                                          after, old, entry["demoted"] - entry["start"],
                                          "command" if planned else "kill"))

    def _probe_writes(self, since):
        """Signs the harness's own user in on every instance (each sign-in writes a session to Redis) until one
        succeeds or SENTINEL_PROBE_WAIT s after `since` have passed: {instance id: seconds after `since`, or None}.
        Not recorded as workload traffic."""
        if not getattr(self, "probe_email", None):
            self.probe_email = "probe-%s@chaos.test" % uuid.uuid4().hex[:12]
            for _ in range(50):
                reply, _ = api.request(self.instances[0].port, "POST", "/api/v1/auth/register", "probe", None,
                                       body={"email": self.probe_email, "password": settings.PASSWORD})
                if reply is not None and reply.status in (201, 409):
                    break
                time.sleep(0.2)
        out = {}
        for instance in self.instances:
            out[instance.instance_id] = None
            while self.clock() < since + settings.SENTINEL_PROBE_WAIT:
                reply, _ = api.request(instance.port, "POST", "/api/v1/auth/login", "probe", None, timeout=5,
                                       body={"email": self.probe_email, "password": settings.PASSWORD})
                if reply is not None and reply.status == 200:
                    out[instance.instance_id] = round(self.clock() - since, 2)
                    break
                time.sleep(0.2)
        return out

    def _stop_postgres(self, fault):
        self.postgres.stop(fault["mode"])
        time.sleep(fault["down"])
        self.postgres.start()
        return "pg_ctl stop -m %s, started after %ds" % (fault["mode"], fault["down"])

    # --- provider ---

    def _provider(self, overrides, length):
        self.provider.control(overrides)
        time.sleep(length)
        self.provider.control()

    def _provider_outage(self, fault):
        self._provider({"outage": True}, fault["length"])
        return "provider answers 503 for %.1fs" % fault["length"]

    def _provider_errors(self, fault):
        self._provider({"errorRate": fault["errorRate"]}, fault["length"])
        return "provider answers 500 to %d%% of calls for %.1fs" % (fault["errorRate"] * 100, fault["length"])

    def _provider_slow(self, fault):
        self._provider({"latencyMs": fault["latencyMs"]}, fault["length"])
        return "provider adds %d ms to every answer for %.1fs" % (fault["latencyMs"], fault["length"])

    # --- for the report ---

    def windows(self):
        """(start, end, kind) of every dependency outage (Redis, PostgreSQL, provider) that was carried out."""
        return [(f["start"], f["end"], f["kind"]) for f in self.done
                if f["kind"] not in ("kill-instance", "reshard")]


class Supervisor:
    """Watches the instances: one that exits without being killed by the plan crashed (a finding); it is
    restarted so the run goes on."""

    def __init__(self, instances, injector, clock, log):
        self.instances = instances
        self.injector = injector
        self.clock = clock
        self.log = log
        self.crashes = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def start(self):
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.5):
            for instance in self.instances:
                if self.stop.is_set():
                    return
                with self.injector.lock:
                    planned = instance.index in self.injector.down
                if planned or instance.alive():
                    continue
                status = instance.exit_status()
                tail = instance.log_tail(12)
                self.crashes.append({"instance": instance.instance_id, "t": round(self.clock(), 1),
                                     "status": status, "log": tail})
                self.log("instance %s exited by itself (status %s) at t=%.1fs; restarting"
                         % (instance.instance_id, status, self.clock()))
                try:
                    instance.start("after exiting by itself ")
                except servers.Closing:
                    return
