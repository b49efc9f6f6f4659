"""Stored platform credentials: validate on upload, encrypt at rest, load for sending.

Uploads are validated by the platform's loader before anything is stored, so a bad key is
refused at the API with a clear error instead of failing every later send.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization

from pushgate.config import Settings
from pushgate.errors import NotFound
from pushgate.metrics import CREDENTIAL_LOADS, TOKEN_REFRESHES
from pushgate.providers.apns_credentials import (
    ApnsCertificateCredential,
    ApnsTokenCredential,
    load_certificate_credential,
    load_token_credential,
)
from pushgate.providers.fcm_credentials import FcmServiceAccount, load_service_account
from pushgate.providers.webpush_vapid import VapidKey, check_subject
from pushgate.security import SecretBox
from pushgate.store import CredentialRepository, StoredCredential

ApnsCredential = ApnsTokenCredential | ApnsCertificateCredential
WEBPUSH_NAME = "default"
log = logging.getLogger("pushgate.credentials")
TOKEN_ISSUED_AT = "token_issued_at"
"""Summary field: ``iat`` of the provider token (JWT) the dispatcher sends with now."""
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True, slots=True)
class VapidCredential:
    """An app's VAPID key pair and the contact subject its JWTs carry."""

    key: VapidKey = field(repr=False)
    subject: str | None

    def public_summary(self) -> dict[str, Any]:
        """What the web app needs (applicationServerKey) and nothing secret."""
        return {"kind": "vapid", "public_key": self.key.public_key_b64url, "subject": self.subject}


def apns_secret(credential: ApnsCredential) -> dict[str, Any]:
    """The material needed to load ``credential`` again (kept encrypted)."""
    if isinstance(credential, ApnsTokenCredential):
        return {
            "kind": "token",
            "key_p8": _pkcs8_pem(credential).decode(),
            "key_id": credential.key_id,
            "team_id": credential.team_id,
            "topic": credential.topic,
            "environment": credential.environment,
        }
    return {
        "kind": "certificate",
        "cert_pem": credential.cert_pem.decode(),
        "key_pem": credential.key_pem.decode(),
        "topic": credential.topic,
        "environment": credential.environment,
    }


def _pkcs8_pem(credential: ApnsTokenCredential) -> bytes:
    return credential.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_apns_secret(secret: dict[str, Any]) -> ApnsCredential:
    """Rebuild (and re-validate, e.g. expiry) a stored APNs credential."""
    if secret["kind"] == "token":
        return load_token_credential(
            key_p8=secret["key_p8"],
            key_id=secret["key_id"],
            team_id=secret["team_id"],
            topic=secret["topic"],
            environment=secret["environment"],
        )
    return load_certificate_credential(
        cert_pem=secret["cert_pem"].encode(),
        key_pem=secret["key_pem"].encode(),
        topic=secret["topic"],
        environment=secret["environment"],
    )


def describe(stored: StoredCredential, now: float | None = None) -> dict[str, Any]:
    """A stored credential as the API shows it: platform, name, time, safe summary, health."""
    return {
        "platform": stored.platform,
        "name": stored.name,
        "created_at": stored.created_at,
        **stored.summary,
        "health": health(stored.summary, time.time() if now is None else now),
    }


def health(summary: dict[str, Any], now: float) -> dict[str, Any]:
    """What an operator should know: the last fault, certificate expiry, provider-token age.

    ``status`` is ``error`` after a fault the push service reported or past the certificate's
    expiry, ``warning`` within ``EXPIRY_WARNING_DAYS`` of it, else ``ok``.
    """
    problems = []
    last_error = summary.get("last_error")
    if last_error:
        problems.append(f"the push service refused it: {last_error['reason']}")
    circuit = summary.get("circuit") or {"state": "closed"}
    if circuit["state"] == "open":
        problems.append(
            f"sending with it is paused after {circuit['refusals']} refusals in a row; "
            "a probe goes out after the cooldown and sending resumes once one is taken"
        )
    expires_in_days = None
    if summary.get("not_after"):
        not_after = datetime.fromisoformat(summary["not_after"]).timestamp()
        expires_in_days = (not_after - now) / 86400
        if expires_in_days < 0:
            problems.append("the certificate has expired; upload a new one")
        elif expires_in_days < EXPIRY_WARNING_DAYS:
            problems.append(f"the certificate expires in {int(expires_in_days)} days")
    issued_at = summary.get(TOKEN_ISSUED_AT)
    status = "ok"
    if problems:
        status = "error" if last_error or (expires_in_days or 0) < 0 else "warning"
    return {
        "status": status,
        "problems": problems,
        "circuit": circuit["state"],
        "expires_in_days": round(expires_in_days, 1) if expires_in_days is not None else None,
        "token_age_seconds": round(now - issued_at) if issued_at is not None else None,
    }


