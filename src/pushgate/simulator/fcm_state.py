"""What the FCM simulator knows: service accounts (public keys only), the access tokens it issued,
registration tokens bound to projects, and tokens marked unregistered."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_ACCOUNT_FIELDS = ("client_email", "project_id", "private_key")
_PRUNE_AT = 4096
"""Issued access tokens kept before expired ones are swept out."""


@dataclass(slots=True)
class ServiceAccountRecord:
    """A service account the token endpoint trusts: its address, project and public keys."""

    client_email: str
    project_id: str
    project_number: str | None = None
    """The numeric project id (the FCM sender id), also accepted in send URLs."""
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict, repr=False)
    """Public keys by ``private_key_id`` (or a generated id when the caller gave none)."""

    def serves(self, project: str) -> bool:
        """Whether sends to ``project`` (an id or number from the URL) are this account's."""
        return project in (self.project_id, self.project_number)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (never key material)."""
        return {
            "client_email": self.client_email,
            "project_id": self.project_id,
            "project_number": self.project_number,
            "key_ids": sorted(self.keys),
        }


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An access token the token endpoint handed out."""

    account: ServiceAccountRecord
    expires_at: float


class FcmRegistry:
    """Service accounts, issued access tokens, registration tokens and dead tokens."""

    def __init__(self) -> None:
        self.accounts: dict[str, ServiceAccountRecord] = {}
        self.access_tokens: dict[str, IssuedToken] = {}
        self.token_projects: dict[str, str] = {}
        self.unregistered: set[str] = set()

    def add_account(
        self,
        client_email: str,
        project_id: str,
        public_key_pem: bytes | str,
        *,
        key_id: str | None = None,
        project_number: str | None = None,
    ) -> ServiceAccountRecord:
        """Trust an RSA key for this account (a PEM private key is accepted: its public half
        is kept). Registering again adds a key; ValueError if the PEM is not RSA."""
        public_key = _rsa_public_key(public_key_pem)
        record = self.accounts.get(client_email)
        if record is None or record.project_id != project_id:
            record = ServiceAccountRecord(client_email, project_id)
            self.accounts[client_email] = record
        record.project_number = project_number or record.project_number
        record.keys[key_id or f"sim-{secrets.token_hex(8)}"] = public_key
        return record

    def add_account_json(self, info: dict[str, Any] | str | bytes) -> ServiceAccountRecord:
        """Trust the account of a service-account JSON file (only the public key is kept)."""
        account = read_service_account(info)
        return self.add_account(
            account["client_email"],
            account["project_id"],
            account["private_key"],
            key_id=account.get("private_key_id") or None,
        )

    def issue(self, account: ServiceAccountRecord, lifetime: int, now: float) -> str:
        """A new access token for ``account``, valid for ``lifetime`` seconds."""
        if len(self.access_tokens) >= _PRUNE_AT:
            expired = [t for t, issued in self.access_tokens.items() if issued.expires_at <= now]
            for token in expired:
                del self.access_tokens[token]
        token = "ya29.sim-" + secrets.token_urlsafe(48)
        self.access_tokens[token] = IssuedToken(account, now + lifetime)
        return token

    def resolve(self, token: str, now: float) -> ServiceAccountRecord | None:
        """The account an unexpired access token was issued to."""
        issued = self.access_tokens.get(token)
        if issued is None or issued.expires_at <= now:
            return None
        return issued.account

    def register_token(self, token: str, project_id: str) -> None:
        """Bind a registration token to a project (sends from others: SENDER_ID_MISMATCH)."""
        self.token_projects[token] = project_id

    def mark_unregistered(self, token: str) -> None:
        """Answer 404 UNREGISTERED for this registration token from now on."""
        self.unregistered.add(token)


def read_service_account(info: dict[str, Any] | str | bytes) -> dict[str, str]:
    """The fields the token endpoint needs from a service-account JSON file, as Google's
    download has them (``type: service_account``, ``client_email``, ``project_id``,
    ``private_key``); ValueError naming what is missing."""
    if not isinstance(info, dict):
        try:
            info = orjson.loads(info)
        except orjson.JSONDecodeError:
            raise ValueError("the service account is not valid JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ValueError('this is not a service account: its JSON has "type": "service_account"')
    missing = [k for k in _ACCOUNT_FIELDS if not isinstance(info.get(k), str) or not info[k]]
    if missing:
        raise ValueError(f"the service account lacks {', '.join(missing)}")
    key_id = info.get("private_key_id")
    return {
        **{k: info[k] for k in _ACCOUNT_FIELDS},
        "private_key_id": key_id if isinstance(key_id, str) else "",
    }


def make_service_account(project_id: str, token_uri: str) -> dict[str, Any]:
    """A complete service-account JSON (with a new private key) shaped like Firebase's download."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    host = re.sub(r"[^a-z0-9-]", "-", project_id.lower())
    client_email = f"firebase-adminsdk-{secrets.token_hex(3)[:5]}@{host}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(9 * 10**20) + 10**20),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        + client_email.replace("@", "%40"),
        "universe_domain": "googleapis.com",
    }


def new_registration_token() -> str:
    """A token shaped like a real one: a 22-character instance id, ``:APA91b``, 134 characters."""
    body = secrets.token_urlsafe(120)[:134]
    return f"{secrets.token_urlsafe(16)[:22]}:APA91b{body}"


def _rsa_public_key(pem: bytes | str) -> rsa.RSAPublicKey:
    """The RSA public key in a PEM public key, or the public half of a PEM private key."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        if b"PRIVATE KEY-----" in data:
            key: object = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (TypeError, ValueError):
        raise ValueError("public_key_pem must be an unencrypted RSA key in PEM") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("public_key_pem must be an RSA key (service accounts sign RS256)")
    return key
