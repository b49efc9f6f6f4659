"""The gateway under test: its store prepared in-process, then ``pushgate serve`` as a child.

Set-up goes through the real store and registry (app, encrypted token credential, outbox
rows), except devices, which are bulk-inserted with plain SQL so a million take seconds.
The gateway then runs as the production command, ``pushgate serve --config bench.toml``;
progress is read from its store through a separate connection (``probe_for``). With
``GatewaySetup.postgres`` the store is a fresh PostgreSQL schema instead of the SQLite file.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import tomli_w
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench._postgres import PostgresProbe, PostgresTarget
from bench._procs import Child, Supervisor, free_port, wait_for_port
from bench._workload import KEY_ID, TEAM_ID, TOPIC, message, token, user
from pushgate.config import Settings
from pushgate.engine.render import render_checked
from pushgate.gateway import Gateway
from pushgate.providers.apns_credentials import load_token_credential
from pushgate.providers.apns_jwt import ProviderTokenSigner
from pushgate.security import APP_PREFIX, display_prefix, hash_api_key, new_api_key
from pushgate.store import NewDelivery, NewNotification

PUSHGATE = Path(sys.executable).with_name("pushgate")
ADMIN_KEY = "pgadm_bench-admin-key-not-secret"
SECRET_KEY = "bench-secret-key-not-secret"
OUTBOX_CHUNK = 1000


@dataclass
class GatewaySetup:
    """Where a benchmark gateway lives and what it sends to."""

    data_dir: Path
    sink_port: int
    ca_file: Path
    api_port: int = field(default_factory=free_port)
    overrides: dict[str, Any] = field(default_factory=dict)
    """Extra settings per section, e.g. {"dispatch": {"concurrency": 1000}} or a front door."""
    postgres: PostgresTarget | None = None
    """Use this PostgreSQL schema as the store instead of the SQLite file."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "bench.toml"

    def sections(self) -> dict[str, Any]:
        """The settings that differ from the defaults: APNs points at the sink."""
        sink = {"host": "127.0.0.1", "port": self.sink_port}
        values: dict[str, Any] = {
            "server": {"host": "127.0.0.1", "port": self.api_port},
            "apns": {
                "production_host": sink["host"],
                "production_port": sink["port"],
                "sandbox_host": sink["host"],
                "sandbox_port": sink["port"],
                "ca_file": str(self.ca_file),
            },
        }
        if self.postgres is not None:
            values["store"] = self.postgres.store_section()
        for name, section in self.overrides.items():
            merged = isinstance(section, dict) and isinstance(values.get(name), dict)
            values[name] = {**values[name], **section} if merged else section
        return values

    def settings(self) -> Settings:
        """The gateway's settings, as the child will read them from the TOML file."""
        return Settings.model_validate(
            {
                "data_dir": self.data_dir,
                "admin_api_key": ADMIN_KEY,
                "secret_key": SECRET_KEY,
                "log_level": "warning",
                **self.sections(),
            }
        )

    def write_config(self) -> Path:
        """Write bench.toml for ``pushgate serve``."""
        values = {
            "data_dir": str(self.data_dir),
            "admin_api_key": ADMIN_KEY,
            "secret_key": SECRET_KEY,
            "log_level": "warning",
            **self.sections(),
        }
        self.config_file.write_text(tomli_w.dumps(values))
        return self.config_file


def fresh_data_dir(path: Path) -> Path:
    """An empty directory for a new store."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@dataclass(frozen=True, slots=True)
class Tenant:
    """The benchmark app: its API key and the authorization value its sends carry."""

    app_id: str
    api_key: str
    authorization: bytes


async def create_tenant(setup: GatewaySetup) -> Tenant:
    """Create the app and its production token credential through the store and registry."""
    gateway = Gateway(setup.settings())
    await gateway.backend.open()
    try:
        api_key = new_api_key(APP_PREFIX)
        app = await gateway.store.create_app(
            "bench", hash_api_key(api_key), display_prefix(api_key)
        )
        assert app is not None
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        credential = load_token_credential(
            key_p8=pem, key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC, environment="production"
        )
        await gateway.registry.put_apns(app.id, credential)
    finally:
        await gateway.backend.close()
    return Tenant(app.id, api_key, ProviderTokenSigner(credential).token())


def insert_devices(setup: GatewaySetup, app_id: str, count: int, per_user: int = 1) -> None:
    """Bulk-register devices 1..count (token i-1) for users of ``per_user`` devices each."""
    now = time.time()
    rows = (
        (index + 1, app_id, user(index // per_user), token(index), now, now)
        for index in range(count)
    )
    if setup.postgres is not None:
        setup.postgres.insert_devices(list(rows))
        return
    conn = sqlite3.connect(setup.settings().database_path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO devices (id, app_id, user_id, platform, token, apns_environment, active, "
            "created_at, updated_at) VALUES (?, ?, ?, 'apns', ?, 'production', 1, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _outbox_batches(
    app_id: str, deliveries: int, per_notification: int, token_pool: int, deadline: float
) -> Iterator[list[NewNotification]]:
    batch: list[NewNotification] = []
    for first in range(0, deliveries, per_notification):
        devices = [i % token_pool for i in range(first, min(first + per_notification, deliveries))]
        targets = [
            NewDelivery(
                device_id=d + 1,
                user_id=None,
                platform="apns",
                token=token(d),
                apns_environment="production",
            )
            for d in devices
        ]
        msg = message(first)
        message_json = msg.model_dump_json(exclude_defaults=True)
        renders = orjson.dumps(render_checked(msg, {"apns"})).decode()  # as the API stores it
        batch.append(
            NewNotification(
                id=f"ntf_bench{first:09d}",
                app_id=app_id,
                message_json=message_json,
                deadline=deadline,
                deliveries=targets,
                renders_json=renders,
            )
        )
        if len(batch) == OUTBOX_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


async def preload_outbox(
    setup: GatewaySetup, app_id: str, *, deliveries: int, per_notification: int, token_pool: int
) -> None:
    """Write ``deliveries`` pending deliveries through the store, ``per_notification`` each."""
    gateway = Gateway(setup.settings())
    await gateway.backend.open()
    try:
        deadline = time.time() + 3600
        for batch in _outbox_batches(app_id, deliveries, per_notification, token_pool, deadline):
            await gateway.backend.outbox.accept(batch)
    finally:
        await gateway.backend.close()


def start_gateway(
    sup: Supervisor, setup: GatewaySetup, *, cpus: str | None, timeout: float = 300
) -> Child:
    """Run ``pushgate serve`` and wait until it listens (its outbox is loaded by then)."""
    config = setup.write_config()
    child = sup.start("gateway", [str(PUSHGATE), "serve", "--config", str(config)], cpus=cpus)
    wait_for_port(setup.api_port, timeout, child)
    return child


def probe_for(setup: GatewaySetup) -> Probe:
    """A probe of the setup's outbox, whichever backend it is on."""
    if setup.postgres is not None:
        return PostgresProbe(setup.postgres)
    return OutboxProbe(setup.settings().database_path)


