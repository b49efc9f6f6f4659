"""Validate an uploaded FCM service-account JSON file and load it as an FcmServiceAccount.

Every bad input raises CredentialError with a sentence saying what to fix and a machine-readable
``code``. Messages never contain key material. Wire facts: docs/fcm.md §1, §2.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pushgate.errors import CredentialError

__all__ = ["REQUIRED_FIELDS", "FcmServiceAccount", "load_service_account"]

REQUIRED_FIELDS: Final = ("project_id", "client_email", "private_key", "token_uri")
"""Keys a service-account file must carry for the JWT-bearer grant (§2)."""

_MAX_UPLOAD: Final = 1 << 20
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Project ids (and domain-scoped ids such as "example.com:proj", or project numbers) go into the
# send URL path (§1), so only URL-safe characters are allowed.
_PROJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,99}")
_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class FcmServiceAccount:
    """A validated Google service account that may mint FCM access tokens (§2)."""

    name: str
    """The app's label for this credential (an app may hold several projects)."""
    project_id: str
    client_email: str
    private_key_id: str | None
    """Sent as the assertion's ``kid``; None when the file has no ``private_key_id``."""
    token_uri: str
    fingerprint: str
    """First 16 hex digits of sha256(client_email, public key): the connection-pool partition."""
    private_key: rsa.RSAPrivateKey = field(repr=False, compare=False)
    raw: bytes = field(repr=False, compare=False)
    """The uploaded JSON exactly as given, for storing encrypted and loading again."""

    def public_summary(self) -> dict[str, object]:
        """A description safe to return from the API: never the key."""
        return {
            "kind": "service_account",
            "name": self.name,
            "project_id": self.project_id,
            "client_email": self.client_email,
            "private_key_id": self.private_key_id,
            "fingerprint": self.fingerprint,
        }


def load_service_account(raw: bytes | str, *, name: str = "default") -> FcmServiceAccount:
    """Validate a service-account JSON file (Firebase console > Service accounts) and load it."""
    data = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    info = _parse(data)
    _check_type(info)
    values = {key: _required(info, key) for key in REQUIRED_FIELDS}
    key = _load_private_key(values["private_key"])
    client_email = _check_email(values["client_email"])
    public_der = key.public_key().public_bytes(_DER, _SPKI)
    key_id = info.get("private_key_id")
    return FcmServiceAccount(
        name=name,
        project_id=_check_project_id(values["project_id"]),
        client_email=client_email,
        private_key_id=key_id if isinstance(key_id, str) and key_id else None,
        token_uri=_check_token_uri(values["token_uri"]),
        fingerprint=_fingerprint(client_email.encode(), public_der),
        private_key=key,
        raw=data,
    )


def _parse(data: bytes) -> dict[str, Any]:
    """The file's top-level JSON object."""
    hint = (
        "upload the JSON key file from Firebase console > Project settings > Service accounts "
        "> Generate new private key."
    )
    if not data.strip() or len(data) > _MAX_UPLOAD:
        raise CredentialError(
            f"The service-account file is empty or too large; {hint}",
            code="unreadable_service_account",
        )
    try:
        info = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise CredentialError(
            f"The service-account file is not valid JSON; {hint}", code="unreadable_service_account"
        ) from None
    if not isinstance(info, dict):
        raise CredentialError(
            f"The service-account file is JSON but not an object; {hint}",
            code="unreadable_service_account",
        )
    return info


def _check_type(info: dict[str, Any]) -> None:
    """Insist on ``"type": "service_account"``, recognising the usual mix-ups."""
    kind = info.get("type")
    if kind == "service_account":
        return
    if "project_info" in info and "client" in info:
        detail = "This is google-services.json, the Android app's configuration"
    elif kind == "authorized_user":
        detail = "This is a user credential (from gcloud auth), not a service account"
    else:
        detail = f"The file's type is {str(kind)[:40]!r}, not 'service_account'"
    raise CredentialError(
        f"{detail}; upload the service-account key file from Firebase console > Project "
        "settings > Service accounts > Generate new private key.",
        code="wrong_credential_type",
    )


def _required(info: dict[str, Any], key: str) -> str:
    """A required field's text; CredentialError naming the field when absent or empty."""
    value = info.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CredentialError(
            f"The service-account file has no {key!r}; upload the complete file as downloaded "
            "from the Firebase console, without editing it.",
            code="missing_field",
        )
    return value.strip()


def _load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """The RSA key that signs the RS256 assertion (§2)."""
    if "\\n" in pem and "\n" not in pem:
        pem = pem.replace("\\n", "\n")  # pasted through an environment variable, escaped twice
    message = (
        "The service account's private_key is not a readable RSA private key; download a new "
        "key file from the Firebase console and upload it unchanged."
    )
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        raise CredentialError(message, code="unreadable_private_key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialError(message, code="unreadable_private_key")
    return key


def _check_email(value: str) -> str:
    """The service account's address, e.g. firebase-adminsdk-x@proj.iam.gserviceaccount.com."""
    if not _EMAIL.fullmatch(value) or len(value) > 320:
        raise CredentialError(
            f"client_email {value[:80]!r} is not an email address; a service account's "
            "address looks like name@project.iam.gserviceaccount.com.",
            code="invalid_client_email",
        )
    return value


def _check_project_id(value: str) -> str:
    """The project id (or number) that goes into the send URL (§1)."""
    if not _PROJECT_ID.fullmatch(value):
        raise CredentialError(
            f"project_id {value[:80]!r} is not a Google Cloud project id (letters, digits, "
            "hyphens; shown in Firebase console > Project settings).",
            code="invalid_project_id",
        )
    return value


def _check_token_uri(value: str) -> str:
    """The OAuth token endpoint; it must be https, since the assertion is a bearer secret."""
    if not value.startswith("https://") or any(c.isspace() for c in value):
        raise CredentialError(
            f"token_uri {value[:120]!r} is not an https URL; Google's is "
            "https://oauth2.googleapis.com/token.",
            code="invalid_token_uri",
        )
    return value


def _fingerprint(*parts: bytes) -> str:
    """A short stable id: the first 16 hex digits of sha256 over the length-prefixed parts."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(4, "big") + part)
    return digest.hexdigest()[:16]
