"""Helpers for the FCM provider tests: real RSA keys, service-account files, error envelopes."""

from __future__ import annotations

from functools import cache
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT_ID = "chat-demo-1a2b3"
CLIENT_EMAIL = "firebase-adminsdk-x1y2z@chat-demo-1a2b3.iam.gserviceaccount.com"
PRIVATE_KEY_ID = "3f1c2b9e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c"
TOKEN_URI = "https://127.0.0.1:8443/token"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
APNS_ERROR = "type.googleapis.com/google.firebase.fcm.v1.ApnsError"


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    """One 2048-bit RSA key per test session (generating them is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: Any) -> str:
    """A private key as unencrypted PKCS#8 PEM text, as Google writes it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def service_account_info(**overrides: Any) -> dict[str, Any]:
    """A service-account dictionary shaped like the Firebase console's download."""
    info: dict[str, Any] = {
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": PRIVATE_KEY_ID,
        "private_key": pem(rsa_key()),
        "client_email": CLIENT_EMAIL,
        "client_id": "104351234567890123456",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": TOKEN_URI,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    info.update(overrides)
    return {key: value for key, value in info.items() if value is not None}


def service_account_json(**overrides: Any) -> bytes:
    """``service_account_info`` as the JSON file bytes; a None override drops the key."""
    return orjson.dumps(service_account_info(**overrides), option=orjson.OPT_INDENT_2)


def fcm_error(
    status: int, rpc_status: str, message: str, *details: dict[str, Any], code: str | None = None
) -> bytes:
    """A google.rpc Status envelope as FCM sends it, with an FcmError detail when ``code``."""
    entries = ([{"@type": FCM_ERROR, "errorCode": code}] if code else []) + list(details)
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if entries:
        error["details"] = entries
    return orjson.dumps({"error": error})
