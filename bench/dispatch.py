"""Dispatch throughput and CPU: a preloaded outbox drained to nghttpd by one pinned gateway.

The store is filled with N pending deliveries (through the store API), then
``pushgate serve`` starts pinned to core 0 with nghttpd on core 1. The figure is measured
between the first poll that shows progress and the poll that finds the outbox empty, so
start-up (imports, loading the outbox) is excluded; it is reported separately. CPU is the
gateway's user + system time over the same window (all threads: event loop and SQLite).
h2load runs against the same nghttpd from core 0 before and after, as the C reference.

    bench/run dispatch [--quick] [--deliveries N] [--set dispatch.concurrency=1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import _cli
from bench._gateway import (
    GatewaySetup,
    Sample,
    Tenant,
    create_tenant,
    fresh_data_dir,
    insert_devices,
    preload_outbox,
    probe_for,
    start_gateway,
    wait_drained,
)
from bench._postgres import PostgresTarget, fresh_schema
from bench._procs import BenchError, Child, Supervisor, profiling, two_cores
from bench._report import Figure, number, record
from bench._sinks import Certs, H2loadResult, Sink, h2load, start_nghttpd
from bench._workload import apns_body

TOKEN_POOL = 50_000
"""Distinct device tokens the deliveries cycle through (one nghttpd file each)."""


@dataclass(frozen=True, slots=True)
class Pinning:
    """Which cores the gateway (and h2load) and the sink may use."""

    gateway: str | None
    sink: str | None

    @classmethod
    def apart(cls) -> Pinning:
        """Gateway on core 0, sink on core 1, this harness beside the sink (if 2 cores exist)."""
        if not two_cores():
            print("note: fewer than 2 cores, running unpinned", file=sys.stderr)
            return cls(None, None)
        os.sched_setaffinity(0, {1})
        return cls("0", "1")


@dataclass(frozen=True, slots=True)
class Drain:
    """One gateway run that emptied a preloaded outbox."""

    deliveries: int
    startup_s: float
    window_s: float
    sent_in_window: int
    gateway_cpu_s: float
    sink_cpu_s: float
    peak_rss: int
    first_rss: int
    states: dict[str, int]

    @property
    def rate(self) -> float:
        """Deliveries per second over the measured window."""
        return self.sent_in_window / self.window_s

    @property
    def cpu_us(self) -> float:
        """Gateway CPU per delivery, in microseconds."""
        return self.gateway_cpu_s / self.sent_in_window * 1e6

    @property
    def sink_us(self) -> float:
        """Sink CPU per delivery, in microseconds."""
        return self.sink_cpu_s / self.sent_in_window * 1e6

    def details(self) -> dict[str, Any]:
        """The run's numbers for results.jsonl."""
        return {
            "deliveries": self.deliveries,
            "startup_s": round(self.startup_s, 3),
            "window_s": round(self.window_s, 3),
            "sent_in_window": self.sent_in_window,
            "gateway_cpu_utilisation": round(self.gateway_cpu_s / self.window_s, 3),
            "sink_cpu_us_per_delivery": round(self.sink_us, 2),
            "gateway_rss_after_start_mb": round(self.first_rss / 2**20, 1),
            "gateway_peak_rss_mb": round(self.peak_rss / 2**20, 1),
            "states": self.states,
        }


def _window(samples: list[Sample], deliveries: int) -> tuple[Sample, Sample]:
    """From the first sample that shows progress to the last (outbox empty)."""
    start = next((s for s in samples if s.pending < deliveries), None)
    if start is None or start is samples[-1]:
        raise BenchError("the outbox emptied between two polls; use more deliveries")
    return start, samples[-1]


class Gateways:
    """Several gateway processes measured as one (CPU and memory summed)."""

    def __init__(self, children: list[Child]) -> None:
        self.children = children

    @property
    def pid(self) -> int:
        return self.children[0].pid

    def check_alive(self) -> None:
        for child in self.children:
            child.check_alive()

    def cpu_seconds(self) -> float:
        return sum(child.cpu_seconds() for child in self.children)

    def rss_bytes(self) -> int:
        return sum(child.rss_bytes() for child in self.children)

    def peak_rss_bytes(self) -> int:
        return sum(child.peak_rss_bytes() for child in self.children)

    def stop(self) -> int:
        return max(child.stop() for child in self.children)

    def log_tail(self) -> str:
        return "\n".join(child.log_tail() for child in self.children)


