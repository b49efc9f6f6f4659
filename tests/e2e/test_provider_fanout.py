"""Providers under a cold fan-out, against the simulator: credentials load once, the injected
clock and each platform's pool size reach the wire.

The providers are the real ones over a real store and credential registry; the simulator plays
FCM, its OAuth endpoint, Web Push and APNs. Loads are counted by the
``pushgate_credential_loads_total`` metric the registry keeps.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

import pytest
from harness import new_signing_key
from prometheus_client import REGISTRY

from pushgate.config import ApnsSettings, FcmSettings, Settings, WebPushSettings
from pushgate.credentials import CredentialRegistry, VapidCredential, secret_box
from pushgate.dispatch.jobs import Job, Notice
from pushgate.message import Message
from pushgate.outcomes import Delivered
from pushgate.providers.apns_client import ApnsProvider
from pushgate.providers.apns_credentials import load_token_credential
from pushgate.providers.base import Provider
from pushgate.providers.fcm_client import FcmProvider
from pushgate.providers.fcm_credentials import load_service_account
from pushgate.providers.webpush_client import WebPushProvider
from pushgate.providers.webpush_vapid import VapidKey
from pushgate.simulator import Simulator
from pushgate.store.sqlite import SqliteDatabase, SqliteStore
from pushgate.transport import HTTP2Pool

pytestmark = pytest.mark.timeout(60)

DEVICES = 200
PROJECT = "chat-android"


def loads(platform: str) -> float:
    return REGISTRY.get_sample_value("pushgate_credential_loads_total", {"platform": platform}) or 0


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[tuple[CredentialRegistry, str]]:
    database = SqliteDatabase(tmp_path / "db.sqlite", synchronous="NORMAL")
    database.open()
    store = SqliteStore(database)
    settings = Settings(data_dir=tmp_path, secret_key="test-secret-key-of-some-length")
    app = await store.create_app("chat", "hash", "pgapp_x")
    assert app is not None
    yield CredentialRegistry(store, secret_box(settings)), app.id
    database.close()


def notice(app_id: str, message: Message) -> Notice:
    return Notice("n1", app_id, time.time() + 60, "{}", message)


async def loads_during(
    platform: str, provider_for: Callable[[HTTP2Pool], Provider], jobs: list[Job]
) -> tuple[float, dict[str, int | None]]:
    """Send every job at the same moment with a cold provider: the credential loads it took,
    and the connection limit of each pool partition it used."""
    before = loads(platform)
    async with HTTP2Pool(connections_per_origin=1) as pool:
        provider = provider_for(pool)
        outcomes = await asyncio.gather(*(provider.send(job) for job in jobs))
        limits = {origin.partition: origin.connections for origin in pool.stats()}
    assert all(isinstance(outcome, Delivered) for outcome in outcomes), outcomes
    return loads(platform) - before, limits


async def test_a_cold_fcm_fanout_loads_the_service_account_once(
    sim: Simulator, registry: tuple[CredentialRegistry, str]
) -> None:
    credentials, app_id = registry
    info = sim.create_service_account(PROJECT)
    await credentials.put_fcm(app_id, load_service_account(json.dumps(info)))
    tokens = [sim.create_fcm_token(PROJECT) for _ in range(DEVICES)]
    settings = FcmSettings(base_url=sim.fcm_base_url, ca_file=Path(sim.ca_file))
    shared = notice(app_id, Message.model_validate({"alert": {"body": "hi"}}))
    jobs = [Job(i, shared, i, "fcm", t, None, None) for i, t in enumerate(tokens)]
    fcm = partial(FcmProvider, registry=credentials, settings=settings)
    assert (await loads_during("fcm", lambda pool: fcm(pool=pool), jobs))[0] == 1
    assert len(sim.fcm_inbox.query(project_id=PROJECT)) == DEVICES


async def test_a_cold_webpush_fanout_loads_the_vapid_key_once(
    sim: Simulator, registry: tuple[CredentialRegistry, str]
) -> None:
    credentials, app_id = registry
    key = VapidKey.generate()
    await credentials.put_webpush(app_id, VapidCredential(key=key, subject="mailto:ops@x.org"))
    subscriptions = [sim.create_webpush_subscription(key.public_key_b64url) for _ in range(50)]
    settings = WebPushSettings(ca_file=Path(sim.ca_file), connections_per_host=3)
    shared = notice(app_id, Message.model_validate({"alert": {"body": "hi"}}))
    jobs = [
        Job(i, shared, i, "webpush", s["endpoint"], None, None, extra=s["keys"])
        for i, s in enumerate(subscriptions)
    ]
    webpush = partial(WebPushProvider, registry=credentials, settings=settings)
    assert await loads_during("webpush", lambda pool: webpush(pool=pool), jobs) == (
        1,
        {"webpush": 3},  # webpush.connections_per_host, not the pool's default or APNs'
    )


async def test_a_cold_apns_fanout_loads_the_credential_once(
    sim: Simulator, registry: tuple[CredentialRegistry, str]
) -> None:
    credentials, app_id = registry
    upload = new_signing_key(sim)
    credential = load_token_credential(
        key_p8=upload["key_p8"], key_id=upload["key_id"], team_id=upload["team_id"],
        topic=upload["topic"], environment="sandbox",
    )  # fmt: skip
    await credentials.put_apns(app_id, credential)
    settings = ApnsSettings(
        sandbox_host="127.0.0.1", sandbox_port=sim.apns_sandbox_port, ca_file=Path(sim.ca_file)
    )
    shared = notice(app_id, Message.model_validate({"alert": {"body": "hi"}}))
    tokens = [f"{i:064x}" for i in range(DEVICES)]
    jobs = [Job(i, shared, i, "apns", t, "sandbox", None) for i, t in enumerate(tokens)]
    apns = partial(ApnsProvider, registry=credentials, settings=settings)
    assert (await loads_during("apns", lambda pool: apns(pool=pool), jobs))[0] == 1


async def test_the_injected_clock_reaches_the_fcm_message_and_the_pool_size_is_fcms(
    sim: Simulator, registry: tuple[CredentialRegistry, str]
) -> None:
    credentials, app_id = registry
    info = sim.create_service_account(PROJECT)
    await credentials.put_fcm(app_id, load_service_account(json.dumps(info)))
    token = sim.create_fcm_token(PROJECT)
    then = int(time.time()) - 1200  # the provider's clock, 20 minutes behind the machine's
    settings = FcmSettings(
        base_url=sim.fcm_base_url, ca_file=Path(sim.ca_file), connections_per_credential=3
    )
    message = Message.model_validate({"alert": {"body": "hi"}, "expiration": then + 100})
    async with HTTP2Pool(connections_per_origin=1) as pool:
        provider = FcmProvider(
            pool=pool, registry=credentials, settings=settings, clock=lambda: then
        )
        job = Job(1, notice(app_id, message), 1, "fcm", token, None, None)
        assert isinstance(await provider.send(job), Delivered)
        limits = {origin.partition: origin.connections for origin in pool.stats()}
    (received,) = sim.fcm_inbox.query(token=token)
    assert received.message["android"]["ttl"] == "100s"  # the machine's clock would say 0s
    assert limits == {"fcm-oauth": 3, "fcm": 3}
