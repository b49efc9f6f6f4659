"""Platform credentials of the calling app: upload (validated), list (summaries), delete."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, ConfigDict, Field

from pushgate.api.auth import CurrentApp, GatewayDep
from pushgate.errors import CredentialError, RequestError
from pushgate.providers.apns_credentials import load_certificate_credential, load_token_credential

router = APIRouter(prefix="/v1/credentials", tags=["credentials"])

Environment = Literal["sandbox", "production"]


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


def _load(upload: ApnsTokenUpload | ApnsCertificateUpload) -> Any:
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


@router.put("/apns", status_code=201)
async def put_apns(
    upload: Annotated[ApnsUpload, Body()], app: CurrentApp, gw: GatewayDep
) -> dict[str, Any]:
    """Validate and store the app's APNs credential for its environment (replacing any)."""
    credential = _load(upload)
    stored = await gw.registry.put_apns(app.id, credential)
    gw.forget_credentials(app.id)
    return {
        "platform": "apns",
        "name": stored.name,
        "created_at": stored.created_at,
        **stored.summary,
    }


@router.get("")
async def list_credentials(app: CurrentApp, gw: GatewayDep) -> list[dict[str, Any]]:
    """The app's credentials, without key material."""
    return await gw.registry.summaries(app.id)


@router.delete("/{platform}/{name}", status_code=204)
async def delete_credential(platform: str, name: str, app: CurrentApp, gw: GatewayDep) -> Response:
    """Remove one credential (for APNs the name is the environment)."""
    await gw.registry.delete(app.id, platform, name)
    gw.forget_credentials(app.id)
    return Response(status_code=204)
