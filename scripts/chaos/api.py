"""HTTP to the shop: one request at a time per call, every answer recorded (status, Retry-After, latency)."""

import http.client
import json
import socket
import threading
import time
from collections import Counter

import settings

COOKIE = "shop_session"


class Reply:
    def __init__(self, status, headers, body, seconds):
        self.status = status
        self.headers = headers
        self.body = body
        self.seconds = seconds

    def json(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def code(self):
        """The problem's `code` member (errors), or None."""
        doc = self.json()
        return doc.get("code") if isinstance(doc, dict) else None

    def text(self, limit=300):
        return self.body[:limit].decode(errors="replace")


class Recorder:
    """Every HTTP outcome the clients saw, and the ones that break the edge's contract."""

    def __init__(self, clock):
        self.clock = clock
        self.lock = threading.Lock()
        self.statuses = Counter()          # (label, status or error kind) -> count
        self.bad = []                      # 5xx other than 503, 503 without Retry-After
        self.unavailable = []              # (t, label, seconds, instance) of every 503
        self.max_seconds = 0.0
        self.requests = 0
        # (start, end, label, instance, status or error kind, text) of every request, on the harness clock:
        # what a window (a reshard) is checked against.
        self.spans = []

    def record(self, label, instance, reply=None, error=None, seconds=0.0):
        now = self.clock()
        with self.lock:
            self.requests += 1
            if reply is None:
                self.spans.append((now - seconds, now, label, instance, error, ""))
                self.statuses[(label, error)] += 1
                return
            self.spans.append((now - reply.seconds, now, label, instance, reply.status,
                               reply.text(160) if reply.status >= 500 else ""))
            self.statuses[(label, reply.status)] += 1
            self.max_seconds = max(self.max_seconds, reply.seconds)
            if reply.status == 503:
                self.unavailable.append((now, label, reply.seconds, instance))
                if "retry-after" not in reply.headers:
                    self.bad.append((now, label, instance, reply.status, "503 without Retry-After: " + reply.text()))
            elif reply.status >= 500:
                self.bad.append((now, label, instance, reply.status, reply.text()))


def request(base_port, method, path, label, recorder, instance="", cookie=None, body=None, headers=None,
            timeout=settings.REQUEST_TIMEOUT):
    """One request. Returns (Reply, None) or (None, error kind) for a refused connection or a timeout."""
    send = {"Accept": "application/json"}
    if cookie:
        send["Cookie"] = "%s=%s" % (COOKIE, cookie)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        send["Content-Type"] = "application/json"
    send.update(headers or {})
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", base_port, timeout=timeout)
    try:
        connection.request(method, path, body=data, headers=send)
        response = connection.getresponse()
        payload = response.read()
        fields = {}
        for name, value in response.getheaders():
            name = name.lower()
            fields[name] = fields[name] + "\n" + value if name in fields else value
        reply = Reply(response.status, fields, payload, time.monotonic() - started)
    except socket.timeout:
        recorder and recorder.record(label, instance, error="timeout", seconds=time.monotonic() - started)
        return None, "timeout"
    except (ConnectionError, http.client.HTTPException, OSError) as error:
        kind = "refused" if isinstance(error, ConnectionRefusedError) else "connection-error"
        recorder and recorder.record(label, instance, error=kind, seconds=time.monotonic() - started)
        return None, kind
    finally:
        connection.close()
    if recorder:
        recorder.record(label, instance, reply=reply)
    return reply, None


def session_cookie(reply):
    """The session id from a sign-in's Set-Cookie."""
    value = reply.headers.get("set-cookie", "")
    for part in value.split("\n"):
        part = part.strip()
        if part.startswith(COOKIE + "="):
            return part.split(";", 1)[0][len(COOKIE) + 1:]
    return None


def retry_after(reply, cap=2.0):
    try:
        return min(cap, max(0.1, float(reply.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0
