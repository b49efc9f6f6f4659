"""Gateway memory with 1,000,000 registered devices, idle and under the dispatch load.

Devices are bulk-inserted into the store. The gateway is started once with an empty outbox
(the idle reference), then again on the dispatch benchmark's outbox (200,000 deliveries,
same pinning: gateway on core 0, nghttpd on core 1); the figure is its peak RSS (VmHWM)
while it drains that outbox. Both are measured in this run.

    bench/run memory [--quick] [--devices 1000000] [--deliveries 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from bench import _cli
from bench._gateway import (
    GatewaySetup,
    create_tenant,
    fresh_data_dir,
    insert_devices,
    preload_outbox,
    start_gateway,
)
from bench._procs import Supervisor
from bench._report import Figure, number, record
from bench._sinks import Certs, start_nghttpd
from bench.dispatch import TOKEN_POOL, Pinning, drain

MB = 2**20


async def idle_rss_bytes(sup: Supervisor, setup: GatewaySetup, pins: Pinning) -> int:
    """RSS of the gateway 2 s after start, with nothing to send; stops it again."""
    idle = start_gateway(sup, setup, cpus=pins.gateway)
    await asyncio.sleep(2)
    rss = idle.rss_bytes()
    sup.stop(idle)
    return rss


async def main(args: argparse.Namespace) -> None:
    """Register the devices, measure idle, preload, measure under load."""
    devices = args.devices or (20_000 if args.quick else 1_000_000)
    deliveries = args.deliveries or (5_000 if args.quick else 200_000)
    work = _cli.work_dir("memory")
    certs = Certs.in_dir(_cli.WORK / "certs")
    pins = Pinning.apart()
    with Supervisor(work / "logs") as sup:
        sink = start_nghttpd(sup, _cli.WORK, certs, tokens=TOKEN_POOL, cpus=pins.sink)
        overrides = _cli.overrides(args.overrides)
        setup = GatewaySetup(
            fresh_data_dir(work / "data"), sink.port, certs.ca, overrides=overrides
        )
        tenant = await create_tenant(setup)
        began = time.monotonic()
        insert_devices(setup, tenant.app_id, devices)
        insert_s = time.monotonic() - began
        idle_rss = await idle_rss_bytes(sup, setup, pins)
        await preload_outbox(
            setup, tenant.app_id, deliveries=deliveries, per_notification=1,
            token_pool=min(TOKEN_POOL, devices),
        )  # fmt: skip
        run = await drain(
        sup, [setup], sink, deliveries=deliveries, cpus=pins.gateway, profile=args.profile,
        profile_cpus=pins.sink,
    )  # fmt: skip
    db_mb = setup.settings().database_path.stat().st_size / MB
    figures = [
        Figure(
            "memory_peak_rss", f"gateway peak RSS, {devices:,} devices, draining {deliveries:,}",
            run.peak_rss / MB, "MB", ("<=", 200.0),
            f"idle with the same devices {number(idle_rss / MB, 'MB')}; dispatch "
            f"{number(run.rate, '/s')} in this run",
        ),
    ]  # fmt: skip
    details = {
        "devices": devices,
        "device_insert_s": round(insert_s, 1),
        "database_mb": round(db_mb, 1),
        "idle_rss_mb": round(idle_rss / MB, 1),
        **run.details(),
    }
    record("memory", figures, quick=args.quick, details=details)


def cli() -> int:
    """Entry point."""
    parser = _cli.parser(__doc__.splitlines()[0], time_limit=900)
    parser.add_argument("--devices", type=int, default=0, help="default 1,000,000 (quick 20,000)")
    parser.add_argument("--deliveries", type=int, default=0, help="default 200,000 (quick 5,000)")
    return _cli.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
