"""Mattermost front door: send_push answer time at 1,000 requests/s against the sink's own.

The Mattermost server posts one send_push per push (no Content-Type, Go's compact JSON) and
waits for the verdict. Requests are paced at 1,000/s for 15 s over up to 64 keep-alive
connections (the server keeps at most NumCPU x 8 in flight); each answer comes after the push
is durable and the C timing sink answered it. Answer time runs from when a request was due
(so waiting for a free connection counts). The reference is the sink's own answer time:
h2load, one connection, one request at a time, the same APNs request. Every answer must be
OK and every push must reach the sink once. Five warm-up requests go first and are not
counted; the first one's answer time (the gateway's cold start) is reported beside the p50.

    bench/run mattermost [--quick] [--rate 1000] [--duration 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bench import _cli
from bench._gateway import probe_for, serve_devices, wait_drained
from bench._http1 import paced, request_bytes
from bench._procs import BenchError, Supervisor, profiling
from bench._report import Figure, number, record
from bench._sinks import Certs, Receipts, h2load, start_timing_sink
from bench._workload import apns_body, token
from bench.latency import percentile

SECRET = "bench-url-secret-0123456789"
TOKENS = 10_000
DOOR = {
    "app": "bench",
    "url_secret": SECRET,
    "platforms": {"apple_rn": {"platform": "apns", "credential": "production"}},
}
HEADERS = {"User-Agent": "Mattermost-Bot/1.1"}
OK = b'{"status":"OK"}\n'
WARM_UP = 900_000_000
"""Numbers of the warm-up requests (apart from the measured ones, which count from 0)."""


def send_push_body(number: int) -> bytes:
    """A post notification as the server marshals it, to device token ``number % TOKENS``."""
    push = {
        "ack_id": f"{number:026d}",
        "platform": "apple_rn-v2",
        "server_id": "benchserver",
        "device_id": token(number % TOKENS),
        "post_id": f"post{number:010d}",
        "category": "CAN_REPLY",
        "message": f"ada: Are we still on for lunch? #{number:08d}",
        "badge": 3,
        "team_id": "team1",
        "channel_id": "channel1",
        "channel_name": "Town Square",
        "type": "message",
        "sender_id": "ada",
        "sender_name": "ada",
        "version": "v2",
        "is_crt_enabled": False,
        "is_id_loaded": False,
        "signature": "NO_SIGNATURE",
    }
    return json.dumps(push, separators=(",", ":")).encode()


async def main(args: argparse.Namespace) -> None:
    duration = args.duration or (2.0 if args.quick else 15.0)
    work = _cli.work_dir("mattermost")
    certs = Certs.in_dir(_cli.WORK / "certs")
    receipts_file = work / "receipts.txt"
    body_file = work / "apns-body.json"
    body_file.write_bytes(apns_body())
    with Supervisor(work / "logs") as sup:
        sink = start_timing_sink(sup, certs, receipts_file)
        overrides = {**_cli.overrides(args.overrides), "mattermost": [DOOR]}
        setup, tenant, gateway = await serve_devices(
            sup, work / "data", sink.port, certs.ca, devices=0, overrides=overrides
        )
        reference = h2load(
            sink.port, requests=500 if args.quick else 3000, body=body_file,
            authorization=tenant.authorization, tokens=100, cpus=None,
            log=work / "logs" / "h2load.log", streams=1,
        )  # fmt: skip
        receipts = Receipts(receipts_file)
        probe = probe_for(setup)
        path = f"/mm/{SECRET}/api/v1/send_push"

        def make(number: int) -> bytes:
            return request_bytes(path, send_push_body(number), HEADERS)

        # Warm-up, not counted: the gateway's first push loads the credential, signs a JWT
        # and opens the APNs connection (about 0.4 s here), once per start; paced requests
        # would queue behind it. Its answer time is reported on its own.
        warm = await paced(
            setup.api_port, lambda n: make(WARM_UP + n), rate=10, duration=0.5, connections=1
        )
        await wait_drained(probe, gateway, sink.child, within=60)
        await asyncio.sleep(0.1)  # the sink flushes its receipts every 20 ms
        receipts.new()  # h2load's and the warm-up's requests are not counted
        cpu0, api_cpu0 = gateway.cpu_seconds(), gateway.cpu_seconds(descendants=False)
        with profiling(sup, gateway.pid, args.profile):
            done = await paced(
                setup.api_port, make, rate=args.rate, duration=duration, connections=64
            )
        await wait_drained(probe, gateway, sink.child, within=60)
        cpu = gateway.cpu_seconds() - cpu0
        api_cpu = gateway.cpu_seconds(descendants=False) - api_cpu0
        probe.close()
        await asyncio.sleep(0.1)  # the sink flushes its receipts every 20 ms
        arrivals = receipts.new()
    bad = [e for e in [*warm, *done] if e.body != OK]
    if bad:
        raise BenchError(f"{len(bad)} answers were not OK, e.g. {bad[0].body!r}")
    answer_ms = [(e.answered_ns - e.sent_ns) / 1e6 for e in done]
    cold_ms = (warm[0].answered_ns - warm[0].sent_ns) / 1e6
    sink_ms = reference.mean_request_ms or 0.0
    p50, p99 = percentile(answer_ms, 0.5), percentile(answer_ms, 0.99)
    figures = [
        Figure(
            "mattermost_p50_over_sink", f"send_push answer p50 minus the sink's, {args.rate:,.0f}/s",
            p50 - sink_ms, "ms", ("<=", 5.0),
            f"p50 {number(p50, 'ms')}; sink alone (h2load mean) {number(sink_ms, 'ms')}; "
            f"first answer after start (warm-up) {number(cold_ms, 'ms')}",
        ),
        Figure(
            "mattermost_p99", f"send_push answer p99 at {args.rate:,.0f}/s", p99, "ms",
            ("<=", 50.0), f"sink alone (h2load mean) {number(sink_ms, 'ms')}",
        ),
        Figure(
            "mattermost_lost_or_duplicated", "OK answers minus pushes at the sink",
            abs(len(done) - len(arrivals)), "notifications", ("<=", 0),
            f"{len(done):,} answered, {len(arrivals):,} arrived",
        ),
    ]  # fmt: skip
    details = {
        "cold_first_answer_ms": round(cold_ms, 2),
        "rate": args.rate,
        "answered": len(done),
        "answer_max_ms": round(max(answer_ms), 2),
        "gateway_cpu_us_per_push": round(cpu / len(done) * 1e6, 1),
        "api_process_cpu_us_per_push": round(api_cpu / len(done) * 1e6, 1),
    }
    record("mattermost", figures, quick=args.quick, details=details)


def cli() -> int:
    """Entry point."""
    parser = _cli.parser(__doc__.splitlines()[0], time_limit=240)
    parser.add_argument("--rate", type=float, default=1000, help="send_push/s (default 1000)")
    parser.add_argument("--duration", type=float, default=0, help="seconds of load (default 15)")
    return _cli.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
