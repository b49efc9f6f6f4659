"""Summarise a py-spy speedscope profile: hottest functions (self and inclusive) and buckets.

    python -m bench.profile_summary bench/.work/dispatch/profile.json [--top 30] [--thread NAME]

Percentages are of the busy samples of the selected threads, i.e. shares of CPU time. Samples
whose innermost frame is a known wait (the event loop's epoll, a store thread waiting for work)
are dropped; what is left per thread, over all of its samples, is how busy that thread was
("utilisation", meaningful when py-spy recorded with --idle, as bench profiles do). Self
time is charged to the innermost Python frame, so time inside C (ssl, sqlite3, orjson) shows
up under the Python function that called it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

BUCKETS = (
    ("pushgate/transport/", "transport (HTTP/2, HPACK, TLS calls)"),
    ("pushgate/dispatch", "dispatch"),
    ("pushgate/providers/", "providers (APNs render, classify)"),
    ("pushgate/store/", "store (SQLite)"),
    ("pushgate/", "pushgate, other"),
    ("asyncio/", "asyncio"),
    ("sqlite3", "sqlite3"),
    ("ssl.py", "ssl"),
    ("pydantic", "pydantic"),
    ("threading.py", "threading"),
    ("queue.py", "queue"),
    ("uvicorn", "uvicorn"),
)


WAITS = (
    ("select", "selectors.py"),
    ("_take_batch", "pushgate/store/_worker.py"),
    ("wait", "threading.py"),
    ("get", "queue.py"),
    ("main", "multiprocessing/resource_tracker.py"),
)
"""(function, file) of innermost frames that mean the thread is waiting, not working."""


def waiting(frame: dict[str, Any]) -> bool:
    """True when this innermost frame is a wait."""
    where, function = frame.get("file", "") or "", frame.get("name", "")
    return any(function.rpartition(".")[2] == name and where.endswith(tail) for name, tail in WAITS)


def bucket(frame: dict[str, Any]) -> str:
    """The bucket of a frame, by its file."""
    where = frame.get("file", "") or ""
    for needle, name in BUCKETS:
        if needle in where:
            return name
    return "other: " + (Path(where).name or frame.get("name", "?"))


def label(frame: dict[str, Any]) -> str:
    """``function (path:line)`` with the path shortened to the package part."""
    where = frame.get("file", "") or ""
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{frame.get('name', '?')} ({where}:{frame.get('line', '?')})"


def summarise(path: Path, *, top: int, thread: str | None) -> str:
    """The text report for one profile."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    own: Counter[int] = Counter()
    inclusive: Counter[int] = Counter()
    buckets: Counter[str] = Counter()
    total = 0.0
    threads = []
    for profile in data["profiles"]:
        name = profile.get("name", "")
        if thread and thread not in name:
            continue
        busy = waits = 0.0
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            if not stack or waiting(frames[stack[-1]]):
                waits += weight
                continue
            busy += weight
            total += weight
            own[stack[-1]] += weight
            buckets[bucket(frames[stack[-1]])] += weight
            for index in set(stack):
                inclusive[index] += weight
        threads.append((name, busy, busy / max(busy + waits, 1e-9)))
    if not total:
        return "no samples"
    lines = [f"{path}: share of busy samples, and utilisation, per thread:"]
    lines += [f"  {busy / total:6.1%}  (busy {util:4.0%})  {name}" for name, busy, util in threads]
    lines += ["", "self time by bucket:"]
    lines += [f"  {w / total:6.1%}  {b}" for b, w in buckets.most_common()]
    lines += ["", f"top {top} functions by self time:"]
    lines += [f"  {w / total:6.1%}  {label(frames[i])}" for i, w in own.most_common(top)]
    lines += ["", f"top {top} functions by inclusive time:"]
    lines += [f"  {w / total:6.1%}  {label(frames[i])}" for i, w in inclusive.most_common(top)]
    return "\n".join(lines)


def cli() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="speedscope JSON written by py-spy")
    parser.add_argument("--top", type=int, default=30, help="functions to list (default 30)")
    parser.add_argument("--thread", help="only threads whose name contains this text")
    args = parser.parse_args()
    print(summarise(args.profile, top=args.top, thread=args.thread))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