async def drain(
    sup: Supervisor,
    setups: list[GatewaySetup],
    sink: Sink,
    *,
    deliveries: int,
    cpus: str | None,
    profile: Path | None = None,
    profile_cpus: str | None = None,
) -> Drain:
    """Start the gateways (sharing one store) on a preloaded outbox, time them until it is
    empty, stop them.

    With ``profile``, py-spy samples the first gateway while it drains.
    """
    began = time.monotonic()
    gateway = Gateways([start_gateway(sup, setup, cpus=cpus) for setup in setups])
    startup = time.monotonic() - began
    probe = probe_for(setups[0])
    try:
        with profiling(sup, gateway.pid, profile, cpus=profile_cpus):
            samples = await wait_drained(
                probe, gateway, sink.child, within=max(120.0, deliveries / 1000)
            )
        peak = gateway.peak_rss_bytes()
        start, end = _window(samples, deliveries)
        if gateway.stop() != 0:
            raise BenchError(f"the gateway exited badly:\n{gateway.log_tail()}")
        states = probe.states()
    finally:
        probe.close()
    return Drain(
        deliveries=deliveries,
        startup_s=startup,
        window_s=end.at - start.at,
        sent_in_window=start.pending,
        gateway_cpu_s=end.gateway_cpu - start.gateway_cpu,
        sink_cpu_s=end.sink_cpu - start.sink_cpu,
        peak_rss=peak,
        first_rss=samples[0].rss,
        states=states,
    )


def reference(
    work: Path, sink: Sink, authorization: bytes, requests: int, pins: Pinning, tag: str
) -> tuple[H2loadResult, float]:
    """h2load from the gateway's core; returns its result and the sink's CPU µs per request."""
    body = work / "body.json"
    body.write_bytes(apns_body())
    sink_before = sink.cpu_seconds()
    result = h2load(
        sink.port, requests=requests, body=body, authorization=authorization,
        tokens=TOKEN_POOL, cpus=pins.gateway, log=work / f"h2load-{tag}.log",
    )  # fmt: skip
    return result, (sink.cpu_seconds() - sink_before) / max(result.succeeded, 1) * 1e6


async def prepared(
    work: Path,
    sink: Sink,
    certs: Certs,
    args: argparse.Namespace,
    deliveries: int,
    *,
    gateways: int = 1,
    postgres: PostgresTarget | None = None,
) -> tuple[list[GatewaySetup], Tenant]:
    """Fresh store(s) with the app, its devices and a preloaded outbox; one setup per gateway
    (they share the PostgreSQL schema when there are several)."""
    overrides = _cli.overrides(args.overrides)
    name = "data" if postgres is None else f"data-pg-{gateways}"
    setups = [
        GatewaySetup(
            fresh_data_dir(work / f"{name}-{n}"), sink.port, certs.ca, overrides=overrides,
            postgres=postgres,
        )
        for n in range(gateways)
    ]  # fmt: skip
    tenant = await create_tenant(setups[0])
    insert_devices(setups[0], tenant.app_id, TOKEN_POOL)
    await preload_outbox(
        setups[0], tenant.app_id, deliveries=deliveries,
        per_notification=args.per_notification, token_pool=TOKEN_POOL,
    )  # fmt: skip
    return setups, tenant


async def main(args: argparse.Namespace) -> None:
    """Preload, reference, drain (each backend asked for), reference, report."""
    deliveries = args.deliveries or (5_000 if args.quick else 200_000)
    h2load_requests = 20_000 if args.quick else 200_000
    work = _cli.work_dir("dispatch")
    certs = Certs.in_dir(_cli.WORK / "certs")
    pins = Pinning.apart()
    runs: dict[str, Drain] = {}
    with Supervisor(work / "logs") as sup:
        sink = start_nghttpd(sup, _cli.WORK, certs, tokens=TOKEN_POOL, cpus=pins.sink)
        setups, tenant = await prepared(work, sink, certs, args, deliveries)
        refs = [reference(work, sink, tenant.authorization, h2load_requests, pins, "before")]
        runs["sqlite"] = await drain(
            sup, setups, sink, deliveries=deliveries, cpus=pins.gateway, profile=args.profile,
            profile_cpus=pins.sink,
        )  # fmt: skip
        if args.backend == "postgresql":
            with fresh_schema(args.postgres_url) as target:
                setups, _ = await prepared(work, sink, certs, args, deliveries, postgres=target)
                runs["postgresql"] = await drain(
                    sup, setups, sink, deliveries=deliveries, cpus=pins.gateway
                )
            with fresh_schema(args.postgres_url) as target:
                setups, _ = await prepared(
                    work, sink, certs, args, deliveries, gateways=2, postgres=target
                )
                runs["postgresql_2_gateways"] = await drain(
                    sup, setups, sink, deliveries=deliveries, cpus=None
                )
        refs.append(reference(work, sink, tenant.authorization, h2load_requests, pins, "after"))
    report(runs, refs, quick=args.quick, per_notification=args.per_notification)


