"""The run's private servers: redis-server, a PostgreSQL cluster of its own, `shop provider`, `shop serve` x N.

Everything listens on loopback on free ports and lives in the run's folder (PostgreSQL's data folder is under
the system's temporary folder, which the `postgres` user can reach). Only processes started here are ever
signalled; `cleanup_stale_runs` tidies up after a harness that was itself killed.
"""

import glob
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import resp
import settings


# Set when the harness tears down: nothing may start any more (a fault thread or the supervisor that wakes up
# during the teardown would otherwise start a server again after it was stopped).
CLOSING = threading.Event()


class Closing(Exception):
    pass


class Finding(Exception):
    """A fault went wrong because of the system under test (recorded for a check), not the harness."""


def _refuse_when_closing(what):
    if CLOSING.is_set():
        raise Closing("not starting %s: the run is being torn down" % what)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _redis_pid(pid_file, port):
    """The pid in a redis-server's pid file if that process is alive and is the redis-server on `port`, else None."""
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) and ("redis-server" in _cmdline(pid) and ":%d" % port in _cmdline(pid)) else None


def _kill9_redis(pid, port, what):
    """kill -9 of the redis-server `pid` (None: not running) on `port` of `what`; waits until it is gone."""
    if pid is None:
        raise RuntimeError("no live redis-server of this %s on port %d" % (what, port))
    os.kill(pid, signal.SIGKILL)
    if not wait_for(lambda: not _alive(pid), 10):
        raise RuntimeError("redis-server %d (port %d) still alive 10 s after SIGKILL" % (pid, port))
    return pid


def _stop(popen, grace=3.0):
    """SIGTERM, then SIGKILL after `grace` seconds; only for a process this harness started."""
    if popen is None or popen.poll() is not None:
        return
    try:
        popen.send_signal(signal.SIGTERM)
        popen.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(timeout=5)
    except ProcessLookupError:
        pass


class RunState:
    """What a later run needs to clean up if this harness dies without its own cleanup."""

    def __init__(self, run_dir):
        self.path = os.path.join(run_dir, "state.json")
        self.data = {"harness": os.getpid(), "pids": {}, "pg": None, "cluster": None, "sentinel": None}
        self.save()

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(self.data, handle)
        os.replace(tmp, self.path)

    def set_pid(self, name, pid):
        self.data["pids"][name] = pid
        self.save()

    def set_pg(self, info):
        self.data["pg"] = info
        self.save()

    def set_cluster(self, info):
        self.data["cluster"] = info
        self.save()

    def set_sentinel(self, info):
        self.data["sentinel"] = info
        self.save()


def cleanup_stale_runs(base_dir, log):
    """Stops what runs whose harness is gone left behind (its processes, its PostgreSQL cluster)."""
    for path in glob.glob(os.path.join(base_dir, "*", "state.json")):
        try:
            with open(path) as handle:
                state = json.load(handle)
        except (OSError, ValueError):
            continue
        if _alive(state.get("harness", 0)):
            continue
        for name, pid in state.get("pids", {}).items():
            line = _cmdline(pid)
            if pid and ("shop" in line or "redis-server" in line):
                log("stale run %s: stopping %s (pid %d)" % (os.path.dirname(path), name, pid))
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        cluster = state.get("cluster")
        if cluster and os.path.isdir(cluster.get("dir", "")):
            # The script signals only the nodes whose pid files are in that folder.
            log("stale run %s: stopping its Redis Cluster on port %d" % (os.path.dirname(path), cluster["port"]))
            subprocess.run(["bash", cluster["script"], "stop", str(cluster["port"]), cluster["dir"]],
                           capture_output=True, timeout=60)
        sentinel = state.get("sentinel")
        if sentinel and os.path.isdir(sentinel.get("dir", "")):
            # Likewise: only the servers and Sentinels whose pid files are in that folder.
            log("stale run %s: stopping its Redis Sentinel setup on port %d" % (os.path.dirname(path),
                                                                             sentinel["port"]))
            subprocess.run(["bash", sentinel["script"], "stop", str(sentinel["port"]), sentinel["dir"]],
                           capture_output=True, timeout=60)
        pg = state.get("pg")
        if pg and os.path.isdir(pg.get("data", "")):
            log("stale run %s: stopping its PostgreSQL in %s" % (os.path.dirname(path), pg["data"]))
            PrivatePostgres.stop_cluster(pg["bin"], pg["data"])
            shutil.rmtree(os.path.dirname(pg["data"]), ignore_errors=True)
        os.remove(path)


