"""The FCM simulator's OAuth token endpoint: JWT-bearer grant, Google errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sim_services import (
    GRANT_TYPE,
    PROJECT,
    access_token,
    assertion,
    exchange,
    https_client,
    send,
    to_token,
    trusted_account,
)
from sim_support import FakeClock

from pushgate.simulator import FcmRules, Simulator, SimulatorSettings

TIMEFRAME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
    "timeframe. Check your iat and exp values in the JWT claim."
)


@pytest.fixture
def account(sim: Simulator) -> dict[str, Any]:
    return trusted_account(sim)


async def test_a_good_assertion_buys_a_bearer_token(
    sim: Simulator, client: httpx.AsyncClient, account: dict[str, Any], clock: FakeClock
) -> None:
    answer = await exchange(client, sim, assertion(account, clock()))

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert (body["expires_in"], body["token_type"]) == (3599, "Bearer")
    assert body["access_token"].startswith("ya29.")
    assert answer.headers["content-type"].startswith("application/json")


async def test_the_gateway_token_source_works_over_http1_too(
    sim: Simulator, account: dict[str, Any], clock: FakeClock
) -> None:
    async with https_client(sim, http2=False) as http1:
        token = await access_token(http1, account, clock)
        answer = await send(http1, sim, token, to_token({"data": {"k": "v"}}))

    assert answer.http_version == "HTTP/1.1"
    assert answer.status_code == 200


async def test_the_cloud_platform_scope_and_localhost_audience_are_accepted(
    sim: Simulator, client: httpx.AsyncClient, account: dict[str, Any], clock: FakeClock
) -> None:
    scopes = "openid https://www.googleapis.com/auth/cloud-platform"
    audience = f"https://localhost:{sim.fcm_port}/token"

    answer = await exchange(client, sim, assertion(account, clock(), scope=scopes, aud=audience))

    assert answer.status_code == 200


async def test_googles_canonical_audience_is_accepted(
    client: httpx.AsyncClient, sim: Simulator, account: dict[str, Any], clock: FakeClock
) -> None:
    """Google's auth libraries sign for this audience whatever ``token_uri`` says."""
    signed = assertion(account, clock(), aud="https://oauth2.googleapis.com/token")

    answer = await exchange(client, sim, signed)

    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        ({"aud": "https://example.com/token"}, "invalid_grant", "Failed audience check"),
        ({"scope": "https://www.googleapis.com/auth/userinfo.email"}, "invalid_scope", "scope"),
        ({"scope": None}, "invalid_scope", "scope"),
        ({"iat": -7200, "exp": -3600}, "invalid_grant", TIMEFRAME),
        ({"exp": 3601}, "invalid_grant", TIMEFRAME),
        ({"iat": 600, "exp": 1200}, "invalid_grant", TIMEFRAME),
        ({"exp": None}, "invalid_grant", TIMEFRAME),
    ],
    ids=["wrong-aud", "wrong-scope", "no-scope", "expired", "too-long", "future-iat", "no-exp"],
)
async def test_bad_claims_are_refused_like_google(
    sim: Simulator,
    client: httpx.AsyncClient,
    account: dict[str, Any],
    clock: FakeClock,
    claims: dict[str, Any],
    error: str,
    description: str,
) -> None:
    now = int(clock())
    shifted = {
        k: now + v if k in ("iat", "exp") and v is not None else v for k, v in claims.items()
    }

    answer = await exchange(client, sim, assertion(account, clock(), **shifted))

    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert description in answer.json()["error_description"]


async def test_an_expired_assertion_is_refused_once_the_clock_moves(
    sim: Simulator, client: httpx.AsyncClient, account: dict[str, Any], clock: FakeClock
) -> None:
    signed = assertion(account, clock())
    clock.advance(3601)

    answer = await exchange(client, sim, signed)

    assert answer.json() == {"error": "invalid_grant", "error_description": TIMEFRAME}


async def test_an_unknown_account_is_refused(
    sim: Simulator, client: httpx.AsyncClient, account: dict[str, Any], clock: FakeClock
) -> None:
    signed = assertion(account, clock(), iss="stranger@elsewhere.iam.gserviceaccount.com")

    answer = await exchange(client, sim, signed)

    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid grant: account not found",
    }


async def test_a_signature_by_another_key_is_refused(
    sim: Simulator, client: httpx.AsyncClient, account: dict[str, Any], clock: FakeClock
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {**account, "private_key": _pem(stranger)}

    answer = await exchange(client, sim, assertion(forged, clock()))

    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid JWT Signature.",
    }


@pytest.mark.parametrize(
    ("grant_type", "signed", "error"),
    [
        ("client_credentials", "x", "unsupported_grant_type"),
        (GRANT_TYPE, "", "invalid_request"),
        (GRANT_TYPE, "not-a-jwt", "invalid_grant"),
    ],
)
async def test_malformed_token_requests(
    sim: Simulator, client: httpx.AsyncClient, grant_type: str, signed: str, error: str
) -> None:
    answer = await exchange(client, sim, signed, grant_type=grant_type)

    assert answer.status_code == 400
    assert answer.json()["error"] == error


async def test_the_token_endpoint_takes_post_only(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    answer = await client.get(sim.fcm_token_url)

    assert answer.status_code == 405


async def test_a_registered_public_key_and_a_second_key(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    first, second = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "ab")
    email = "pusher@demo-project.iam.gserviceaccount.com"
    public = first.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sim.register_service_account(email, "demo-project", public, key_id="k1")
    record = sim.register_service_account(email, "demo-project", _pem(second), key_id="k2")
    info = {"client_email": email, "token_uri": sim.fcm_token_url}

    answers = [
        await exchange(client, sim, assertion({**info, "private_key": _pem(key), "private_key_id": kid}, clock()))
        for key, kid in ((first, "k1"), (second, "k2"))
    ]  # fmt: skip

    assert [a.status_code for a in answers] == [200, 200]
    assert record.summary()["key_ids"] == ["k1", "k2"]


async def test_token_lifetime_is_configurable_and_tokens_expire(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = SimulatorSettings(
        clock=clock, state_dir=tmp_path, fcm=FcmRules(access_token_lifetime=120)
    )
    async with Simulator(settings) as sim, https_client(sim) as client:
        account = trusted_account(sim)
        body = (await exchange(client, sim, assertion(account, clock()))).json()
        fresh = await send(client, sim, body["access_token"], to_token({}))
        clock.advance(120)
        stale = await send(client, sim, body["access_token"], to_token({}))

    assert body["expires_in"] == 120
    assert (fresh.status_code, stale.status_code) == (200, 401)


async def test_created_service_accounts_work_with_the_gateway_loader(
    sim: Simulator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    info = sim.create_service_account(PROJECT, project_number="123456789012")

    token = await access_token(client, info, clock)
    by_number = await send(client, sim, token, to_token({}), project="123456789012")

    assert info["token_uri"] == sim.fcm_token_url
    assert info["type"] == "service_account"
    assert by_number.json()["name"].startswith("projects/123456789012/messages/0:")


async def test_service_account_json_must_be_valid(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="not a service account"):
        sim.register_service_account_json({"type": "authorized_user"})
    with pytest.raises(ValueError, match="RSA"):
        sim.register_service_account("a@b.c", PROJECT, "-----BEGIN PUBLIC KEY-----\nxx\n")


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
