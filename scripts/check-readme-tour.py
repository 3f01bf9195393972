#!/usr/bin/env python3
"""Run every `$ command` of README.md's console blocks and compare its output with the lines under it.

Start the service first (`make run`, in another terminal), then: python3 scripts/check-readme-tour.py
Exits non-zero when any answer differs from what the README shows.
"""
import pathlib
import re
import subprocess
import sys

readme = pathlib.Path(__file__).resolve().parent.parent / "README.md"
blocks = re.findall(r"```console\n(.*?)```", readme.read_text(), re.S)
passed = failed = 0
for block in blocks:
    lines = block.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            i += 1
            continue
        command, expected = lines[i][2:], []
        i += 1
        while i < len(lines) and not lines[i].startswith("$ "):
            expected.append(lines[i])
            i += 1
        want = "\n".join(expected).strip()
        got = subprocess.run(["bash", "-c", command], capture_output=True, text=True).stdout.strip()
        if got == want:
            passed += 1
        else:
            failed += 1
            print(f"differs: {command}\n  README: {want}\n  got:    {got}", file=sys.stderr)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