# --- Redis ------------------------------------------------------------------------------------------------

class PrivateRedis:
    """redis-server with the append-only file fsynced every second, in `<run>/redis`."""

    def __init__(self, run_dir, state):
        self.dir = os.path.join(run_dir, "redis")
        self.data = os.path.join(self.dir, "data")
        self.snapshots = os.path.join(self.dir, "snapshots")
        os.makedirs(self.data, exist_ok=True)
        os.makedirs(self.snapshots, exist_ok=True)
        self.port = free_port()
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self.state = state
        self.popen = None
        self.log_file = None

    def start(self):
        _refuse_when_closing("redis-server")
        self.log_file = open(os.path.join(self.dir, "redis.log"), "a")
        argv = [
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.data,
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            # No automatic rewrites: the files of a snapshot then stay valid while they are copied.
            "--auto-aof-rewrite-percentage", "0",
            "--daemonize", "no", "--logfile", "",
        ]
        self.popen = subprocess.Popen(argv, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)
        self.state.set_pid("redis", self.popen.pid)
        if not wait_for(self.ping, 20):
            raise RuntimeError("redis-server did not start; see %s/redis.log" % self.dir)

    def ping(self):
        client = resp.Redis(self.port, timeout=0.5)
        try:
            return client.call("PING") == "PONG"
        except (OSError, resp.RedisError):
            return False
        finally:
            client.close()

    def loaded(self):
        client = resp.Redis(self.port, timeout=0.5)
        try:
            info = client.call("INFO", "persistence")
            return "loading:0" in info
        except (OSError, resp.RedisError):
            return False
        finally:
            client.close()

    def kill9(self):
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)

    def restart(self):
        self.start()
        wait_for(self.loaded, 20)

    def client(self, timeout=3.0):
        return resp.Redis(self.port, timeout=timeout)

    def snapshot(self, name, marker_key, marker_value):
        """Copies the append-only files as they are now, after writing a marker key; returns the copy's path.

        A reply means Redis wrote the command to the file (the fsync follows within a second), so the copy
        holds the marker; the base file is never rewritten (no automatic rewrites) and a command cut at the
        end of the copy is dropped by Redis when it loads (aof-load-truncated).
        """
        client = self.client()
        try:
            client.call("SET", marker_key, marker_value)
        finally:
            client.close()
        target = os.path.join(self.snapshots, name)
        shutil.copytree(os.path.join(self.data, "appendonlydir"), target)
        return target

    def restore(self, snapshot):
        """Kills Redis, replaces its files with `snapshot` and starts it again."""
        self.kill9()
        shutil.rmtree(os.path.join(self.data, "appendonlydir"), ignore_errors=True)
        shutil.copytree(snapshot, os.path.join(self.data, "appendonlydir"))
        self.restart()

    def stop(self):
        self.kill9()
        if self.log_file:
            self.log_file.close()


