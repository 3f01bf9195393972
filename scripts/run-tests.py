#!/usr/bin/env python3
"""Runs `swift test` with a watchdog, so a hung test fails the run in minutes and names itself.

A test that never finishes used to hold CI until its 90-minute limit, and the log did not say which one it
was. This wrapper passes the output through unchanged and keeps the Swift Testing events it prints
("◇ Test … started.", "✔ Test … passed", "✘ Test … failed"). When the whole run exceeds TEST_TIMEOUT seconds
(default 1800), or no test has started or finished for TEST_STALL seconds (default 600), it prints the tests
that started and never finished, asks the test process for a backtrace (SIGQUIT), then stops it and exits 124.

Usage: scripts/run-tests.py [swift test arguments...]   (SWIFT names the swift binary, default `swift`)
"""

import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

# "◇ Test name() started." and "✔ Test name() passed after 1.2 seconds." ("Test case passing …" lines, one per
# argument, are started but never reported as passed, so they are left out).
EVENT = re.compile(
    r"^[◇✔✘] Test (?!case passing )(.+?)(?: with \d+ test cases?)? (?:(started)\.$|(?:passed|failed) after [0-9.]+ seconds)"
)


def main() -> int:
    total_limit = float(os.environ.get("TEST_TIMEOUT", "1800"))
    stall_limit = float(os.environ.get("TEST_STALL", "600"))
    swift = os.environ.get("SWIFT", "swift")
    command = [swift, "test", *sys.argv[1:]]
    if shutil.which("stdbuf"):
        # Line-buffered output from the test process too: a run that is stopped keeps its last lines.
        command = ["stdbuf", "-oL", "-eL", *command]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        bufsize=1,
        text=True,
        errors="replace",
    )
    running: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    started_at = time.monotonic()
    last_event = [started_at]
    verdict: list[str] = []

    def watch() -> None:
        while process.poll() is None:
            time.sleep(5)
            now = time.monotonic()
            with lock:
                if now - started_at > total_limit:
                    reason = f"the run took over {total_limit:.0f} s (TEST_TIMEOUT)"
                elif now - last_event[0] > stall_limit:
                    reason = f"no test started or finished for {stall_limit:.0f} s (TEST_STALL)"
                else:
                    continue
                unfinished = sorted(name for name, count in running.items() if count > 0)
            verdict.append(reason)
            print(f"\nrun-tests: {reason}; tests still running:", flush=True)
            for name in unfinished:
                print(f"run-tests:   {name}", flush=True)
            stop(process)
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        stripped = line.strip()
        if stripped.startswith("◇ Test case passing "):
            # One argument of a parameterized test starting: progress, though not tracked as running.
            with lock:
                last_event[0] = time.monotonic()
        match = EVENT.match(stripped)
        if match:
            name, started = match.group(1), match.group(2) is not None
            with lock:
                last_event[0] = time.monotonic()
                if started:
                    running[name] += 1
                elif running[name] > 0:
                    running[name] -= 1
    code = process.wait()
    watcher.join(timeout=1)
    if verdict:
        return 124
    return code


def stop(process: subprocess.Popen) -> None:
    """SIGQUIT first (the Swift runtime prints every thread's backtrace), then SIGKILL the whole group."""
    try:
        for pid in children(process.pid) or [process.pid]:
            os.kill(pid, signal.SIGQUIT)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def children(pid: int) -> list[int]:
    """The processes of the test run below `swift test` (the xctest or swiftpm-testing-helper runner)."""
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except OSError:
        return []
    return [int(p) for p in out.split()]


if __name__ == "__main__":
    sys.exit(main())
