"""Matrix front door: notify requests/s end to end, one notification per request, 64 connections.

What Synapse sends: one device per request, canonical JSON, over keep-alive HTTP/1.1. 64
connections post closed-loop for 15 s; every notify is answered only after its push is
durable and the push service (the C timing sink) has answered, since the answer must say
which pushkeys are dead. The figure is the slower of the answered rate and the rate of
arrivals at the sink over the same window. Every answered push must reach the sink once.

    bench/run matrix [--quick] [--connections 64] [--duration 15]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time

from bench import _cli
from bench._gateway import probe_for, serve_devices, wait_drained
from bench._http1 import closed_loop, request_bytes
from bench._procs import BenchError, Supervisor, profiling
from bench._report import Figure, number, record
from bench._sinks import Certs, Receipts, start_timing_sink
from bench._workload import token
from bench.latency import percentile

APP_ID = "com.example.chat.ios"
TOKENS = 10_000
DOOR = {"app_ids": {APP_ID: {"app": "bench", "platform": "apns", "credential": "production"}}}
HEADERS = {"Content-Type": "application/json", "User-Agent": "Synapse/1.163.2"}


def notify_body(number: int) -> bytes:
    """Synapse's full-format notify for event ``number`` to device token ``number % TOKENS``."""
    device = {
        "app_id": APP_ID,
        "data": {},
        "pushkey": base64.b64encode(bytes.fromhex(token(number % TOKENS))).decode(),
        "pushkey_ts": 1767225600,
        "tweaks": {"sound": "default"},
    }
    event = f"$event{number:012d}"
    notification = {
        "content": {"body": f"Are we still on for lunch? #{number:08d}", "msgtype": "m.text"},
        "counts": {"unread": 3},
        "devices": [device],
        "event_id": event,
        "id": event,
        "prio": "high",
        "room_id": "!lobby:example.org",
        "room_name": "Lobby",
        "sender": "@ada:example.org",
        "sender_display_name": "Ada",
        "type": "m.room.message",
    }
    return json.dumps(
        {"notification": notification}, sort_keys=True, separators=(",", ":")
    ).encode()


async def main(args: argparse.Namespace) -> None:
    duration = args.duration or (2.0 if args.quick else 15.0)
    work = _cli.work_dir("matrix")
    certs = Certs.in_dir(_cli.WORK / "certs")
    receipts_file = work / "receipts.txt"
    with Supervisor(work / "logs") as sup:
        sink = start_timing_sink(sup, certs, receipts_file)
        overrides = {**_cli.overrides(args.overrides), "matrix": DOOR}
        setup, _, gateway = await serve_devices(
            sup, work / "data", sink.port, certs.ca, devices=0, overrides=overrides
        )
        probe = probe_for(setup)
        receipts = Receipts(receipts_file)

        def make(number: int) -> bytes:
            return request_bytes("/_matrix/push/v1/notify", notify_body(number), HEADERS)

        cpu0, api_cpu0 = gateway.cpu_seconds(), gateway.cpu_seconds(descendants=False)
        client_cpu0 = time.process_time()
        with profiling(sup, gateway.pid, args.profile):
            done = await closed_loop(
                setup.api_port, make, connections=args.connections, duration=duration
            )
        client_cpu = time.process_time() - client_cpu0
        await wait_drained(probe, gateway, sink.child, within=60)
        cpu = gateway.cpu_seconds() - cpu0
        api_cpu = gateway.cpu_seconds(descendants=False) - api_cpu0
        states = probe.states()
        probe.close()
        await asyncio.sleep(0.1)  # the sink flushes its receipts every 20 ms
        arrivals = receipts.new()
    bad = [e for e in done if e.status != 200 or e.body != b'{"rejected":[]}']
    if bad:
        raise BenchError(f"{len(bad)} notifies answered {bad[0].status} {bad[0].body!r}")
    start = min(e.sent_ns for e in done)
    answered_rate = len(done) / ((max(e.answered_ns for e in done) - start) / 1e9)
    arrival_rate = len(arrivals) / ((max(at for at, _ in arrivals) - start) / 1e9)
    answer_ms = [(e.answered_ns - e.sent_ns) / 1e6 for e in done]
    lost = len(done) - len(arrivals)
    figures = [
        Figure(
            "matrix_notify_rate", f"notify requests/s end to end, {args.connections} connections",
            min(answered_rate, arrival_rate), "/s", (">=", 5000),
            f"answered {number(answered_rate, '/s')}, at the sink {number(arrival_rate, '/s')}",
        ),
        Figure(
            "matrix_lost_or_duplicated", "answered notifies minus pushes at the sink",
            abs(lost), "notifications", ("<=", 0),
            f"{len(done):,} answered, {len(arrivals):,} arrived",
        ),
    ]  # fmt: skip
    details = {
        "connections": args.connections,
        "answered": len(done),
        "answer_p50_ms": round(percentile(answer_ms, 0.5), 2),
        "answer_p99_ms": round(percentile(answer_ms, 0.99), 2),
        "gateway_cpu_us_per_notify": round(cpu / len(done) * 1e6, 1),
        "api_process_cpu_us_per_notify": round(api_cpu / len(done) * 1e6, 1),
        "client_cpu_us_per_notify": round(client_cpu / len(done) * 1e6, 1),
        "states": states,
    }
    record("matrix", figures, quick=args.quick, details=details)


def cli() -> int:
    """Entry point."""
    parser = _cli.parser(__doc__.splitlines()[0], time_limit=240)
    parser.add_argument("--connections", type=int, default=64, help="HTTP connections (64)")
    parser.add_argument("--duration", type=float, default=0, help="seconds of load (default 15)")
    return _cli.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
