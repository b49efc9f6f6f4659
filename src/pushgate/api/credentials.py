"""Platform credentials of the calling app: upload (validated), list (summaries), delete."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, ConfigDict, Field

from pushgate import simulator_link
from pushgate.api.auth import Actor, GatewayDep, ManagedApp
from pushgate.api.errors import error_responses
from pushgate.credentials import VapidCredential, describe
from pushgate.errors import Conflict, CredentialError, RequestError
from pushgate.gateway import Gateway
from pushgate.providers.apns_credentials import (
    ApnsTokenCredential,
    load_certificate_credential,
    load_token_credential,
)
from pushgate.providers.fcm_credentials import load_service_account
from pushgate.providers.webpush_vapid import VapidKey, check_subject
from pushgate.store import StoredCredential

router = APIRouter(prefix="/v1/credentials", tags=["credentials"])

Environment = Literal["sandbox", "production"]
MAX_LISTED = 10_000
"""Devices looked at when counting the subscriptions a new VAPID key would break."""


class ApnsTokenUpload(BaseModel):
    """Token auth: the .p8 signing key with its Key ID, Team ID and bundle id."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["token"]
    key_p8: str = Field(description="Contents of the AuthKey_XXXXXXXXXX.p8 file (PEM).")
    key_id: str
    team_id: str
    topic: str = Field(description="The app's bundle id.")
    environment: Environment


class ApnsCertificateUpload(BaseModel):
    """Certificate auth: a .p12 (base64) with its password, or a PEM certificate and key."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["certificate"]
    p12_base64: str | None = None
    password: str | None = None
    cert_pem: str | None = None
    key_pem: str | None = None
    environment: Environment | None = None
    topic: str | None = Field(default=None, description="Defaults to the certificate's UID.")


ApnsUpload = Annotated[ApnsTokenUpload | ApnsCertificateUpload, Field(discriminator="kind")]


def _decode_p12(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CredentialError(
            "p12_base64 is not valid base64; encode the .p12 file with base64.",
            code="unreadable_p12",
        ) from None


def load_apns_upload(upload: ApnsTokenUpload | ApnsCertificateUpload) -> Any:
    """Validate an APNs upload into a credential (RequestError / CredentialError if bad)."""
    if isinstance(upload, ApnsTokenUpload):
        return load_token_credential(
            key_p8=upload.key_p8,
            key_id=upload.key_id,
            team_id=upload.team_id,
            topic=upload.topic,
            environment=upload.environment,
        )
    if upload.p12_base64 is None and not (upload.cert_pem and upload.key_pem):
        raise RequestError(
            "Send either p12_base64 (with password) or both cert_pem and key_pem.",
            code="missing_certificate",
        )
    return load_certificate_credential(
        p12=_decode_p12(upload.p12_base64) if upload.p12_base64 else None,
        password=upload.password,
        cert_pem=upload.cert_pem.encode() if upload.cert_pem else None,
        key_pem=upload.key_pem.encode() if upload.key_pem else None,
        environment=upload.environment,
        topic=upload.topic,
    )


@router.put("/apns", status_code=201, responses=error_responses(409, 502))
async def put_apns(
    upload: Annotated[ApnsUpload, Body()], app: ManagedApp, gw: GatewayDep, by: Actor
) -> dict[str, Any]:
    """Validate and store the app's APNs credential for its environment (replacing any)."""
    credential = load_apns_upload(upload)
    control_url = gw.settings.simulator.control_url
    if control_url and isinstance(credential, ApnsTokenCredential):
        await simulator_link.register_apns_key(control_url, credential)
    stored = await gw.registry.put_apns(app.id, credential)
    return await _changed(gw, by, stored)


