"""Chat throughput: messages/s to 10-member channels end to end, every push arriving once.

1,000 channels of 10 members, every member with one device. Each ``POST /v1/chat/messages``
(one message per request, as chat servers post them; Stream's API has no batch send) goes
to the next channel, from the next member in turn, so it makes 9 pushes through the recipient
rules, the default template with a badge per receiver, and the durable accept. 64 keep-alive
HTTP/1.1 connections post closed-loop (``bench/_http1.py``: httpx would measure itself)
for 15 s. The figure is the slower of the answered rate and the rate at which their pushes
reached the C timing sink, over the same window; every device must get exactly the pushes its
user's messages called for. The same-run reference is the plain fan-out of the same load:
``POST /v1/notifications`` to the same 9 users per request, measured the same way just before.

    bench/run chat-throughput [--quick] [--connections 64] [--duration 15] [--backend postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from bench import _cli
from bench._gateway import Probe, probe_for, serve_devices, wait_drained
from bench._http1 import Exchange, closed_loop, request_bytes
from bench._load import client
from bench._postgres import fresh_schema
from bench._procs import BenchError, Child, Supervisor, profiling
from bench._report import Figure, number, record
from bench._sinks import Certs, Receipts, start_timing_sink
from bench._workload import message_fields, token, user
from bench.latency import percentile

MEMBERS = 10
UPSERT_CHUNK = 1_000


def channel(index: int) -> str:
    return f"room-{index:06d}"


def members_of(index: int) -> list[int]:
    """The user numbers of channel ``index`` (user n owns device token n)."""
    return list(range(index * MEMBERS, (index + 1) * MEMBERS))


@dataclass(frozen=True, slots=True)
class Load:
    """Which message request ``number`` posts: its channel, sender and receivers."""

    channels: int

    def sender_and_receivers(self, number: int) -> tuple[int, int, list[int]]:
        room = number % self.channels
        members = members_of(room)
        sender = members[(number // self.channels) % MEMBERS]
        return room, sender, [m for m in members if m != sender]

    def chat_body(self, number: int) -> bytes:
        room, sender, _ = self.sender_and_receivers(number)
        return orjson.dumps(
            {
                "id": f"m-{number:010d}",
                "channel_id": channel(room),
                "sender_id": user(sender),
                "text": f"Are we still on for lunch? #{number:08d}",
            }
        )

    def plain_body(self, number: int) -> bytes:
        _, _, receivers = self.sender_and_receivers(number)
        return orjson.dumps({**message_fields(number), "user_ids": [user(r) for r in receivers]})

    def expected(self, answered: int) -> Counter[str]:
        """Pushes per device token for requests 0..answered-1."""
        counts: Counter[str] = Counter()
        for request in range(answered):
            counts.update(token(r) for r in self.sender_and_receivers(request)[2])
        return counts


async def setup_channels(url: str, api_key: str, channels: int) -> None:
    """Users, channels and members through the chat API, in its batch sizes."""
    users = [{"id": user(i), "name": f"User {i}"} for i in range(channels * MEMBERS)]
    rooms = [{"id": channel(c), "name": f"room {c}"} for c in range(channels)]
    members = [{"channel_id": channel(c), "user_id": user(m)}
               for c in range(channels) for m in members_of(c)]  # fmt: skip
    async with client(url, api_key) as api:
        for path, key, records in (
            ("/v1/chat/users", "users", users),
            ("/v1/chat/channels", "channels", rooms),
            ("/v1/chat/members", "members", members),
        ):
            for first in range(0, len(records), UPSERT_CHUNK):
                response = await api.post(path, json={key: records[first : first + UPSERT_CHUNK]})
                if response.status_code != 200:
                    raise BenchError(f"{path}: {response.status_code} {response.text[:300]}")


@dataclass(frozen=True, slots=True)
class Phase:
    """One closed-loop run and what reached the sink for it."""

    done: list[Exchange]
    arrivals: list[tuple[int, str]]
    cpu_seconds: float

    def rates(self) -> tuple[float, float]:
        """(requests answered /s, requests' pushes arrived /s as requests)."""
        start = min(e.sent_ns for e in self.done)
        answered = len(self.done) / ((max(e.answered_ns for e in self.done) - start) / 1e9)
        last = max(at for at, _ in self.arrivals)
        arrived = len(self.arrivals) / (MEMBERS - 1) / ((last - start) / 1e9)
        return answered, arrived


@dataclass(frozen=True, slots=True)
class Rig:
    """The running gateway, its sink and how to watch them."""

    port: int
    gateway: Child
    sink: Child
    probe: Probe
    receipts: Receipts
    connections: int
    duration: float


async def run_phase(rig: Rig, make: Callable[[int], bytes]) -> Phase:
    """Post closed-loop for the duration, wait until every push is sent, collect arrivals."""
    rig.receipts.new()
    cpu0 = rig.gateway.cpu_seconds()
    done = await closed_loop(rig.port, make, connections=rig.connections, duration=rig.duration)
    await wait_drained(rig.probe, rig.gateway, rig.sink, within=120)
    cpu = rig.gateway.cpu_seconds() - cpu0
    await asyncio.sleep(0.1)  # the sink flushes its receipts every 20 ms
    bad = [e for e in done if e.status != 202]
    if bad:
        raise BenchError(f"{len(bad)} requests answered {bad[0].status}: {bad[0].body[:300]!r}")
    return Phase(sorted(done, key=lambda e: e.number), rig.receipts.new(), cpu)


def check_every_push(load: Load, phase: Phase, label: str) -> int:
    """How many pushes were lost or duplicated (0 expected); raises on other answers."""
    numbers = [e.number for e in phase.done]
    if numbers != list(range(len(numbers))):
        raise BenchError(f"{label}: request numbers are not contiguous")
    expected = load.expected(len(phase.done))
    got = Counter(device for _, device in phase.arrivals)
    return sum(((expected - got) + (got - expected)).values())


async def main(args: argparse.Namespace) -> None:
    channels = 100 if args.quick else 1_000
    duration = args.duration or (1.5 if args.quick else 15.0)
    load = Load(channels)
    work = _cli.work_dir("chat_throughput")
    certs = Certs.in_dir(_cli.WORK / "certs")
    receipts_file = work / "receipts.txt"
    schema = (
        fresh_schema(args.postgres_url)
        if args.backend == "postgresql"
        else contextlib.nullcontext(None)
    )
    with schema as postgres, Supervisor(work / "logs") as sup:
        sink = start_timing_sink(sup, certs, receipts_file)
        setup, tenant, gateway = await serve_devices(
            sup, work / "data", sink.port, certs.ca, devices=channels * MEMBERS,
            overrides=_cli.overrides(args.overrides), postgres=postgres,
        )  # fmt: skip
        await setup_channels(setup.url, tenant.api_key, channels)
        rig = Rig(
            setup.api_port, gateway, sink.child, probe_for(setup), Receipts(receipts_file),
            args.connections, duration,
        )  # fmt: skip
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {tenant.api_key}",
        }
        plain = await run_phase(
            rig, lambda n: request_bytes("/v1/notifications", load.plain_body(n), headers)
        )
        with profiling(sup, gateway.pid, args.profile):
            chat = await run_phase(
                rig, lambda n: request_bytes("/v1/chat/messages", load.chat_body(n), headers)
            )
        rig.probe.close()
    answered = [orjson.loads(e.body) for e in chat.done[:50]]
    if any(len(a["recipients"]) != MEMBERS - 1 for a in answered):
        raise BenchError(f"a message did not reach its 9 receivers: {answered[0]}")
    chat_answered, chat_arrived = chat.rates()
    plain_answered, plain_arrived = plain.rates()
    chat_rate = min(chat_answered, chat_arrived)
    plain_rate = min(plain_answered, plain_arrived)
    lost = check_every_push(load, chat, "chat") + check_every_push(load, plain, "plain")
    answer_ms = [(e.answered_ns - e.sent_ns) / 1e6 for e in chat.done]
    backend = f" on {args.backend}" if args.backend != "sqlite" else ""
    figures = [
        Figure(
            "chat_messages_rate",
            f"chat messages/s to 10-member channels end to end{backend}, "
            f"{args.connections} connections",
            chat_rate, "/s", (">=", 3000),
            f"plain fan-out of the same load {number(plain_rate, '/s')}; chat answered "
            f"{number(chat_answered, '/s')}, pushes at the sink "
            f"{number(chat_arrived * (MEMBERS - 1), '/s')}",
        ),
        Figure(
            "chat_pushes_lost_or_duplicated", "pushes missing or extra, chat and plain runs",
            lost, "pushes", ("<=", 0),
            f"{len(chat.done):,} messages, {len(chat.arrivals):,} pushes arrived",
        ),
    ]  # fmt: skip
    details = {
        "backend": args.backend,
        "connections": args.connections,
        "channels": channels,
        "messages": len(chat.done),
        "plain_requests": len(plain.done),
        "chat_answer_p50_ms": round(percentile(answer_ms, 0.5), 2),
        "chat_answer_p99_ms": round(percentile(answer_ms, 0.99), 2),
        "gateway_cpu_us_per_message": round(chat.cpu_seconds / len(chat.done) * 1e6, 1),
        "gateway_cpu_us_per_plain_request": round(plain.cpu_seconds / len(plain.done) * 1e6, 1),
    }
    record("chat_throughput", figures, quick=args.quick, details=details)


def cli() -> int:
    """Entry point."""
    parser = _cli.parser(__doc__.splitlines()[0], time_limit=300)
    _cli.backend_options(parser)
    parser.add_argument("--connections", type=int, default=64, help="HTTP connections (64)")
    parser.add_argument("--duration", type=float, default=0, help="seconds per phase (15)")
    return _cli.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