class OutboxProbe:
    """Reads the gateway's SQLite outbox through a read-only connection of its own.

    The outbox has no index on state (none of the gateway's queries needs one), so counting
    pending rows would scan the whole table, a cost growing with every delivery and taken
    from the two cores being measured. The probe keeps a low-water mark instead: no row
    below it is pending, and since a row never becomes pending again, each poll scans only
    from the oldest pending row up.
    """

    def __init__(self, database: Path) -> None:
        self._conn = sqlite3.connect(
            f"file:{database}?mode=ro", uri=True, timeout=10, isolation_level=None
        )
        self._low = 0

    def pending(self) -> int:
        """Deliveries still to send."""
        return self.progress()[1]

    def progress(self) -> tuple[int, int]:
        """(deliveries written so far, deliveries still pending), from one snapshot."""
        self._conn.execute("BEGIN")
        try:
            written = self._conn.execute("SELECT coalesce(max(id), 0) FROM deliveries")
            top = int(written.fetchone()[0])
            oldest = self._conn.execute(
                "SELECT min(id) FROM deliveries WHERE id >= ? AND state = 'pending'",
                (self._low,),
            ).fetchone()[0]
            self._low = top + 1 if oldest is None else int(oldest)
            pending = self._conn.execute(
                "SELECT count(*) FROM deliveries WHERE id >= ? AND state = 'pending'",
                (self._low,),
            ).fetchone()[0]
        finally:
            self._conn.execute("COMMIT")
        return top, int(pending)

    def states(self) -> dict[str, int]:
        """How many deliveries are in each state."""
        rows = self._conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state")
        return {state: int(count) for state, count in rows}

    def close(self) -> None:
        self._conn.close()


Probe = OutboxProbe | PostgresProbe
"""Either backend's outbox probe (same methods)."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One poll of a running gateway: outbox size, CPU used so far by it and by the sink."""

    at: float
    pending: int
    gateway_cpu: float
    sink_cpu: float
    rss: int


def sample(probe: Probe, gateway: Child, sink: Child) -> Sample:
    """Poll the outbox and both processes once."""
    gateway.check_alive()
    return Sample(
        at=time.monotonic(),
        pending=probe.pending(),
        gateway_cpu=gateway.cpu_seconds(),
        sink_cpu=sink.cpu_seconds(),
        rss=gateway.rss_bytes(),
    )


async def wait_drained(
    probe: Probe,
    gateway: Child,
    sink: Child,
    *,
    within: float,
    interval: float = 0.05,
) -> list[Sample]:
    """Poll until the outbox is empty; returns every sample taken."""
    samples: list[Sample] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        samples.append(sample(probe, gateway, sink))
        if samples[-1].pending == 0:
            return samples
        await asyncio.sleep(interval)
    raise TimeoutError(
        f"the outbox still had {samples[-1].pending} deliveries after {within:.0f} s"
    )


async def serve_devices(
    sup: Supervisor,
    data_dir: Path,
    sink_port: int,
    ca_file: Path,
    *,
    devices: int,
    per_user: int = 1,
    overrides: dict[str, Any] | None = None,
    cpus: str | None = None,
    postgres: PostgresTarget | None = None,
) -> tuple[GatewaySetup, Tenant, Child]:
    """A fresh store with the app and ``devices`` devices, served by a running gateway."""
    setup = GatewaySetup(
        fresh_data_dir(data_dir), sink_port, ca_file, overrides=overrides or {}, postgres=postgres
    )
    tenant = await create_tenant(setup)
    insert_devices(setup, tenant.app_id, devices, per_user)
    return setup, tenant, start_gateway(sup, setup, cpus=cpus)
