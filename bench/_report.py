"""Figures: print them beside their targets and same-run references, append them to results.jsonl."""

from __future__ import annotations

import datetime as dt
import json
import operator
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results.jsonl"

_COMPARE = {">=": operator.ge, "<=": operator.le}
_context: dict[str, Any] = {}
"""Taken when the benchmark starts: the code under test and how busy the machine was."""


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, its target from the issue and a reference measured in the same run."""

    key: str
    label: str
    value: float | None
    unit: str
    target: tuple[str, float] | None = None
    """(">=" or "<=", bound); None when the figure has no target."""
    reference: str = ""

    @property
    def meets(self) -> bool | None:
        """Whether the value meets the target (None without a target or a value)."""
        if self.target is None or self.value is None:
            return None
        sign, bound = self.target
        return bool(_COMPARE[sign](self.value, bound))

    def as_json(self) -> dict[str, Any]:
        """The figure as stored in results.jsonl."""
        return {
            "value": self.value,
            "unit": self.unit,
            "target": f"{self.target[0]} {self.target[1]:g}" if self.target else None,
            "reference": self.reference,
            "meets": self.meets,
        }


def number(value: float | None, unit: str = "") -> str:
    """A value for people: thousands separators, sensible precision, the unit after it."""
    if value is None:
        return "n/a"
    if isinstance(value, int) or abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def print_table(bench: str, figures: Sequence[Figure], *, quick: bool) -> None:
    """Print ``figure | measured | target | reference (same run)`` rows."""
    mode = "quick smoke run: sizes too small to judge, targets not checked" if quick else "full run"
    rows = [("figure", "measured", "target", "reference (same run)", "")]
    for f in figures:
        target = f"{f.target[0]} {number(f.target[1], f.unit)}" if f.target else "-"
        verdict = "" if quick or f.meets is None else ("meets" if f.meets else "MISSES")
        rows.append((f.label, number(f.value, f.unit), target, f.reference or "-", verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print(f"\n== {bench} ({mode})")
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print(" | ".join(cells + [row[4]] * bool(row[4])).rstrip())


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def note_start(seconds: float = 1.0) -> None:
    """Record the commit under test and the share of all CPUs busy for ``seconds`` before."""
    _context["commit"] = commit()
    busy0, total0 = _cpu_times()
    time.sleep(seconds)
    busy1, total1 = _cpu_times()
    share = (busy1 - busy0) / max(total1 - total0, 1)
    _context["busy_before"] = round(share, 3)
    if share > 0.1:
        print(f"warning: {share:.0%} of the CPUs were busy before this benchmark; expect noise")


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def commit() -> dict[str, Any]:
    """HEAD, and whether the code under test (src/) differs from it."""
    return {
        "sha": _git("rev-parse", "HEAD") or None,
        "src_dirty": bool(_git("status", "--porcelain", "--", "src")),
    }


def record(
    bench: str, figures: Sequence[Figure], *, quick: bool, details: dict[str, Any]
) -> dict[str, Any]:
    """Print the table and append one JSON line to bench/results.jsonl; returns that line."""
    print_table(bench, figures, quick=quick)
    entry = {
        "bench": bench,
        "mode": "quick" if quick else "full",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _context.get("commit") or commit(),
        "machine": {**machine(), "busy_before": _context.get("busy_before")},
        "figures": {f.key: f.as_json() for f in figures},
        "details": details,
    }
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry, sort_keys=True) + "\n")
    print(f"(appended to {RESULTS.relative_to(REPO)})")
    return entry