class PrivateCluster:
    """A six-node Redis Cluster (three primaries, one replica each) started by scripts/redis-cluster.sh on
    `base_port`..`base_port`+5 (cluster bus on +10000), its files in `<run>/redis-cluster`.

    The nodes are daemons of the script (pid files in their folders), not children of the harness: they are
    signalled by the pid the script recorded, and the script stops them. A killed node is started again from
    its files by `scripts/redis-cluster.sh start`, which also waits until every primary has an online replica.
    """

    NODES = 6
    SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "redis-cluster.sh")

    def __init__(self, run_dir, state, base_port, node_timeout_ms):
        self.run_dir = run_dir
        self.dir = os.path.join(run_dir, "redis-cluster")
        self.port = base_port
        self.ports = [base_port + i for i in range(self.NODES)]
        self.node_timeout_ms = node_timeout_ms
        self.url = "redis+cluster://" + ",".join("127.0.0.1:%d" % port for port in self.ports)
        self.state = state
        self.started = False

    def _script(self, command, timeout=180):
        if command == "start":
            _refuse_when_closing("the redis cluster")
        env = dict(os.environ, REDIS_CLUSTER_NODE_TIMEOUT=str(self.node_timeout_ms),
                   REDIS_CLUSTER_WAIT=str(settings.CLUSTER_HEALTHY_WAIT))
        with open(os.path.join(self.run_dir, "redis-cluster.log"), "ab") as log:
            log.write(("\n===== chaos: redis-cluster.sh %s =====\n" % command).encode())
            log.flush()
            result = subprocess.run(["bash", self.SCRIPT, command, str(self.port), self.dir], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, timeout=timeout)
        return result.returncode == 0

    def start(self):
        """Creates the cluster (or, when it exists, starts its dead nodes from their files) and waits until it
        is healthy."""
        self.state.set_cluster({"script": self.SCRIPT, "port": self.port, "dir": self.dir})
        self.started = True
        if not self._script("start"):
            raise RuntimeError("scripts/redis-cluster.sh start %d did not bring up a healthy cluster; see "
                               "%s/redis-cluster.log" % (self.port, self.run_dir))

    restart = start

    def stop(self):
        if not self.started:
            return
        logs = os.path.join(self.run_dir, "redis-cluster-logs")
        os.makedirs(logs, exist_ok=True)
        for port in self.ports:
            for name in ("redis.log", "nodes.conf"):
                try:
                    shutil.copy(os.path.join(self.dir, "node-%d" % port, name),
                                os.path.join(logs, "%d-%s" % (port, name)))
                except OSError:
                    pass
        self._script("stop", timeout=60)
        self.state.set_cluster(None)
        self.started = False

    def node(self, port, timeout=1.0):
        return resp.Redis(port, timeout=timeout)

    def _ask(self, port, *args, timeout=1.0):
        client = self.node(port, timeout)
        try:
            return client.call(*args)
        except (OSError, resp.RedisError):
            return None
        finally:
            client.close()

    def ping(self):
        """Every node answers."""
        return all(self._ask(port, "PING") == "PONG" for port in self.ports)

    def healthy(self):
        """Every node answers and sees cluster_state:ok; three primaries, each with an online replica."""
        primaries = 0
        for port in self.ports:
            info = self._ask(port, "CLUSTER", "INFO")
            if not info or "cluster_state:ok" not in info:
                return False
            role = self._ask(port, "ROLE")
            if role and role[0] == "master":
                primaries += 1
                if not role[2]:
                    return False
                replication = self._ask(port, "INFO", "replication") or ""
                if "state=online" not in replication:
                    return False
        return primaries == 3

    def client(self, timeout=3.0):
        return resp.Cluster(self.ports, timeout=timeout)

    def pid(self, port):
        return _redis_pid(os.path.join(self.dir, "node-%d" % port, "redis.pid"), port)

    def owner(self, slot, exclude=()):
        """The port of the node a live node names as the owner of `slot` (CLUSTER SLOTS), or None."""
        for port in self.ports:
            if port in exclude:
                continue
            for entry in self._ask(port, "CLUSTER", "SLOTS") or []:
                if int(entry[0]) <= slot <= int(entry[1]):
                    return int(entry[2][1])
        return None

    def role(self, port):
        reply = self._ask(port, "ROLE")
        return reply[0] if reply else None

    def primaries(self):
        """Ports of the live nodes that say `master`."""
        return [port for port in self.ports if self.role(port) == "master"]

    def node_id(self, port):
        node = self._ask(port, "CLUSTER", "MYID")
        if not node:
            raise RuntimeError("127.0.0.1:%d does not tell its node id" % port)
        return node

    def slots_of(self, port):
        """The slots `port` serves as a primary (CLUSTER SLOTS of that node), ascending."""
        slots = []
        for entry in self._ask(port, "CLUSTER", "SLOTS") or []:
            if int(entry[2][1]) == port:
                slots.extend(range(int(entry[0]), int(entry[1]) + 1))
        return sorted(slots)

    def count_keys(self, port, slots):
        """How many keys `port` holds in `slots` (CLUSTER COUNTKEYSINSLOT), on one connection."""
        client = self.node(port, 3.0)
        try:
            return sum(int(client.call("CLUSTER", "COUNTKEYSINSLOT", slot)) for slot in slots)
        finally:
            client.close()

    def keys_on_both(self, slot, source, target, limit=20):
        """Keys of `slot` the target holds that the source holds too (each with its type on both), as text."""
        both = []
        for key in self._ask(target, "CLUSTER", "GETKEYSINSLOT", slot, 1000) or []:
            client, importing = self.node(source), self.node(target)
            try:
                if client.call("EXISTS", key) == 1:
                    importing.call("ASKING")   # the target answers for a slot it imports only after ASKING
                    both.append("%s (%s on %d, %s on %d)" % (key, client.call("TYPE", key), source,
                                                            importing.call("TYPE", key), target))
            except (OSError, resp.RedisError):
                pass
            finally:
                client.close()
                importing.close()
        more = " and %d more" % (len(both) - limit) if len(both) > limit else ""
        return ", ".join(both[:limit]) + more or "none found"

    def redirections(self):
        """{"ASK"|"MOVED"|"TRYAGAIN"|...: error replies so far}, summed over the live nodes (INFO errorstats)."""
        totals = {"ASK": 0, "MOVED": 0, "TRYAGAIN": 0}
        for port in self.ports:
            for line in (self._ask(port, "INFO", "errorstats") or "").splitlines():
                if line.startswith("errorstat_"):
                    name, _, value = line[len("errorstat_"):].partition(":")
                    count = dict(part.split("=") for part in value.split(",")).get("count", "0")
                    totals[name] = totals.get(name, 0) + int(count)
        return totals

    def kill9(self, port):
        """kill -9 of the node on `port` (its pid from the script's pid file); returns the pid."""
        return _kill9_redis(self.pid(port), port, "cluster")

    def wait_promoted(self, slot, old, timeout):
        """Waits until a node other than `old` owns `slot` and says it is a primary; returns its port or None."""
        found = []

        def promoted():
            owner = self.owner(slot, exclude=(old,))
            if owner is not None and owner != old and self.role(owner) == "master":
                found.append(owner)
                return True
            return False

        return found[-1] if wait_for(promoted, timeout, 0.1) else None

    def epoch(self):
        """cluster_current_epoch as the first live node sees it (each failover raises it by one)."""
        for port in self.ports:
            info = self._ask(port, "CLUSTER", "INFO")
            if info:
                for line in info.splitlines():
                    if line.startswith("cluster_current_epoch:"):
                        return int(line.split(":")[1])
        return None

    def roles(self):
        return {port: self.role(port) or "down" for port in self.ports}