class FcmUpload(BaseModel):
    """A Google service account (its JSON file, as an object or as text) under a name."""

    model_config = ConfigDict(extra="forbid")
    service_account: dict[str, Any] | str
    name: str = Field(
        default="default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )


class WebPushUpload(BaseModel):
    """A VAPID key pair: ``generate`` a new one, or upload a private key (PEM or raw base64url)."""

    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(
        default=None,
        description="mailto: or https: contact of the sender (Apple's push service requires it).",
    )
    generate: bool = False
    private_key: str | None = None
    replace: bool = Field(
        default=False,
        description="Replace the app's existing VAPID key. Every subscription made with the old "
        "key then fails (push services refuse it) until its browser subscribes again.",
    )


@router.put("/fcm", status_code=201, responses=error_responses(409, 502))
async def put_fcm(upload: FcmUpload, app: ManagedApp, gw: GatewayDep, by: Actor) -> dict[str, Any]:
    """Validate and store a service account (one per name; devices name theirs)."""
    raw = upload.service_account
    account = load_service_account(
        raw if isinstance(raw, str) else json.dumps(raw), name=upload.name
    )
    if gw.settings.simulator.control_url:
        await simulator_link.register_service_account(gw.settings.simulator.control_url, account)
    stored = await gw.registry.put_fcm(app.id, account)
    return await _changed(gw, by, stored)


@router.put("/webpush", status_code=201, responses=error_responses(409))
async def put_webpush(
    upload: WebPushUpload, app: ManagedApp, gw: GatewayDep, by: Actor
) -> dict[str, Any]:
    """Store the app's VAPID key pair; the answer holds the public key for the web app."""
    if upload.generate == (upload.private_key is not None):
        raise RequestError(
            "Send either generate=true or a private_key, not both or neither.",
            code="invalid_vapid_request",
        )
    if not upload.replace and await gw.registry.webpush_for_app(app.id) is not None:
        raise Conflict(await _vapid_replacement_warning(gw, app.id), code="vapid_key_exists")
    key = VapidKey.generate() if upload.generate else _vapid_key(upload.private_key or "")
    subject = check_subject(upload.subject) if upload.subject is not None else None
    credential = VapidCredential(key=key, subject=subject)
    stored = await gw.registry.put_webpush(app.id, credential)
    return await _changed(gw, by, stored)


async def _changed(gw: Gateway, by: str, stored: StoredCredential) -> dict[str, Any]:
    """After an upload: providers reload, the audit log records it; the answer."""
    gw.forget_credentials(stored.app_id)
    await gw.audit(by, "credential.put", f"{stored.platform}/{stored.name}", stored.app_id)
    return describe(stored)


async def _vapid_replacement_warning(gw: Gateway, app_id: str) -> str:
    devices = await gw.store.list_devices(app_id, None, limit=MAX_LISTED)
    subscribed = sum(1 for d in devices if d.platform == "webpush" and d.active)
    return (
        f"This app already has a VAPID key, and {subscribed} active Web Push subscription(s) "
        "were made with it. A new key makes every one of them fail (push services refuse "
        "the push: 403 VapidPkHashMismatch or BadJwtToken) until each browser subscribes "
        "again with the new public key. To replace it anyway send replace=true "
        "(pushgate push webpush --generate --replace)."
    )


def _vapid_key(private_key: str) -> VapidKey:
    if "-----BEGIN" in private_key:
        return VapidKey.from_pem(private_key)
    return VapidKey.from_raw(private_key.strip())


@router.get("")
async def list_credentials(app: ManagedApp, gw: GatewayDep) -> list[dict[str, Any]]:
    """The app's credentials, without key material."""
    return await gw.registry.summaries(app.id)


@router.delete("/{platform}/{name}", status_code=204, responses=error_responses(404))
async def delete_credential(
    platform: str, name: str, app: ManagedApp, gw: GatewayDep, by: Actor
) -> Response:
    """Remove one credential (APNs: the environment; FCM: its name; Web Push: default)."""
    await gw.registry.delete(app.id, platform, name)
    gw.forget_credentials(app.id)
    await gw.audit(by, "credential.delete", f"{platform}/{name}", app.id)
    return Response(status_code=204)
