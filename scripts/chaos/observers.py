"""Watches the scheduler's records in Redis during the whole run, because Redis keeps only the latest 50 runs
of a job and a restore or a crash can drop some: every run seen (finished in `<prefix>{job}:history`, or in
progress in `<prefix>{job}:current`) is kept here by run id, so two runs of one tick can be told apart even
if Redis later forgot one of them."""

import json
import threading

import resp
import settings


class JobRuns:
    def __init__(self, redis, interval=1.5):
        self.redis = redis             # servers.PrivateRedis or servers.PrivateCluster
        self.interval = interval
        self.runs = {}            # run id -> run (JSON of Scheduler's JobRun: job, tick ms, manual, instance, ...)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.polls = 0
        self.failed_polls = 0
        self.thread = threading.Thread(target=self._run, name="job-runs", daemon=True)

    def start(self):
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.thread.join()
        self.poll()

    def _run(self):
        while not self.stop.wait(self.interval):
            self.poll()

    def poll(self):
        client = self.redis.client(timeout=2.0)
        try:
            for job in settings.JOB_NAMES:
                base = "%s{%s}" % (settings.JOBS_KEY_PREFIX, job)
                entries = client.call("LRANGE", base + ":history", 0, -1) or []
                current = client.call("GET", base + ":current")
                if current:
                    entries.append(current)
                for text in entries:
                    try:
                        run = json.loads(text)
                    except ValueError:
                        continue
                    run_id = run.get("runID")
                    if not run_id:
                        continue
                    with self.lock:
                        known = self.runs.get(run_id)
                        # A finished record replaces the in-progress one.
                        if known is None or (run.get("outcome") and not known.get("outcome")):
                            self.runs[run_id] = run
            self.polls += 1
        except (OSError, resp.RedisError):
            self.failed_polls += 1
        finally:
            client.close()

    def snapshot(self):
        with self.lock:
            return list(self.runs.values())