class PrivateSentinel:
    """A primary, one replica and three Sentinels (master name `shop`, quorum 2, down-after 1 s) started by
    scripts/redis-sentinel.sh on `base_port`, `base_port`+1 and `base_port`+20000..+20002, files in
    `<run>/redis-sentinel`.

    Like the cluster's nodes, the processes are daemons of the script: signalled by the pid it recorded, started
    again from their (Sentinel-rewritten) configs by `redis-sentinel.sh start`, stopped by `redis-sentinel.sh stop`.
    Which server is the primary is what a quorum of Sentinels says (SENTINEL GET-MASTER-ADDR-BY-NAME).
    """

    SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "redis-sentinel.sh")

    def __init__(self, run_dir, state, base_port):
        self.run_dir = run_dir
        self.dir = os.path.join(run_dir, "redis-sentinel")
        self.port = base_port
        self.ports = [base_port, base_port + 1]
        self.sentinels = [base_port + 20000 + i for i in range(3)]
        self.url = "redis+sentinel://%s/%s" % (",".join("127.0.0.1:%d" % port for port in self.sentinels),
                                               settings.SENTINEL_MASTER)
        self.state = state
        self.started = False

    def _script(self, command, timeout=180):
        if command == "start":
            _refuse_when_closing("the redis sentinel setup")
        env = dict(os.environ, REDIS_SENTINEL_MASTER=settings.SENTINEL_MASTER,
                   REDIS_SENTINEL_WAIT=str(settings.SENTINEL_HEALTHY_WAIT))
        with open(os.path.join(self.run_dir, "redis-sentinel.log"), "ab") as log:
            log.write(("\n===== chaos: redis-sentinel.sh %s =====\n" % command).encode())
            log.flush()
            result = subprocess.run(["bash", self.SCRIPT, command, str(self.port), self.dir], env=env,
                                    stdout=subprocess.PIPE, stderr=log, timeout=timeout)
            log.write(result.stdout)
        return result.returncode == 0, result.stdout.decode(errors="replace")

    def start(self):
        """Starts the setup (or the processes of it that are dead, from their files) and waits until the Sentinels
        agree on a primary whose replica is online."""
        self.state.set_sentinel({"script": self.SCRIPT, "port": self.port, "dir": self.dir})
        self.started = True
        ok, out = self._script("start")
        if not ok:
            raise RuntimeError("scripts/redis-sentinel.sh start %d did not bring up a healthy setup; see "
                               "%s/redis-sentinel.log" % (self.port, self.run_dir))
        if "REDIS_URL=%s" % self.url not in out:
            raise RuntimeError("scripts/redis-sentinel.sh printed %r, expected REDIS_URL=%s" % (out.strip(), self.url))

    restart = start

    def stop(self):
        if not self.started:
            return
        logs = os.path.join(self.run_dir, "redis-sentinel-logs")
        os.makedirs(logs, exist_ok=True)
        for kind, ports in (("redis", self.ports), ("sentinel", self.sentinels)):
            for port in ports:
                for name in ("%s.log" % kind, "%s.conf" % kind):
                    try:
                        shutil.copy(os.path.join(self.dir, "%s-%d" % (kind, port), name),
                                    os.path.join(logs, "%d-%s" % (port, name)))
                    except OSError:
                        pass
        self._script("stop", timeout=60)
        self.state.set_sentinel(None)
        self.started = False

    def _ask(self, port, *args, timeout=1.0):
        client = resp.Redis(port, timeout=timeout)
        try:
            return client.call(*args)
        except (OSError, resp.RedisError):
            return None
        finally:
            client.close()

    def named(self):
        """{sentinel port: the primary's port it names} for every Sentinel that answers."""
        out = {}
        for sentinel in self.sentinels:
            reply = self._ask(sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", settings.SENTINEL_MASTER)
            if reply and len(reply) == 2:
                out[sentinel] = int(reply[1])
        return out

    def primary(self):
        """The port a quorum of Sentinels names as the primary, or None."""
        votes = list(self.named().values())
        for port in set(votes):
            if votes.count(port) >= settings.SENTINEL_QUORUM:
                return port
        return None

    def role(self, port):
        """("master", None), ("slave", its primary's port, link status) or None when the server does not answer."""
        reply = self._ask(port, "ROLE")
        if not reply:
            return None
        if reply[0] == "slave":
            return ("slave", int(reply[2]), reply[3])
        return (reply[0], None)

    def roles(self):
        return {port: (self.role(port) or ("down",))[0] for port in self.ports}

    def ping(self):
        return all(self._ask(port, "PING") == "PONG" for port in self.ports)

    def healthy(self):
        """Every Sentinel names the same primary (flags exactly `master`), sees its replica (flags exactly `slave`)
        and the two other Sentinels; the primary says `master` and has its replica online (as the script's check)."""
        primary = None
        for sentinel in self.sentinels:
            master = self._ask(sentinel, "SENTINEL", "MASTER", settings.SENTINEL_MASTER)
            if not master:
                return False
            fields = dict(zip(master[0::2], master[1::2]))
            if (fields.get("flags") != "master" or fields.get("num-slaves") != "1"
                    or fields.get("num-other-sentinels") != "2"):
                return False
            if primary not in (None, int(fields["port"])):
                return False
            primary = int(fields["port"])
            replicas = self._ask(sentinel, "SENTINEL", "REPLICAS", settings.SENTINEL_MASTER) or []
            if [dict(zip(r[0::2], r[1::2])).get("flags") for r in replicas] != ["slave"]:
                return False
        if self.role(primary) != ("master", None):
            return False
        replication = self._ask(primary, "INFO", "replication") or ""
        return "connected_slaves:1" in replication and "state=online" in replication

    def client(self, timeout=3.0):
        """A connection to the primary a quorum names (the first server, when none does: reads still work)."""
        return resp.Redis(self.primary() or self.ports[0], timeout=timeout)

    def pid(self, port):
        return _redis_pid(os.path.join(self.dir, "redis-%d" % port, "redis.pid"), port)

    def kill9(self, port):
        """kill -9 of the server on `port` (its pid from the script's pid file); returns the pid."""
        return _kill9_redis(self.pid(port), port, "setup")

    def failover(self, sentinel):
        """SENTINEL FAILOVER shop on one Sentinel: "OK", or the error it answered (INPROG, NOGOODSLAVE)."""
        client = resp.Redis(sentinel, timeout=3.0)
        try:
            return client.call("SENTINEL", "FAILOVER", settings.SENTINEL_MASTER)
        except resp.RedisError as error:
            return str(error)
        finally:
            client.close()

    def epochs(self):
        """{sentinel port: config-epoch of the master} (each failover raises it by one)."""
        out = {}
        for sentinel in self.sentinels:
            master = self._ask(sentinel, "SENTINEL", "MASTER", settings.SENTINEL_MASTER)
            if master:
                out[sentinel] = int(dict(zip(master[0::2], master[1::2])).get("config-epoch", -1))
        return out


# --- PostgreSQL -------------------------------------------------------------------------------------------

def _pg_bin():
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: [int(part) for part in path.split("/")[4].split(".") if part.isdigit()],
    )
    if not candidates:
        found = shutil.which("initdb")
        if not found:
            raise RuntimeError("no PostgreSQL server binaries (initdb) found; run scripts/services.sh")
        return os.path.dirname(found)
    return os.path.dirname(candidates[-1])


