"""The Python peer of `make bench-queue`: RQ with non-forking workers and no-op jobs, on the same Redis.

Measured like ours: the workers run first; one producer enqueues all jobs (pipelined batches of 1000 with
`enqueue_many`); the clock runs from the first enqueue until every job is finished. Prints one line:
`RESULT jobs_per_s=... jobs=... workers=... rq=<version>`.
"""
import argparse
import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rq  # noqa: E402
from redis import Redis  # noqa: E402
from rq import Queue, SimpleWorker  # noqa: E402
from rq.registry import FinishedJobRegistry  # noqa: E402

from queue_peer_jobs import noop  # noqa: E402


def work(url, name):
    connection = Redis.from_url(url)
    SimpleWorker([Queue(name, connection=connection)], connection=connection).work(burst=False, logging_level="WARNING")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    name = "bench-%d" % os.getpid()
    connection = Redis.from_url(args.url)
    queue = Queue(name, connection=connection)
    workers = [multiprocessing.Process(target=work, args=(args.url, name), daemon=True) for _ in range(args.workers)]
    for worker in workers:
        worker.start()
    # Wait until the workers have registered.
    deadline = time.time() + 30
    while len(SimpleWorker.all(queue=queue)) < args.workers and time.time() < deadline:
        time.sleep(0.05)

    registry = FinishedJobRegistry(name, connection=connection)
    start = time.perf_counter()
    sent = 0
    while sent < args.jobs:
        count = min(1000, args.jobs - sent)
        queue.enqueue_many([Queue.prepare_data(noop) for _ in range(count)])
        sent += count
    while registry.count < args.jobs:
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join()
    print("RESULT jobs_per_s=%d jobs=%d workers=%d rq=%s" % (args.jobs / elapsed, args.jobs, args.workers, rq.__version__))


if __name__ == "__main__":
    main()
