"""Helpers for the FCM and Web Push simulator tests: HTTPS clients that trust the simulator CA,
service accounts and assertions, send bodies, Web Push senders built from the provider code."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from functools import cache
from typing import Any

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pushgate.message import Alert, Message
from pushgate.providers import fcm, webpush
from pushgate.providers.fcm_credentials import load_service_account
from pushgate.providers.fcm_oauth import FcmTokenSource
from pushgate.providers.webpush_crypto import encrypt
from pushgate.providers.webpush_vapid import VapidKey
from pushgate.simulator import Simulator

PROJECT = "chat-demo-1a2b3"
OTHER_PROJECT = "other-project-9z"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN = "fKx3b9Qw_Ty8n2Lk5Mp0aB:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx" + "x" * 90
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
SUBJECT = "mailto:ops@example.com"
Clock = Callable[[], float]


def https_client(sim: Simulator, *, http2: bool = True) -> httpx.AsyncClient:
    """An httpx client trusting exactly the simulator CA (verification stays on)."""
    context = ssl.create_default_context(cafile=sim.ca_file)
    return httpx.AsyncClient(verify=context, http2=http2, timeout=5)


@cache
def _rsa_key(project: str) -> rsa.RSAPrivateKey:
    """One RSA key per project per test session (generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def trusted_account(sim: Simulator, project: str = PROJECT, **overrides: Any) -> dict[str, Any]:
    """A service-account JSON the simulator trusts (registered from the JSON itself)."""
    key = _rsa_key(project)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": f"kid-{project}",
        "private_key": pem,
        "client_email": f"firebase-adminsdk-abcde@{project}.iam.gserviceaccount.com",
        "token_uri": sim.fcm_token_url,
        **overrides,
    }
    sim.register_service_account_json(info)
    return info


def assertion(info: dict[str, Any], now: float, **claims: Any) -> str:
    """An RS256 assertion for ``info``; a claim given as None is left out."""
    key = serialization.load_pem_private_key(info["private_key"].encode(), None)
    issued = int(now)
    payload = {
        "iss": info["client_email"], "scope": SCOPE, "aud": info["token_uri"],
        "iat": issued, "exp": issued + 3600, **claims,
    }  # fmt: skip
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": info["private_key_id"]})  # type: ignore[arg-type]


async def exchange(
    client: httpx.AsyncClient, sim: Simulator, signed: str, grant_type: str = GRANT_TYPE
) -> httpx.Response:
    """POST a JWT-bearer grant to the simulator's token endpoint."""
    return await client.post(
        sim.fcm_token_url, data={"grant_type": grant_type, "assertion": signed}
    )


async def access_token(client: httpx.AsyncClient, info: dict[str, Any], clock: Clock) -> str:
    """An access token, obtained exactly as the gateway does (providers.fcm_oauth)."""
    source = FcmTokenSource(load_service_account(orjson.dumps(info)), clock=clock)
    url, body, headers = source.assertion_request()
    answer = await client.post(url, content=body, headers=_text(headers))
    return source.accept_token_response(answer.status_code, answer.content)


async def send(
    client: httpx.AsyncClient,
    sim: Simulator,
    bearer: str | None,
    body: dict[str, Any] | bytes,
    project: str = PROJECT,
) -> httpx.Response:
    """POST a send request; ``body`` as a dict is JSON-encoded."""
    headers = _text(fcm.request_headers(bearer)) if bearer is not None else {}
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post(
        fcm.send_url(sim.fcm_base_url, project), content=content, headers=headers
    )


def to_token(message: dict[str, Any], token: str = TOKEN, **top: Any) -> dict[str, Any]:
    """A send body ``{"message": {"token": token, **message}, **top}``."""
    return {"message": {"token": token, **message}, **top}


def error(
    status: int, rpc: str, message: str, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """The google.rpc envelope the tests expect (written out, not computed by our code)."""
    details: list[dict[str, Any]] = []
    if code is not None:
        details.append({"@type": FCM_ERROR, "errorCode": code})
    if field is not None:
        violation = {"field": field, "description": message} if field else {"description": message}
        details.append({"@type": BAD_REQUEST, "fieldViolations": [violation]})
    body: dict[str, Any] = {"code": status, "message": message, "status": rpc}
    if details:
        body["details"] = details
    return {"error": body}


async def push(
    client: httpx.AsyncClient,
    subscription: dict[str, Any],
    plaintext: bytes,
    *,
    key: VapidKey,
    clock: Clock,
    subject: str = SUBJECT,
    drop: tuple[str, ...] = (),
    **overrides: str,
) -> httpx.Response:
    """Encrypt and POST like the gateway (providers.webpush*); ``overrides`` replace headers
    (``ttl="60"``), ``drop`` removes them."""
    keys = subscription["keys"]
    target = webpush.validate_subscription(subscription["endpoint"], keys["p256dh"], keys["auth"])
    body = encrypt(plaintext, p256dh=target.p256dh, auth_secret=target.auth) if plaintext else b""
    vapid = key.vapid_header(target.endpoint, subject, now=clock())
    message = Message(alert=Alert(title="hi"))
    headers = _text(webpush.request_headers(message, vapid_header=vapid, ttl=60, now=clock()))
    headers.update(overrides)
    for name in drop:
        headers.pop(name, None)
    return await client.post(target.endpoint, content=body, headers=headers)


def _text(headers: tuple[tuple[bytes, bytes], ...]) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in headers}
