"""A minimal Redis client (RESP2 over one TCP connection) for the harness's own reads and self-test edits."""

import socket
import time


class RedisError(Exception):
    pass


class Redis:
    def __init__(self, port, host="127.0.0.1", timeout=3.0):
        self.address = (host, port)
        self.timeout = timeout
        self.sock = None
        self.buffer = b""

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
                self.buffer = b""

    def call(self, *args):
        """Sends one command and returns its reply (bytes decoded as UTF-8 strings). Reconnects once."""
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(self.address, timeout=self.timeout)
                    self.buffer = b""
                self.sock.sendall(self._encode(args))
                return self._reply()
            except (OSError, ConnectionError):
                self.close()
                if attempt == 1:
                    raise

    @staticmethod
    def _encode(args):
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(parts)

    def _line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exact(self, count):
        while len(self.buffer) < count + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exact(size).decode("utf-8", "replace")
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._reply() for _ in range(size)]
        raise RedisError("unexpected reply %r" % line[:40])


# --- Redis Cluster ----------------------------------------------------------------------------------------

def _crc16(data):
    """CRC16/XMODEM, as Redis Cluster hashes keys."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """The hash slot of a key (of its `{hash tag}` when it has a non-empty one)."""
    data = key if isinstance(key, bytes) else str(key).encode()
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    return _crc16(data) % 16384


# Commands the harness sends that have no key (or whose reply is wanted from every primary).
_KEYLESS = {"PING", "INFO", "CLUSTER", "ROLE", "DBSIZE"}
_EVERY_PRIMARY = {"KEYS"}


class Cluster:
    """The same `call` as `Redis`, on a Redis Cluster: routes each command by the slot of its first key
    (args[1]; every command the harness sends has it there), follows MOVED and ASK, and rides out a failover
    (a node that does not answer, CLUSTERDOWN, TRYAGAIN) by asking the live nodes for the slot map again until
    `timeout` seconds have passed. `KEYS` is sent to every primary and the replies are joined."""

    def __init__(self, ports, host="127.0.0.1", timeout=3.0, failover_wait=20.0):
        self.ports = list(ports)
        self.host = host
        self.timeout = timeout
        self.failover_wait = failover_wait
        self.slots = {}            # slot -> port of its primary
        self.conns = {}            # port -> Redis

    def close(self):
        for conn in self.conns.values():
            conn.close()
        self.conns = {}

    def _conn(self, port):
        if port not in self.conns:
            self.conns[port] = Redis(port, self.host, self.timeout)
        return self.conns[port]

    def refresh(self):
        """Reads the slot map (CLUSTER SLOTS) from the first node that answers."""
        for port in self.ports:
            try:
                reply = self._conn(port).call("CLUSTER", "SLOTS")
            except (OSError, RedisError):
                self._conn(port).close()
                continue
            slots = {}
            for entry in reply or []:
                owner = int(entry[2][1])
                for slot in range(int(entry[0]), int(entry[1]) + 1):
                    slots[slot] = owner
            self.slots = slots
            return True
        return False

    def primaries(self):
        if not self.slots:
            self.refresh()
        return sorted(set(self.slots.values()))

    def call(self, *args):
        name = str(args[0]).upper()
        if name in _EVERY_PRIMARY:
            replies = []
            for port in self.primaries():
                replies += self._conn(port).call(*args) or []
            return replies
        if name in _KEYLESS or len(args) < 2:
            port = (self.primaries() or self.ports)[0]
            return self._conn(port).call(*args)
        slot = key_slot(args[1])
        deadline = time.monotonic() + self.failover_wait
        asking = None
        while True:
            if slot not in self.slots:
                self.refresh()
            port = asking or self.slots.get(slot, self.ports[0])
            try:
                conn = self._conn(port)
                if asking:
                    asking = None
                    conn.call("ASKING")
                return conn.call(*args)
            except RedisError as error:
                text = str(error)
                if text.startswith("MOVED "):
                    self.slots[slot] = int(text.split()[2].rsplit(":", 1)[1])
                    continue
                if text.startswith("ASK "):
                    asking = int(text.split()[2].rsplit(":", 1)[1])
                    continue
                if not text.startswith(("CLUSTERDOWN", "TRYAGAIN")) or time.monotonic() >= deadline:
                    raise
            except OSError:
                self._conn(port).close()
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.2)
            self.refresh()
