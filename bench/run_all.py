"""Run every benchmark in turn, each in its own process, then print all figures together.

    bench/run all [--quick]

``--quick`` is the CI smoke run: every benchmark at tiny sizes (well under a minute in
total), no verdicts. A benchmark that fails is reported and the others still run; the exit
status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench._report import RESULTS, Figure, print_table

BENCHES = (
    "dispatch",
    "ingest",
    "latency",
    "fanout",
    "memory",
    "recipients",
    "chat",
    "chat_throughput",
    "matrix",
    "mattermost",
)
TIME_LIMITS = {
    "dispatch": 900,
    "ingest": 600,
    "latency": 300,
    "fanout": 180,
    "memory": 900,
    "recipients": 60,
    "chat": 180,
    "chat_throughput": 300,
    "matrix": 240,
    "mattermost": 240,
}


def run_one(name: str, quick: bool) -> int:
    """Run ``python -m bench.<name>`` with a hard time limit; returns its exit status."""
    limit = TIME_LIMITS[name] / (6 if quick else 1)
    argv = [sys.executable, "-m", f"bench.{name}", "--time-limit", str(limit)]
    argv += ["--quick"] if quick else []
    try:
        return subprocess.run(argv, timeout=limit + 30, check=False).returncode
    except subprocess.TimeoutExpired:
        print(f"{name}: killed after {limit + 30:.0f} s", file=sys.stderr)
        return 1


def summary(since: int, quick: bool) -> None:
    """Print the figures appended to results.jsonl since byte offset ``since``."""
    with RESULTS.open(encoding="utf-8") as handle:
        handle.seek(since)
        entries = [json.loads(line) for line in handle if line.strip()]
    figures = []
    for entry in entries:
        for key, f in entry["figures"].items():
            target = None
            if f["target"]:
                sign, bound = f["target"].split()
                value = float(bound)
                target = (sign, int(value) if value.is_integer() else value)
            label = f"{entry['bench']}: {key}"
            figures.append(Figure(key, label, f["value"], f["unit"], target, f["reference"]))
    print_table("all benchmarks", figures, quick=quick)


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run, no verdicts")
    parser.add_argument("--only", nargs="+", choices=BENCHES, help="run just these")
    args = parser.parse_args()
    since = RESULTS.stat().st_size if RESULTS.exists() else 0
    began = time.monotonic()
    failed = [name for name in args.only or BENCHES if run_one(name, args.quick) != 0]
    summary(since, args.quick)
    print(f"\n{time.monotonic() - began:.0f} s in total", end="")
    print(f"; failed: {', '.join(failed)}" if failed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
