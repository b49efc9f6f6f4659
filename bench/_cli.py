"""Command-line plumbing shared by the benchmarks: options, a hard time limit, clean exits."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench._procs import BenchError
from bench._report import note_start

WORK = Path(__file__).resolve().parent / ".work"


def parser(description: str, *, time_limit: float) -> argparse.ArgumentParser:
    """Options every benchmark takes."""
    cli = argparse.ArgumentParser(description=description)
    cli.add_argument(
        "--quick", action="store_true", help="smoke run: seconds, small counts, no verdicts"
    )
    cli.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="gateway setting to change, e.g. --set dispatch.concurrency=1000 (repeatable)",
    )
    cli.add_argument(
        "--profile",
        type=Path,
        help="sample the gateway with py-spy during the measured phase into this speedscope "
        "file (pip install py-spy; summarise: python -m bench.profile_summary FILE)",
    )
    cli.add_argument(
        "--time-limit",
        type=float,
        default=time_limit,
        help=f"abort the benchmark after this many seconds (default {time_limit:.0f})",
    )
    return cli


def backend_options(cli: argparse.ArgumentParser) -> None:
    """--backend and --postgres-url, for benchmarks that compare the store backends."""
    cli.add_argument(
        "--backend",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="postgresql: also measure PostgreSQL (and two gateways on it) beside SQLite, "
        "in the same run",
    )
    cli.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="the PostgreSQL database (a fresh schema is made and dropped per run)",
    )


def overrides(values: list[str]) -> dict[str, dict[str, Any]]:
    """``["dispatch.concurrency=1000"]`` -> ``{"dispatch": {"concurrency": 1000}}``."""
    found: dict[str, dict[str, Any]] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        section, dot, key = name.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--set wants SECTION.KEY=VALUE, got {item!r}")
        value: Any = raw
        for convert in (int, float):
            try:
                value = convert(raw)
                break
            except ValueError:
                continue
        found.setdefault(section, {})[key] = value
    return found


def work_dir(name: str) -> Path:
    """bench/.work/<name>: scratch space of one benchmark (ignored by git)."""
    path = WORK / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(main: Callable[[argparse.Namespace], Awaitable[None]], args: argparse.Namespace) -> int:
    """Run ``main`` within the time limit; a failure prints one line and returns 1."""

    async def bounded() -> None:
        async with asyncio.timeout(args.time_limit):
            await main(args)

    note_start()
    try:
        asyncio.run(bounded())
    except (BenchError, TimeoutError) as exc:
        print(f"benchmark failed: {exc or 'time limit reached'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
