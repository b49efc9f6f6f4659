"""End to end on the whole machine: batched API ingest -> durable outbox -> nghttpd, for 60 s.

The client POSTs batches of 1,000 notifications (one device each) as fast as the API takes
them, four requests at a time (--in-flight), pausing while the outbox backlog exceeds 20,000
so the figure is the rate at which notifications reach the sink, not the rate at which a
queue grows. Progress is read from the store every 100 ms: a delivery counts once its sink
answer (200) is committed. The figure is the slowest 10-second slice of the run
("sustained"; with --quick, the whole run). Afterwards the outbox must drain and every
accepted notification must be delivered ("nothing lost").

    bench/run ingest [--quick] [--duration 60] [--in-flight 4]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from dataclasses import dataclass

from bench import _cli
from bench._gateway import Probe, probe_for, serve_devices, wait_drained
from bench._load import ApiLoad, client
from bench._postgres import PostgresTarget, fresh_schema
from bench._procs import Supervisor, profiling
from bench._report import Figure, number, record
from bench._sinks import Certs, Sink, start_nghttpd

USERS = 50_000
MAX_BACKLOG = 20_000


@dataclass(frozen=True, slots=True)
class Progress:
    """Deliveries final (sent and committed) at a moment."""

    at: float
    final: int


def final_at(samples: list[Progress], moment: float) -> int:
    """The final count of the last sample taken at or before ``moment``."""
    best = samples[0].final
    for sample in samples:
        if sample.at > moment:
            break
        best = sample.final
    return best


def slice_rates(
    samples: list[Progress], start: float, duration: float, width: float
) -> list[float]:
    """Delivery rate in consecutive slices of ``width`` s from ``start``."""
    edges = [start + i * width for i in range(int(duration / width) + 1)]
    counts = [final_at(samples, edge) for edge in edges]
    return [(b - a) / width for a, b in itertools.pairwise(counts)]


async def sample_progress(probe: Probe, samples: list[Progress]) -> None:
    """Every 100 ms, record how many deliveries are final (written minus pending)."""
    while True:
        written, pending = probe.progress()
        samples.append(Progress(time.monotonic(), written - pending))
        await asyncio.sleep(0.1)


@dataclass
class Run:
    """What one loaded run measured."""

    load: ApiLoad
    samples: list[Progress]
    began: float
    sent_for: float
    drained_after: float
    gateway_cpu: float
    sink_cpu: float
    states: dict[str, int]


async def loaded_run(
    args: argparse.Namespace,
    duration: float,
    sup: Supervisor,
    sink: Sink,
    postgres: PostgresTarget | None = None,
) -> Run:
    """Start a gateway, warm it up, load it for ``duration`` s and let it drain."""
    work = _cli.work_dir("ingest")
    setup, tenant, gateway = await serve_devices(
        sup, work / ("data" if postgres is None else "data-pg"), sink.port,
        Certs.in_dir(_cli.WORK / "certs").ca, devices=USERS,
        overrides=_cli.overrides(args.overrides), postgres=postgres,
    )  # fmt: skip
    probe = probe_for(setup)
    async with client(setup.url, tenant.api_key) as api:
        load = ApiLoad(api, users=USERS)
        await load.post_next()  # warm-up: connections, credential, JWT
        await wait_drained(probe, gateway, sink.child, within=30)
        samples: list[Progress] = []
        sampler = asyncio.create_task(sample_progress(probe, samples))
        cpu0, sink0, began = gateway.cpu_seconds(), sink.cpu_seconds(), time.monotonic()
        with profiling(sup, gateway.pid, args.profile):
            await load.closed(
                duration,
                lambda: probe.progress()[1],
                max_backlog=MAX_BACKLOG,
                in_flight=args.in_flight,
            )
        sent_for = time.monotonic() - began
        await wait_drained(probe, gateway, sink.child, within=120)
        drained_after = time.monotonic() - began
        sampler.cancel()
        cpu, sink_cpu = gateway.cpu_seconds() - cpu0, sink.cpu_seconds() - sink0
    states = probe.states()
    probe.close()
    gateway.stop()
    return Run(load, samples, began, sent_for, drained_after, cpu, sink_cpu, states)


async def main(args: argparse.Namespace) -> None:
    """Run against nghttpd (whole machine, unpinned), then report."""
    duration = args.duration or (3.0 if args.quick else 60.0)
    work = _cli.work_dir("ingest")
    with Supervisor(work / "logs") as sup:
        certs = Certs.in_dir(_cli.WORK / "certs")
        sink = start_nghttpd(sup, _cli.WORK, certs, tokens=USERS, cpus=None)
        runs = {"sqlite": await loaded_run(args, duration, sup, sink)}
        if args.backend == "postgresql":
            with fresh_schema(args.postgres_url) as target:
                runs["postgresql"] = await loaded_run(args, duration, sup, sink, target)
    report(args, runs, duration)


def run_figures(
    key: str, label: str, run: Run, width: float, duration: float, target: float, versus: str
) -> tuple[list[Figure], list[float]]:
    """The sustained rate and the loss check of one run."""
    rates = slice_rates(run.samples, run.began, duration, width)
    accepted = run.load.accepted
    measured = accepted - run.load.batches[0].accepted
    figures = [
        Figure(
            f"{key}_sustained", f"{label}end to end, slowest {width:.0f}-s slice of {duration:.0f} s",
            min(rates), "notifications/s", (">=", target),
            f"mean {number(sum(rates) / len(rates), '/s')}, API accepted "
            f"{number(measured / run.sent_for, '/s')}{versus}",
        ),
        Figure(
            f"{key}_lost", f"{label}accepted but not delivered",
            accepted - run.states.get("delivered", 0), "notifications", ("<=", 0),
            f"{accepted:,} accepted, states {run.states}",
        ),
    ]  # fmt: skip
    return figures, rates


def report(args: argparse.Namespace, runs: dict[str, Run], duration: float) -> None:
    """The sustained rate, the loss check and the CPU per notification (per backend)."""
    width = duration if args.quick else 10.0
    run = runs["sqlite"]
    figures, rates = run_figures("ingest", "", run, width, duration, 10_000, "")
    if "postgresql" in runs:
        sqlite_min = number(min(rates), "/s")
        figures += run_figures(
            "ingest_pg", "PostgreSQL: ", runs["postgresql"], width, duration, 8_000,
            f"; SQLite same run {sqlite_min}",
        )[0]  # fmt: skip
    accepted = run.load.accepted
    measured = accepted - run.load.batches[0].accepted
    cpu_us, sink_us = run.gateway_cpu / measured * 1e6, run.sink_cpu / measured * 1e6
    details = {
        "duration_s": duration,
        "slice_rates": [round(r) for r in rates],
        "accepted": accepted,
        "states": run.states,
        "drained_after_s": round(run.drained_after, 2),
        "gateway_cpu_us_per_notification": round(cpu_us, 1),
        "sink_cpu_us_per_notification": round(sink_us, 1),
        "max_backlog": MAX_BACKLOG,
        "in_flight": args.in_flight,
    }
    if "postgresql" in runs:
        pg = runs["postgresql"]
        details["postgresql"] = {
            "accepted": pg.load.accepted,
            "states": pg.states,
            "gateway_cpu_us_per_notification": round(
                pg.gateway_cpu / (pg.load.accepted - pg.load.batches[0].accepted) * 1e6, 1
            ),
        }
    record("ingest", figures, quick=args.quick, details=details)
    print(
        f"gateway CPU {cpu_us:.0f} µs/notification (API + dispatch + store), sink "
        f"{sink_us:.0f} µs; drained {run.drained_after - run.sent_for:.2f} s after the last batch"
    )


def cli() -> int:
    """Entry point."""
    parser = _cli.parser(__doc__.splitlines()[0], time_limit=600)
    parser.add_argument("--duration", type=float, default=0, help="seconds of load (default 60)")
    parser.add_argument(
        "--in-flight", type=int, default=4, help="batch requests open at once (default 4)"
    )
    _cli.backend_options(parser)
    return _cli.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
