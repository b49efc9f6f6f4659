"""Fan-out on an idle gateway: one notification to 100 users with 2 devices each.

The time runs from just before the API call (POST /v1/notifications with 100 user ids) to
the arrival of the last of its 200 pushes at the C timing sink (CLOCK_MONOTONIC on both
sides). 20 repetitions, 0.3 s apart so the gateway is idle at each call; the figure is their
median. The same-run reference is the median of single-device notifications measured the
same way.

    bench/run fanout [--quick] [--repetitions 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time

import httpx

from bench import _cli
from bench._gateway import serve_devices
from bench._load import client
from bench._procs import BenchError, Supervisor, profiling
from bench._report import Figure, number, record
from bench._sinks import Certs, Receipts, start_timing_sink
from bench._workload import message_fields, token, user

USERS = 100
DEVICES_PER_USER = 2
PAUSE = 0.3


async def one_send(
    api: httpx.AsyncClient, receipts: Receipts, users: list[str], expect: set[str], sequence: int
) -> tuple[float, float]:
    """Send one notification; (ms until its last push arrived, ms until the API answered)."""
    body = {**message_fields(sequence), "user_ids": users}
    receipts.new()
    sent = time.monotonic_ns()
    response = await api.post("/v1/notifications", json=body)
    answered = time.monotonic_ns()
    if response.status_code != 202 or response.json()["deliveries"] != len(expect):
        raise BenchError(
            f"send refused or incomplete: {response.status_code} {response.text[:300]}"
        )
    last = await last_arrival(receipts, expect)
    return (last - sent) / 1e6, (answered - sent) / 1e6


async def last_arrival(receipts: Receipts, expect: set[str]) -> int:
    """When (monotonic ns) the last of the ``expect``ed devices' pushes reached the sink."""
    waiting, last = set(expect), 0
    deadline = time.monotonic() + 10
    while waiting:
        if time.monotonic() > deadline:
            raise BenchError(f"{len(waiting)} of {len(expect)} pushes never reached the sink")
        for at, device in receipts.new():
            if device in waiting:
                waiting.discard(device)
                last = max(last, at)
        await asyncio.sleep(0.001)
    return last


async def repeat(
    api: httpx.AsyncClient, receipts: Receipts, repetitions: int
) -> tuple[list[float], list[float], list[float]]:
    """Alternate fan-outs and single sends; (fan-out ms, single ms, fan-out API answer ms)."""
    devices = USERS * DEVICES_PER_USER
    fan_users = [user(i) for i in range(USERS)]
    fan_tokens = {token(i) for i in range(devices)}
    single_user, single_tokens = [user(USERS)], {token(devices)}
    fan, single, api_ms = [], [], []
    for rep in range(repetitions):
        await asyncio.sleep(PAUSE)
        last, answered = await one_send(api, receipts, fan_users, fan_tokens, 2 * rep + 1)
        fan.append(last)
        api_ms.append(answered)
        await asyncio.sleep(PAUSE)
        last, _ = await one_send(api, receipts, single_user, single_tokens, 2 * rep + 2)
        single.append(last)
    return fan, single, api_ms


async def main(args: argparse.Namespace) -> None:
    """Warm up, then time fan-outs and single sends alternately."""
    repetitions = args.repetitions or (5 if args.quick else 20)
    work = _cli.work_dir("fanout")
    certs = Certs.in_dir(_cli.WORK / "certs")
    receipts_file = work / "receipts.txt"
    with Supervisor(work / "logs") as sup:
        sink = start_timing_sink(sup, certs, receipts_file)
        setup, tenant, gateway = await serve_devices(
            sup, work / "data", sink.port, certs.ca, devices=USERS * DEVICES_PER_USER + 1,
            per_user=DEVICES_PER_USER, overrides=_cli.overrides(args.overrides),
        )  # fmt: skip
        receipts = Receipts(receipts_file)
        async with client(setup.url, tenant.api_key) as api:
            warm_tokens = {token(i) for i in range(USERS * DEVICES_PER_USER)}
            await one_send(api, receipts, [user(i) for i in range(USERS)], warm_tokens, 0)
            with profiling(sup, gateway.pid, args.profile):
                fan, single, api_ms = await repeat(api, receipts, repetitions)
    figures = [
        Figure(
            "fanout_p50", f"fan-out 100 users x 2 devices: last push, p50 of {repetitions}",
            statistics.median(fan), "ms", ("<=", 50.0),
            f"1 device p50 {number(statistics.median(single), 'ms')}; API answer p50 "
            f"{number(statistics.median(api_ms), 'ms')}",
        ),
    ]  # fmt: skip
    details = {
        "fanout_ms": [round(v, 2) for v in fan],
        "single_ms": [round(v, 2) for v in single],
        "api_answer_ms": [round(v, 2) for v in api_ms],
    }
    record("fanout", figures, quick=args.quick, details=details)


def cli() -> int:
    """Entry point."""
    parser = _cli.parser(__doc__.splitlines()[0], time_limit=180)
    parser.add_argument("--repetitions", type=int, default=0, help="default 20 (quick 5)")
    return _cli.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
