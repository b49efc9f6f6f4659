"""Tell the built-in simulator about an app's own credentials when the gateway sends to it.

The simulator accepts provider tokens only from signing keys and service accounts it knows.
A gateway configured with ``simulator.control_url`` registers each uploaded APNs key and FCM
service account there (public halves only) through the simulator's control API, over HTTP
like any other client: the simulator package stays independent of the gateway.
"""

from __future__ import annotations

from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization

from pushgate.errors import RequestError
from pushgate.providers.apns_credentials import ApnsTokenCredential
from pushgate.providers.fcm_credentials import FcmServiceAccount

TIMEOUT = 10.0


class SimulatorRefused(RequestError):
    """The simulator did not take the credential; nothing was stored."""

    code = "simulator_refused"
    status = 502


async def register_apns_key(control_url: str, credential: ApnsTokenCredential) -> None:
    """Make the simulator trust this signing key for the credential's team."""
    await _post(
        control_url,
        "/apns/keys",
        {
            "key_id": credential.key_id,
            "team_id": credential.team_id,
            "public_key_pem": credential.public_key_pem.decode(),
            "bundle_ids": [credential.topic],
        },
    )


async def register_service_account(control_url: str, account: FcmServiceAccount) -> None:
    """Make the simulator's token endpoint trust this service account."""
    public_pem = account.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body: dict[str, Any] = {
        "client_email": account.client_email,
        "project_id": account.project_id,
        "public_key_pem": public_pem.decode(),
    }
    if account.private_key_id:
        body["key_id"] = account.private_key_id
    await _post(control_url, "/fcm/service-accounts", body)


async def _post(control_url: str, path: str, body: dict[str, Any]) -> None:
    url = control_url.rstrip("/") + path
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            response = await http.post(url, json=body)
    except httpx.HTTPError:
        raise SimulatorRefused(
            f"The simulator's control API at {control_url} cannot be reached, so it would "
            "refuse this credential; start the simulator or unset simulator.control_url. "
            "Nothing was stored."
        ) from None
    if response.status_code >= 400:
        try:
            message = str(response.json().get("message", ""))
        except ValueError:
            message = ""
        raise SimulatorRefused(
            f"The simulator refused the credential (HTTP {response.status_code}: "
            f"{message or 'no reason given'}). Nothing was stored."
        )
