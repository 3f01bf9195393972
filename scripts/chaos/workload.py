"""The workload: many users ordering (with an Idempotency-Key, retried like a real client) and paying, across
every instance, and reading their account and the catalog.

Reproducible: each client has two seeded random streams — `decide` (what to order, the keys, whether to pay;
consumed identically whatever the answers) and `route` (which instance, retry jitter; depends on timing).
"""

import random
import threading
import time
import uuid

import api
import settings


class User:
    def __init__(self, index, seed):
        self.index = index
        self.email = "chaos-%s-%03d@chaos.test" % (seed, index)
        self.id = None
        self.cookie = None


class OrderRecord:
    """One order the client meant to place (one Idempotency-Key) and what it learned about it."""

    def __init__(self, user, key, lines, pay):
        self.user = user
        self.key = key
        self.lines = lines            # [(product id, quantity)]
        self.pay = pay
        self.outcome = "unknown"      # accepted (201), refused (409 OUT_OF_STOCK), rejected (other), unknown
        self.order_id = None
        self.total = None
        self.ids_seen = set()         # order ids of every 201 for this key (must be one)
        self.answers = []             # statuses / error kinds, in order
        self.rejection = None


class PayRecord:
    def __init__(self, user, order_id):
        self.user = user
        self.order_id = order_id
        self.outcome = "unknown"      # accepted (202), already-paid, conflict, rejected, unknown
        self.payment = None
        self.answers = []