class CredentialRegistry:
    """Reads and writes credentials of apps through the store, encrypted."""

    def __init__(self, store: CredentialRepository, box: SecretBox) -> None:
        self._store = store
        self._box = box
        self._notes: set[asyncio.Task[None]] = set()

    async def put_apns(self, app_id: str, credential: ApnsCredential) -> StoredCredential:
        """Store an APNs credential; one per environment, replacing the previous one."""
        sealed = self._box.seal(json.dumps(apns_secret(credential)).encode())
        return await self._store.put_credential(
            app_id, "apns", credential.environment, credential.public_summary(), sealed
        )

    async def apns_for_app(self, app_id: str) -> dict[str, ApnsCredential]:
        """The app's APNs credentials by environment (raises CredentialError if unusable)."""
        rows = await self._store.list_credentials(app_id, "apns")
        CREDENTIAL_LOADS.labels("apns").inc()
        return {row.name: load_apns_secret(self._open(row)) for row in rows}

    async def put_fcm(self, app_id: str, account: FcmServiceAccount) -> StoredCredential:
        """Store a service account under its name, replacing one of the same name."""
        sealed = self._box.seal(account.raw)
        return await self._store.put_credential(
            app_id, "fcm", account.name, account.public_summary(), sealed
        )

    async def fcm_for_app(self, app_id: str) -> dict[str, FcmServiceAccount]:
        """The app's service accounts by name."""
        rows = await self._store.list_credentials(app_id, "fcm")
        CREDENTIAL_LOADS.labels("fcm").inc()
        return {
            row.name: load_service_account(self._box.open(row.secret), name=row.name)
            for row in rows
        }

    async def put_webpush(self, app_id: str, credential: VapidCredential) -> StoredCredential:
        """Store the app's VAPID key pair (one per app)."""
        secret = {
            "private_key_pem": credential.key.private_pem().decode(),
            "subject": credential.subject,
        }
        sealed = self._box.seal(json.dumps(secret).encode())
        return await self._store.put_credential(
            app_id, "webpush", WEBPUSH_NAME, credential.public_summary(), sealed
        )

    async def webpush_for_app(self, app_id: str) -> VapidCredential | None:
        """The app's VAPID key pair, or None."""
        rows = await self._store.list_credentials(app_id, "webpush")
        CREDENTIAL_LOADS.labels("webpush").inc()
        if not rows:
            return None
        secret = self._open(rows[0])
        subject = secret.get("subject")
        return VapidCredential(
            key=VapidKey.from_pem(secret["private_key_pem"]),
            subject=check_subject(subject) if subject is not None else None,
        )

    def note_token_issued(self, app_id: str, platform: str, name: str, issued_at: int) -> None:
        """Record, in the background, when the token a provider now sends was issued.

        APNs: the provider token's (JWT) ``iat``; FCM: when the OAuth access token was bought.
        Called from the send path, so it only schedules the (non-durable) write.
        """
        TOKEN_REFRESHES.labels(platform).inc()
        task = asyncio.ensure_future(
            self._store.annotate_credential(app_id, platform, name, TOKEN_ISSUED_AT, issued_at)
        )
        self._notes.add(task)
        task.add_done_callback(self._note_written)

    def _note_written(self, task: asyncio.Task[None]) -> None:
        self._notes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("recording a token's issue time failed: %r", task.exception())

    async def summaries(self, app_id: str) -> list[dict[str, Any]]:
        """What an app may see of its credentials: never the key material."""
        return [describe(row) for row in await self._store.list_credentials(app_id)]

    async def delete(self, app_id: str, platform: str, name: str) -> None:
        """Remove a credential; NotFound when there is none."""
        if not await self._store.delete_credential(app_id, platform, name):
            raise NotFound(f"No {platform} credential named '{name}' exists for this app.")

    def _open(self, row: StoredCredential) -> dict[str, Any]:
        return json.loads(self._box.open(row.secret))


def secret_box(settings: Settings) -> SecretBox:
    """The box that encrypts stored credentials: from the configured key or the key file."""
    if settings.secret_key is not None:
        return SecretBox.from_passphrase(settings.secret_key.get_secret_value())
    return SecretBox.from_key_file(settings.key_file)