def figures(run: Drain, refs: list[tuple[H2loadResult, float]]) -> list[Figure]:
    """The three dispatch figures, against the mean of the h2load runs."""
    h2_rate = sum(r.rate for r, _ in refs) / len(refs)
    h2_cpu = sum(r.cpu_us_per_request for r, _ in refs) / len(refs)
    runs = " / ".join(number(r.rate) for r, _ in refs)
    return [
        Figure(
            "dispatch_rate", "dispatch: outbox -> sink, gateway on 1 core", run.rate,
            "notifications/s", (">=", 20_000), f"h2load {number(h2_rate, '/s')} ({runs})",
        ),
        Figure(
            "dispatch_vs_h2load", "dispatch rate / h2load rate", run.rate / h2_rate * 100, "%",
            (">=", 25.0), "h2load = 100 %",
        ),
        Figure(
            "dispatch_cpu_us", "gateway CPU per notification", run.cpu_us, "µs", ("<=", 50.0),
            f"h2load {number(h2_cpu, 'µs')}",
        ),
    ]  # fmt: skip


def postgres_figures(runs: dict[str, Drain]) -> list[Figure]:
    """PostgreSQL beside SQLite, measured in the same run against the same sink."""
    sqlite, pg, two = runs["sqlite"], runs["postgresql"], runs["postgresql_2_gateways"]
    return [
        Figure(
            "dispatch_pg_rate", "PostgreSQL: outbox -> sink, gateway on 1 core", pg.rate,
            "notifications/s", (">=", 20_000), f"SQLite same run {number(sqlite.rate, '/s')}",
        ),
        Figure(
            "dispatch_pg_vs_sqlite", "PostgreSQL rate / SQLite rate", pg.rate / sqlite.rate * 100,
            "%", (">=", 50.0), "SQLite = 100 %",
        ),
        Figure(
            "dispatch_pg_cpu_us", "PostgreSQL: gateway CPU per notification", pg.cpu_us, "µs",
            None, f"SQLite {number(sqlite.cpu_us, 'µs')} (the database server's CPU not counted)",
        ),
        Figure(
            "dispatch_pg_two_gateways", "two gateways on one PostgreSQL outbox, unpinned",
            two.rate, "notifications/s", None,
            "combined; they share 2 cores with the sink and the database server",
        ),
    ]  # fmt: skip


def report(
    runs: dict[str, Drain],
    refs: list[tuple[H2loadResult, float]],
    *,
    quick: bool,
    per_notification: int,
) -> None:
    """Print and record the dispatch figures."""
    for name, drained in runs.items():
        delivered = drained.states.get("delivered", 0)
        if delivered != drained.deliveries:
            print(
                f"warning ({name}): {delivered} of {drained.deliveries} delivered: {drained.states}"
            )
    run = runs["sqlite"]
    h2load_runs = [
        {
            "rate": round(r.rate),
            "cpu_us": round(r.cpu_us_per_request, 2),
            "sink_cpu_us": round(s, 2),
        }
        for r, s in refs
    ]
    details = {**run.details(), "deliveries_per_notification": per_notification}
    details |= {f"{name}_run": r.details() for name, r in runs.items() if name != "sqlite"}
    shown = figures(run, refs) + (postgres_figures(runs) if "postgresql" in runs else [])
    record("dispatch", shown, quick=quick, details={**details, "h2load": h2load_runs})
    print(
        f"start-up {run.startup_s:.1f} s (until the API listened); measured window "
        f"{run.window_s:.2f} s; gateway CPU {run.gateway_cpu_s / run.window_s:.0%} of a core; "
        f"sink {run.sink_us:.1f} µs/notification; peak RSS {run.peak_rss / 2**20:.0f} MB"
    )


def cli() -> int:
    """Entry point."""
    parser = _cli.parser(__doc__.splitlines()[0], time_limit=900)
    parser.add_argument(
        "--deliveries", type=int, default=0, help="outbox size (default 200,000; quick 5,000)"
    )
    parser.add_argument(
        "--per-notification",
        type=int,
        default=1,
        help="deliveries per notification in the outbox (default 1: every push pays its own render)",
    )
    _cli.backend_options(parser)
    return _cli.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