def _as_postgres(argv):
    """The command run as the `postgres` user when we are root (PostgreSQL refuses to run as root)."""
    if os.getuid() != 0:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"] + argv
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(shlex.quote(part) for part in argv)]


class PrivatePostgres:
    """A PostgreSQL cluster of the run's own (initdb into a temporary folder), never the machine's clusters."""

    USER = "shop"
    PASSWORD = "shop-chaos"
    DATABASE = "shop"

    def __init__(self, run_dir, state, log):
        self.bin = _pg_bin()
        self.root = tempfile.mkdtemp(prefix="redis-jobs-chaos-pg-")
        self.data = os.path.join(self.root, "data")
        self.logfile = os.path.join(self.root, "postgres.log")
        self.run_dir = run_dir
        self.port = free_port()
        self.state = state
        self.log = log
        self.url = "postgres://%s:%s@127.0.0.1:%d/%s" % (self.USER, self.PASSWORD, self.port, self.DATABASE)
        state.set_pg({"bin": self.bin, "data": self.data})

    def _run(self, argv, timeout=120):
        result = subprocess.run(
            _as_postgres(argv), cwd=self.root, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise RuntimeError("%s failed: %s%s" % (argv[0], result.stdout[-2000:], result.stderr[-2000:]))
        return result.stdout

    def init(self):
        if os.getuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o700)
        self._run([
            os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres", "-E", "UTF8",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions",
        ])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as conf:
            conf.write(
                "\n# redis-jobs chaos run\nlisten_addresses = '127.0.0.1'\nport = %d\n"
                "unix_socket_directories = '%s'\nmax_connections = 100\nfsync = off\n"
                "full_page_writes = off\nshared_buffers = 64MB\n" % (self.port, self.root)
            )
        self.start()
        sql = (
            "CREATE ROLE %s LOGIN PASSWORD '%s' CREATEDB; CREATE DATABASE %s OWNER %s;"
            % (self.USER, self.PASSWORD, self.DATABASE, self.USER)
        )
        for statement in sql.split(";"):
            if statement.strip():
                self._run([os.path.join(self.bin, "psql"), "-X", "-q", "-h", self.root, "-p", str(self.port),
                           "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", statement])

    def start(self):
        _refuse_when_closing("postgres")
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.logfile, "-w", "-t", "60",
                   "start"])

    def stop(self, mode="fast"):
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-t", "60", "stop", "-m", mode])

    @staticmethod
    def stop_cluster(bin_dir, data):
        subprocess.run(
            _as_postgres([os.path.join(bin_dir, "pg_ctl"), "-D", data, "-w", "-t", "30", "stop", "-m", "immediate"]),
            cwd="/", capture_output=True, timeout=60,
        )

    def is_up(self):
        result = subprocess.run(
            [os.path.join(self.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            capture_output=True,
        )
        return result.returncode == 0

    def psql(self, sql, timeout=60):
        env = dict(os.environ, PGPASSWORD=self.PASSWORD, PGCONNECT_TIMEOUT="5")
        result = subprocess.run(
            [os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", self.USER, "-d", self.DATABASE, "-c", sql],
            capture_output=True, text=True, timeout=timeout, env=env,
        )
        if result.returncode != 0:
            raise RuntimeError("psql: %s" % result.stderr.strip()[-1000:])
        return result.stdout

    def rows(self, sql):
        """The rows of a query as a list of dicts (through json_agg)."""
        out = self.psql("SELECT coalesce(json_agg(t), '[]'::json) FROM (%s) t" % sql).strip()
        return json.loads(out or "[]")

    def scalar(self, sql):
        return self.psql(sql).strip()

    def destroy(self):
        try:
            self.stop_cluster(self.bin, self.data)
        finally:
            try:
                shutil.copy(self.logfile, os.path.join(self.run_dir, "postgres.log"))
            except OSError:
                pass
            shutil.rmtree(self.root, ignore_errors=True)
            self.state.set_pg(None)


# --- The shop ---------------------------------------------------------------------------------------------

# Starts the binary with an empty signal mask (a parent such as a test runner may block SIGTERM, and a child
# inherits the mask), as Tests/ShopTests/Support/ShopProcess.swift does.
_UNBLOCK = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])"


class Process:
    """One process of the shop binary (`serve` or `provider`), restartable, with an appending log."""

    def __init__(self, name, argv, env, log_path, state):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.state = state
        self.popen = None
        self.starts = 0

    def start(self, note=""):
        _refuse_when_closing(self.name)
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(("\n===== chaos: start #%d of %s %s=====\n" % (self.starts, self.name, note)).encode())
        log.flush()
        self.popen = subprocess.Popen(
            ["python3", "-c", _UNBLOCK] + self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.state.set_pid(self.name, self.popen.pid)

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def exit_status(self):
        return None if self.popen is None else self.popen.poll()

    def kill9(self):
        if self.alive():
            self.popen.kill()
            self.popen.wait(timeout=10)

    def stop(self):
        _stop(self.popen)

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "rb") as handle:
                return b"".join(handle.readlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""


def http_ok(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return 200 <= reply.status < 300
    except Exception:
        return False


class Provider(Process):
    def __init__(self, binary, run_dir, state):
        self.port = free_port()
        env = dict(os.environ, PROVIDER_HOST="127.0.0.1", PROVIDER_PORT=str(self.port),
                   PAYMENT_WEBHOOK_SECRET=settings.WEBHOOK_SECRET, LOG_LEVEL="info")
        super().__init__("provider", [binary, "provider"], env, os.path.join(run_dir, "provider.log"), state)
        self.url = "http://127.0.0.1:%d" % self.port

    def start(self, note=""):
        super().start(note)
        if not wait_for(lambda: http_ok(self.url + "/health"), 30):
            raise RuntimeError("shop provider did not start:\n" + self.log_tail())

    def control(self, overrides=None):
        """Replaces the provider's settings: the baseline plus `overrides`."""
        body = dict(settings.PROVIDER_BASELINE)
        body.update(overrides or {})
        request = urllib.request.Request(
            self.url + "/v1/control", data=json.dumps(body).encode(), method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            return json.loads(reply.read())

    def stats(self):
        with urllib.request.urlopen(self.url + "/v1/control", timeout=5) as reply:
            return json.loads(reply.read())


class ShopInstance(Process):
    def __init__(self, index, binary, run_dir, state, redis_url, database_url, provider_url):
        self.index = index
        self.instance_id = "chaos-%d" % index
        self.port = free_port()
        env = dict(os.environ)
        env.update(settings.SHOP_ENVIRONMENT)
        env.update({
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "INSTANCE_ID": self.instance_id,
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "RATES_PROVIDER_URL": provider_url,
            "PAYMENTS_PROVIDER_URL": provider_url,
            "PAYMENT_WEBHOOK_SECRET": settings.WEBHOOK_SECRET,
        })
        super().__init__(self.instance_id, [binary, "serve"], env,
                         os.path.join(run_dir, "%s.log" % self.instance_id), state)
        self.base = "http://127.0.0.1:%d" % self.port

    def live(self):
        return self.alive() and http_ok(self.base + "/health/live", timeout=1.0)

    def ready(self):
        return self.alive() and http_ok(self.base + "/health/ready", timeout=2.0)


def run_tool(binary, command, env, log_path, timeout=180):
    """Runs `shop migrate|seed` to completion (its output appended to `log_path`)."""
    with open(log_path, "ab") as log:
        result = subprocess.run([binary, command], env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError("shop %s failed (exit %d); see %s" % (command, result.returncode, log_path))
