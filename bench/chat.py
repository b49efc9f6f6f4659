"""Chat fan-out on an idle gateway: one message to a 100-member channel, 2 devices each.

The time runs from just before ``POST /v1/chat/messages`` (recipient rules, default
template and badge per receiver, accept) to the arrival of the last of its 200 pushes at the
C timing sink. 20 repetitions, 0.3 s apart; the figure is their median. The same-run
reference is the plain fan-out of ``bench/fanout`` (one ``POST /v1/notifications`` to the
same 100 users), measured the same way in between.

    bench/run chat [--quick] [--repetitions 20]
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
from bench._workload import token, user
from bench.fanout import DEVICES_PER_USER, PAUSE, USERS, last_arrival, one_send

CHANNEL = "bench-channel"
SENDER = user(USERS)


async def setup_channel(api: httpx.AsyncClient) -> None:
    """The channel with the 100 device owners and a sender who has no device."""
    users = [{"id": user(i), "name": f"User {i}"} for i in range(USERS + 1)]
    members = [{"channel_id": CHANNEL, "user_id": user(i)} for i in range(USERS + 1)]
    for path, body in (
        ("/v1/chat/users", {"users": users}),
        ("/v1/chat/channels", {"channels": [{"id": CHANNEL, "name": "bench"}]}),
        ("/v1/chat/members", {"members": members}),
    ):
        response = await api.post(path, json=body)
        if response.status_code != 200:
            raise BenchError(f"{path}: {response.status_code} {response.text[:300]}")


async def one_message(
    api: httpx.AsyncClient, receipts: Receipts, expect: set[str], sequence: int
) -> tuple[float, float]:
    """Post one message; (ms until its last push arrived, ms until the API answered)."""
    body = {
        "id": f"bench-{sequence}",
        "channel_id": CHANNEL,
        "sender_id": SENDER,
        "text": f"Are we still on for lunch? #{sequence:08d}",
    }
    receipts.new()
    sent = time.monotonic_ns()
    response = await api.post("/v1/chat/messages", json=body)
    answered = time.monotonic_ns()
    if response.status_code != 202 or len(response.json()["recipients"]) != USERS:
        raise BenchError(
            f"post refused or incomplete: {response.status_code} {response.text[:300]}"
        )
    last = await last_arrival(receipts, expect)
    return (last - sent) / 1e6, (answered - sent) / 1e6


async def main(args: argparse.Namespace) -> None:
    repetitions = args.repetitions or (5 if args.quick else 20)
    work = _cli.work_dir("chat")
    certs = Certs.in_dir(_cli.WORK / "certs")
    receipts_file = work / "receipts.txt"
    devices = USERS * DEVICES_PER_USER
    expect = {token(i) for i in range(devices)}
    users = [user(i) for i in range(USERS)]
    with Supervisor(work / "logs") as sup:
        sink = start_timing_sink(sup, certs, receipts_file)
        setup, tenant, gateway = await serve_devices(
            sup, work / "data", sink.port, certs.ca, devices=devices, per_user=DEVICES_PER_USER,
            overrides=_cli.overrides(args.overrides),
        )  # fmt: skip
        receipts = Receipts(receipts_file)
        async with client(setup.url, tenant.api_key) as api:
            await setup_channel(api)
            await one_message(api, receipts, expect, 0)  # warm up
            chat, plain, api_ms = [], [], []
            with profiling(sup, gateway.pid, args.profile):
                for rep in range(repetitions):
                    await asyncio.sleep(PAUSE)
                    last, answered = await one_message(api, receipts, expect, rep + 1)
                    chat.append(last)
                    api_ms.append(answered)
                    await asyncio.sleep(PAUSE)
                    last, _ = await one_send(api, receipts, users, expect, rep + 1)
                    plain.append(last)
    figures = [
        Figure(
            "chat_fanout_p50", f"chat message to 100 members x 2 devices: last push, p50 of {repetitions}",
            statistics.median(chat), "ms", ("<=", 30.0),
            f"plain fan-out to the same devices p50 {number(statistics.median(plain), 'ms')}; "
            f"API answer p50 {number(statistics.median(api_ms), 'ms')}",
        ),
    ]  # fmt: skip
    details = {
        "chat_ms": [round(v, 2) for v in chat],
        "plain_ms": [round(v, 2) for v in plain],
        "api_answer_ms": [round(v, 2) for v in api_ms],
    }
    record("chat", figures, quick=args.quick, details=details)


def cli() -> int:
    """Entry point."""
    parser = _cli.parser(__doc__.splitlines()[0], time_limit=180)
    parser.add_argument("--repetitions", type=int, default=0, help="default 20 (quick 5)")
    return _cli.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
