"""Prints a pytake-scheduler --once run (its last output line, JSON) as one readable line."""
import json
import sys

run = json.loads(sys.stdin.read().strip().splitlines()[-1])
counts = run["counts"]
took = counts.pop("duration_ms")
print(f"{run['status']} in {took} ms:", " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
