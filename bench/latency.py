"""Latency at half the end-to-end target load: API accept -> arrival at the sink, p50 and p99.

Batches of 1,000 notifications are paced at 5,000 notifications/s (half the 10,000/s
target) for 30 s against the C timing sink, which stamps each request's arrival with
CLOCK_MONOTONIC. The figure runs from the accept (the client receiving the batch's 202,
sent once the batch is durable) to the notification's arrival at the sink; a push can beat
the 202 to its destination, so single values may be negative. The reference runs from the
moment the batch request was sent, so it adds parsing and the durable write. Arrivals are
matched to sends per device token, in order. The first 2 s are warm-up and not counted.
Every accepted notification must arrive exactly once.

    bench/run latency [--quick] [--rate 5000] [--duration 30]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict, deque
from dataclasses import dataclass, field

from bench import _cli
from bench._gateway import probe_for, serve_devices, wait_drained
from bench._load import ApiLoad, Batch, client
from bench._procs import Supervisor, profiling
from bench._report import Figure, number, record
from bench._sinks import Certs, Receipts, start_timing_sink
from bench._workload import token

USERS = 50_000


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def match(
    batches: list[Batch], arrivals: list[tuple[int, str]], users: int
) -> tuple[dict[int, int], int]:
    """Arrival ns per notification number, matched per token in order; plus unmatched arrivals."""
    sent: dict[str, deque[int]] = defaultdict(deque)
    for batch in sorted(batches, key=lambda b: b.first):
        for k in range(batch.first, batch.first + batch.count):
            sent[token(k % users)].append(k)
    arrived: dict[int, int] = {}
    extra = 0
    for at, device in sorted(arrivals):
        queue = sent.get(device)
        if queue:
            arrived[queue.popleft()] = at
        else:
            extra += 1
    return arrived, extra


async def main(args: argparse.Namespace) -> None:
    """Pace the load, collect arrivals, match, report."""
    duration = args.duration or (2.0 if args.quick else 30.0)
    warmup_ns = int((0.5 if args.quick else 2.0) * 1e9)
    work = _cli.work_dir("latency")
    certs = Certs.in_dir(_cli.WORK / "certs")
    receipts_file = work / "receipts.txt"
    with Supervisor(work / "logs") as sup:
        sink = start_timing_sink(sup, certs, receipts_file)
        setup, tenant, gateway = await serve_devices(
            sup, work / "data", sink.port, certs.ca, devices=USERS,
            overrides=_cli.overrides(args.overrides),
        )  # fmt: skip
        probe = probe_for(setup)
        receipts = Receipts(receipts_file)
        async with client(setup.url, tenant.api_key) as api:
            load = ApiLoad(api, users=USERS)
            cpu0, sink0 = gateway.cpu_seconds(), sink.cpu_seconds()
            with profiling(sup, gateway.pid, args.profile):
                await load.paced(args.rate, duration)
            await wait_drained(probe, gateway, sink.child, within=60)
            cpu, sink_cpu = gateway.cpu_seconds() - cpu0, sink.cpu_seconds() - sink0
        probe.close()
        sink.child.stop()
        arrivals = receipts.new()
    report(args, load.batches, arrivals, warmup_ns, cpu, sink_cpu)


@dataclass
class Latencies:
    """Per-notification latencies (ms) after the warm-up, and what never matched."""

    from_accept: list[float] = field(default_factory=list)
    from_call: list[float] = field(default_factory=list)
    missing: int = 0
    duplicates: int = 0


def latencies(batches: list[Batch], arrivals: list[tuple[int, str]], warmup_ns: int) -> Latencies:
    """Match arrivals to notifications; latencies of those sent after the warm-up."""
    arrived, extra = match(batches, arrivals, USERS)
    start = min(b.sent_ns for b in batches) + warmup_ns
    found = Latencies(duplicates=extra)
    for batch in batches:
        for k in range(batch.first, batch.first + batch.count):
            at = arrived.get(k)
            if at is None:
                found.missing += 1
            elif batch.sent_ns >= start:
                found.from_accept.append((at - batch.answered_ns) / 1e6)
                found.from_call.append((at - batch.sent_ns) / 1e6)
    return found


def report(
    args: argparse.Namespace,
    batches: list[Batch],
    arrivals: list[tuple[int, str]],
    warmup_ns: int,
    cpu: float,
    sink_cpu: float,
) -> None:
    """Latency percentiles and the exactly-once check."""
    found = latencies(batches, arrivals, warmup_ns)
    total = sum(b.accepted for b in batches)
    accepted_rate = total / ((max(b.answered_ns for b in batches) - batches[0].sent_ns) / 1e9)
    if accepted_rate < 0.95 * args.rate:
        print(
            f"note: the API accepted only {accepted_rate:,.0f}/s of the {args.rate:,.0f}/s "
            "offered, so these latencies include queueing in an overloaded gateway"
        )

    def figure(key: str, fraction: float, target: float) -> Figure:
        return Figure(
            key, f"API accept -> sink, p{fraction * 100:.0f} at {args.rate:,.0f}/s",
            percentile(found.from_accept, fraction), "ms", ("<=", target),
            f"from the API call {number(percentile(found.from_call, fraction), 'ms')}; "
            f"accepted {number(accepted_rate, '/s')}",
        )  # fmt: skip

    lost = Figure(
        "latency_lost_or_duplicated", "missing + duplicate arrivals at the sink",
        found.missing + found.duplicates, "notifications", ("<=", 0),
        f"{total:,} accepted, {len(arrivals):,} arrived",
    )  # fmt: skip
    details = {
        "rate": args.rate,
        "accepted_rate": round(accepted_rate),
        "counted": len(found.from_accept),
        "min_ms": round(min(found.from_accept), 2),
        "max_ms": round(max(found.from_accept), 2),
        "missing": found.missing,
        "duplicates": found.duplicates,
        "gateway_cpu_us_per_notification": round(cpu / total * 1e6, 1),
        "sink_cpu_us_per_notification": round(sink_cpu / total * 1e6, 1),
    }
    figures = [figure("latency_p50", 0.5, 20.0), figure("latency_p99", 0.99, 150.0), lost]
    record("latency", figures, quick=args.quick, details=details)


def cli() -> int:
    """Entry point."""
    parser = _cli.parser(__doc__.splitlines()[0], time_limit=300)
    parser.add_argument("--rate", type=float, default=5000, help="notifications/s (default 5000)")
    parser.add_argument("--duration", type=float, default=0, help="seconds of load (default 30)")
    return _cli.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