class Workload:
    def __init__(self, seed, instances, recorder, products, log):
        self.seed = seed
        self.instances = instances
        self.recorder = recorder
        self.products = products       # {"ample": [ids], "scarce": [ids]}
        self.log = log
        self.users = [User(i, seed) for i in range(settings.USERS)]
        self.orders = []
        self.payments = []
        self.lock = threading.Lock()
        self.stop_new = threading.Event()
        self.hard_deadline = None      # monotonic; set when the workload phase ends
        self.threads = []
        self.steps = 0

    # --- plumbing ---

    def _deadline_passed(self):
        return self.hard_deadline is not None and time.monotonic() >= self.hard_deadline

    def _call(self, route, method, path, label, cookie=None, body=None, headers=None):
        instance = self.instances[route.randrange(len(self.instances))]
        return api.request(instance.port, method, path, label, self.recorder, instance=instance.instance_id,
                           cookie=cookie, body=body, headers=headers)

    def _pause(self, route, seconds):
        time.sleep(seconds * route.uniform(0.8, 1.2))

    # --- accounts ---

    def register_all(self):
        """Registers and signs in every user (before the faults start)."""
        route = random.Random("%s:register" % self.seed)
        for user in self.users:
            for _ in range(50):
                reply, _ = self._call(route, "POST", "/api/v1/auth/register", "register",
                                      body={"email": user.email, "password": settings.PASSWORD})
                if reply is not None and reply.status in (201, 409):
                    if reply.status == 201:
                        user.id = reply.json()["data"]["id"]
                    break
                time.sleep(0.2)
            if not self._login(user, route, deadline=time.monotonic() + 60):
                raise RuntimeError("could not sign in %s" % user.email)

    def _login(self, user, route, deadline=None):
        while True:
            reply, _ = self._call(route, "POST", "/api/v1/auth/login", "login",
                                  body={"email": user.email, "password": settings.PASSWORD})
            if reply is not None and reply.status == 200:
                user.cookie = api.session_cookie(reply)
                user.id = reply.json()["data"]["id"]
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if deadline is None and self._deadline_passed():
                return False
            time.sleep(api.retry_after(reply) if reply is not None else 0.3)

    # --- one operation, retried until a definitive answer ---

    def _until_definitive(self, user, route, method, path, label, definitive, body=None, headers=None,
                          answers=None):
        """Retries the same request (same key) on 503, refused connections, timeouts, 401 (after signing in
        again), 409 IDEMPOTENCY_KEY_IN_USE and other 5xx, until `definitive(reply)` or the run ends."""
        while not self._deadline_passed():
            if user.cookie is None and not self._login(user, route):
                return None
            reply, error = self._call(route, method, path, label, cookie=user.cookie, body=body, headers=headers)
            if answers is not None:
                answers.append(error if reply is None else reply.status)
            if reply is None:
                self._pause(route, 0.3)
                continue
            if reply.status == 401:
                user.cookie = None
                continue
            if definitive(reply):
                return reply
            if reply.status == 503:
                self._pause(route, api.retry_after(reply))
            elif reply.status == 409 and reply.code == "IDEMPOTENCY_KEY_IN_USE":
                self._pause(route, api.retry_after(reply, cap=1.0))
            elif reply.status >= 500:
                self._pause(route, 0.5)
            else:
                return reply   # an answer the client cannot retry (recorded by the caller)
        return None

    def place_order(self, user, route, record):
        body = {"items": [{"productId": pid, "quantity": qty} for pid, qty in record.lines]}

        def definitive(reply):
            return reply.status == 201 or (reply.status == 409 and reply.code == "OUT_OF_STOCK")

        reply = self._until_definitive(user, route, "POST", "/api/v1/orders", "orders.create", definitive,
                                       body=body, headers={"Idempotency-Key": record.key}, answers=record.answers)
        if reply is None:
            record.outcome = "unknown"
        elif reply.status == 201:
            order = reply.json()["data"]
            record.outcome = "accepted"
            record.order_id = order["id"]
            record.total = order["total"]
            record.ids_seen.add(order["id"])
        elif reply.status == 409 and reply.code == "OUT_OF_STOCK":
            record.outcome = "refused"
        else:
            record.outcome = "rejected"
            record.rejection = "%d %s" % (reply.status, reply.text(200))

    def pay_order(self, user, route, record):
        def definitive(reply):
            return reply.status in (202, 404) or (reply.status == 409 and reply.code != "IDEMPOTENCY_KEY_IN_USE")

        reply = self._until_definitive(user, route, "POST", "/api/v1/orders/%s/pay" % record.order_id,
                                       "orders.pay", definitive, answers=record.answers)
        if reply is None:
            record.outcome = "unknown"
        elif reply.status == 202:
            record.outcome = "accepted"
            record.payment = reply.json()["data"]
        elif reply.status == 409 and reply.code == "ORDER_ALREADY_PAID":
            record.outcome = "already-paid"
        else:
            record.outcome = "rejected"
            record.payment = "%d %s" % (reply.status, reply.text(200))

    def read(self, user, route, which):
        if which % 2 == 0 and user.cookie:
            reply, _ = self._call(route, "GET", "/api/v1/me", "me", cookie=user.cookie)
            if reply is not None and reply.status == 401:
                user.cookie = None
        else:
            pool = self.products["ample"] + self.products["scarce"]
            pid = pool[(which // 2) % len(pool)]
            self._call(route, "GET", "/api/v1/products/%s" % pid, "products.get")

    # --- clients ---

    def _client(self, index):
        decide = random.Random("%s:decide:%d" % (self.seed, index))
        route = random.Random("%s:route:%d" % (self.seed, index))
        mine = [u for u in self.users if u.index % settings.CLIENT_THREADS == index]
        while not self.stop_new.is_set():
            user = mine[decide.randrange(len(mine))]
            if decide.random() < settings.READ_SHARE:
                self.read(user, route, decide.randrange(1000))
            else:
                record = self._decide_order(decide, user)
                with self.lock:
                    self.orders.append(record)
                    self.steps += 1
                self.place_order(user, route, record)
                if record.pay and record.outcome == "accepted" and not self._deadline_passed():
                    pay = PayRecord(user, record.order_id)
                    with self.lock:
                        self.payments.append(pay)
                    self.pay_order(user, route, pay)
            time.sleep(decide.uniform(*settings.THINK_SECONDS))

    def _decide_order(self, decide, user):
        ample, scarce = self.products["ample"], self.products["scarce"]
        count = decide.randint(*settings.ORDER_LINES)
        chosen = decide.sample(ample, count)
        if decide.random() < settings.SCARCE_SHARE:
            chosen[0] = decide.choice(scarce)
        lines = sorted((pid, decide.randint(*settings.LINE_QUANTITY)) for pid in set(chosen))
        key = str(uuid.UUID(int=decide.getrandbits(128), version=4))
        return OrderRecord(user, key, lines, decide.random() < settings.PAY_SHARE)

    def start(self):
        for index in range(settings.CLIENT_THREADS):
            thread = threading.Thread(target=self._client, args=(index,), name="client-%d" % index, daemon=True)
            thread.start()
            self.threads.append(thread)

    def stop(self, drain_seconds):
        """No new operations; those in flight may retry for `drain_seconds`, then they end as unknown."""
        self.hard_deadline = time.monotonic() + drain_seconds
        self.stop_new.set()
        for thread in self.threads:
            thread.join(timeout=drain_seconds + settings.REQUEST_TIMEOUT + 5)

    def summary(self):
        counts = {}
        for record in self.orders:
            counts[record.outcome] = counts.get(record.outcome, 0) + 1
        pays = {}
        for record in self.payments:
            pays[record.outcome] = pays.get(record.outcome, 0) + 1
        return counts, pays
