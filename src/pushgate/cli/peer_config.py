"""Read a peer gateway's configuration into what pushgate needs: credentials and a front door.

Understood: ``mattermost-push-proxy.json`` (Mattermost push proxy), ``sygnal.yaml`` (Sygnal,
the Matrix reference gateway) and gorush's ``config.yml``. The key and certificate files they
name are read here; relative paths are taken from the configuration file's directory, as the
peers do when started from there. Each credential becomes an upload body for
``PUT /v1/credentials/{platform}``, validated exactly as that endpoint validates it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from pushgate.api.credentials import ApnsUpload, FcmUpload, load_apns_upload
from pushgate.errors import PushgateError
from pushgate.providers.fcm_credentials import load_service_account

FORMATS = ("mattermost", "sygnal", "gorush")
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class PeerConfigError(PushgateError):
    """The file cannot be imported; the message says what to fix."""

    code = "import_error"


@dataclass(slots=True)
class Upload:
    """One credential to upload, and where in the peer's file it came from."""

    platform: str
    body: dict[str, Any]
    source: str

    def summary(self) -> str:
        """What it is, without key material."""
        if self.platform == "fcm":
            account = self.body["service_account"]
            project = json.loads(account).get("project_id", "?")
            return f"FCM service account '{self.body['name']}' (project {project})"
        kind = self.body["kind"]
        return f"APNs {kind} credential, {self.body.get('environment') or 'from certificate'}" + (
            f", topic {self.body['topic']}" if self.body.get("topic") else ""
        )


@dataclass(slots=True)
class Plan:
    """What an import creates: an app, its credentials, and the door's configuration."""

    app: str
    uploads: list[Upload] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    """Sections to add to pushgate.toml."""
    skipped: list[str] = field(default_factory=list)
    """Entries of the peer's file that are not imported, each with why."""


def detect(path: Path) -> str:
    """The format of ``path``: JSON is the Mattermost proxy's; YAML with ``apps`` is Sygnal's."""
    text = _read_text(path)
    if path.suffix == ".json" or text.lstrip().startswith("{"):
        return "mattermost"
    data = _yaml(path, text)
    return "sygnal" if isinstance(data, dict) and "apps" in data else "gorush"


def read_plan(path: Path, app: str, *, peer: str | None = None, topic: str | None = None) -> Plan:
    """The import plan for ``path``; every credential validated as an upload is."""
    peer = peer or detect(path)
    readers = {"mattermost": _mattermost, "sygnal": _sygnal, "gorush": _gorush}
    plan = readers[peer](path, Plan(app=app), topic)
    for upload in plan.uploads:
        validate(upload)
    return plan


def validate(upload: Upload) -> None:
    """Check an upload as ``PUT /v1/credentials/...`` does (CredentialError / RequestError)."""
    try:
        if upload.platform == "apns":
            load_apns_upload(TypeAdapter(ApnsUpload).validate_python(upload.body))
        else:
            fcm = FcmUpload.model_validate(upload.body)
            raw = fcm.service_account
            load_service_account(raw if isinstance(raw, str) else json.dumps(raw), name=fcm.name)
    except ValidationError as exc:
        raise PeerConfigError(f"{upload.source}: {exc.errors()[0]['msg']}.") from None
    except PushgateError as exc:
        raise PeerConfigError(f"{upload.source}: {exc.message}") from None


# -- Mattermost push proxy ------------------------------------------------------------------


def _mattermost(path: Path, plan: Plan, topic: str | None) -> Plan:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise PeerConfigError(f"{path} is not valid JSON: {exc}.") from None
    platforms: dict[str, dict[str, str]] = {}
    environments: dict[str, str] = {}
    for index, entry in enumerate(data.get("ApplePushSettings") or []):
        where = f"ApplePushSettings[{index}] ({entry.get('Type', '?')})"
        environment = "sandbox" if entry.get("ApplePushUseDevelopment") else "production"
        if environment in environments:
            plan.skipped.append(
                f"{where}: the app already has a {environment} APNs credential from "
                f"{environments[environment]}; a door sends with one per environment"
            )
            continue
        body = _mattermost_apple(path, entry, environment, where)
        if body is None:
            plan.skipped.append(f"{where}: no AppleAuthKeyFile or ApplePushCertPrivate")
            continue
        environments[environment] = entry.get("Type", "?")
        plan.uploads.append(Upload("apns", body, where))
        platforms[entry["Type"]] = {"platform": "apns", "credential": environment}
    for index, entry in enumerate(data.get("AndroidPushSettings") or []):
        where = f"AndroidPushSettings[{index}] ({entry.get('Type', '?')})"
        if not entry.get("ServiceFileLocation"):
            plan.skipped.append(f"{where}: no ServiceFileLocation (the legacy API key is gone)")
            continue
        name = _credential_name(entry["Type"])
        account = _read_text(_resolve(path, entry["ServiceFileLocation"]))
        plan.uploads.append(Upload("fcm", {"service_account": account, "name": name}, where))
        platforms[entry["Type"]] = {"platform": "fcm", "credential": name}
    if not platforms:
        raise PeerConfigError(f"{path}: no ApplePushSettings or AndroidPushSettings to import.")
    plan.config = {
        "mattermost": [
            {"app": plan.app, "url_secret": secrets.token_urlsafe(24), "platforms": platforms}
        ]
    }
    return plan


def _mattermost_apple(
    path: Path, entry: dict[str, Any], environment: str, where: str
) -> dict[str, Any] | None:
    topic = entry.get("ApplePushTopic") or None
    if entry.get("AppleAuthKeyFile") and entry.get("AppleAuthKeyID") and entry.get("AppleTeamID"):
        return _token_upload(
            _read_text(_resolve(path, entry["AppleAuthKeyFile"])),
            entry["AppleAuthKeyID"],
            entry["AppleTeamID"],
            topic or _missing(where, "ApplePushTopic"),
            environment,
        )
    if entry.get("ApplePushCertPrivate"):
        pem = _read_text(_resolve(path, entry["ApplePushCertPrivate"]))
        return _pem_upload(pem, environment, topic, entry.get("ApplePushCertPassword"))
    return None


# -- Sygnal ---------------------------------------------------------------------------------


def _sygnal(path: Path, plan: Plan, topic: str | None) -> Plan:
    data = _yaml(path, _read_text(path))
    apps = data.get("apps") if isinstance(data, dict) else None
    if not isinstance(apps, dict) or not apps:
        raise PeerConfigError(f"{path}: no 'apps' to import.")
    app_ids: dict[str, dict[str, str]] = {}
    environments: dict[str, str] = {}
    for app_id, entry in apps.items():
        where = f"apps.{app_id}"
        kind = entry.get("type")
        if kind == "apns":
            environment = "sandbox" if entry.get("platform") == "sandbox" else "production"
            if environment in environments and environments[environment] != app_id:
                plan.skipped.append(
                    f"{where}: the app already has a {environment} APNs credential from "
                    f"apps.{environments[environment]}; import this one into another app"
                )
                continue
            plan.uploads.append(
                Upload("apns", _sygnal_apns(path, entry, environment, where), where)
            )
            environments[environment] = app_id
            app_ids[app_id] = {"app": plan.app, "platform": "apns", "credential": environment}
        elif kind == "gcm" and entry.get("service_account_file"):
            name = _credential_name(app_id)
            account = _read_text(_resolve(path, entry["service_account_file"]))
            plan.uploads.append(Upload("fcm", {"service_account": account, "name": name}, where))
            app_ids[app_id] = {"app": plan.app, "platform": "fcm", "credential": name}
        else:
            plan.skipped.append(
                f"{where}: type {kind!r} without service_account_file (only apns and "
                "gcm api_version v1 are imported; FCM's legacy API keys no longer work)"
            )
    if not app_ids:
        raise PeerConfigError(f"{path}: none of the apps can be imported.")
    plan.config = {"matrix": {"app_ids": app_ids}}
    return plan


def _sygnal_apns(path: Path, entry: dict[str, Any], environment: str, where: str) -> dict[str, Any]:
    if entry.get("keyfile"):
        return _token_upload(
            _read_text(_resolve(path, entry["keyfile"])),
            entry.get("key_id") or _missing(where, "key_id"),
            entry.get("team_id") or _missing(where, "team_id"),
            entry.get("topic") or _missing(where, "topic"),
            environment,
        )
    if entry.get("certfile"):
        pem = _read_text(_resolve(path, entry["certfile"]))
        return _pem_upload(pem, environment, entry.get("topic"), None)
    raise PeerConfigError(f"{where}: give keyfile (token auth) or certfile (certificate auth).")


# -- gorush ---------------------------------------------------------------------------------


def _gorush(path: Path, plan: Plan, topic: str | None) -> Plan:
    data = _yaml(path, _read_text(path))
    if not isinstance(data, dict):
        raise PeerConfigError(f"{path} is not a gorush config.yml (a YAML mapping).")
    ios, android, core = data.get("ios") or {}, data.get("android") or {}, data.get("core") or {}
    if ios.get("enabled"):
        body = _gorush_ios(path, ios, topic)
        plan.uploads.append(Upload("apns", body, "ios"))
    if android.get("enabled", True) and (android.get("key_path") or android.get("credential")):
        account = (
            _read_text(_resolve(path, android["key_path"]))
            if android.get("key_path")
            else _maybe_base64(android["credential"])
        )
        plan.uploads.append(
            Upload("fcm", {"service_account": account, "name": "default"}, "android")
        )
    if (data.get("huawei") or {}).get("enabled"):
        plan.skipped.append("huawei: pushgate does not send to Huawei Push Kit yet")
    if not plan.uploads:
        raise PeerConfigError(f"{path}: neither ios nor android has a key to import.")
    door: dict[str, Any] = {"app": plan.app, "ios_production": bool(ios.get("production"))}
    if core.get("sync"):
        door["sync"] = True
    if core.get("max_notification"):
        door["max_notification"] = int(core["max_notification"])
    plan.config = {"gorush": door}
    return plan


def _gorush_ios(path: Path, ios: dict[str, Any], topic: str | None) -> dict[str, Any]:
    raw = (
        _resolve(path, ios["key_path"]).read_bytes()
        if ios.get("key_path")
        else _decode(ios.get("key_base64") or _missing("ios", "key_path or key_base64"))
    )
    kind = ios.get("key_type") or Path(ios.get("key_path") or "key.pem").suffix.lstrip(".")
    environment = "production" if ios.get("production") else "sandbox"
    if kind == "p8":
        return _token_upload(
            raw.decode("utf-8", "replace"),
            ios.get("key_id") or _missing("ios", "key_id"),
            ios.get("team_id") or _missing("ios", "team_id"),
            topic or _missing("ios", "the bundle id (--topic: gorush takes it per push)"),
            environment,
        )
    if kind != "p12":
        return _pem_upload(raw.decode("utf-8", "replace"), environment, topic, ios.get("password"))
    body = _certificate_upload(environment, topic, ios.get("password"))
    body["p12_base64"] = base64.b64encode(raw).decode()
    return body


# -- helpers --------------------------------------------------------------------------------


def _token_upload(
    key_p8: str, key_id: str, team_id: str, topic: str, environment: str
) -> dict[str, Any]:
    """An APNs token-auth upload body."""
    return {
        "kind": "token",
        "key_p8": key_p8,
        "key_id": key_id,
        "team_id": team_id,
        "topic": topic,
        "environment": environment,
    }


def _certificate_upload(
    environment: str, topic: str | None, password: str | None
) -> dict[str, Any]:
    """An APNs certificate upload body without its certificate yet."""
    body: dict[str, Any] = {"kind": "certificate", "environment": environment}
    if password:
        body["password"] = password
    if topic:
        body["topic"] = topic
    return body


def _pem_upload(
    pem: str, environment: str, topic: str | None, password: str | None
) -> dict[str, Any]:
    """A certificate upload from one PEM file holding the certificate and its key."""
    return {**_certificate_upload(environment, topic, password), "cert_pem": pem, "key_pem": pem}


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise PeerConfigError(f"Cannot read {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise PeerConfigError(f"{path} is not a text file.") from None


def _yaml(path: Path, text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PeerConfigError(f"{path} is not valid YAML: {exc}.") from None


def _resolve(config: Path, named: str) -> Path:
    named_path = Path(named).expanduser()
    return named_path if named_path.is_absolute() else config.parent / named_path


def _decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PeerConfigError("ios.key_base64 is not valid base64.") from None


def _maybe_base64(value: str) -> str:
    """gorush's ``android.credential``: the service-account JSON, as is or base64."""
    if value.lstrip().startswith("{"):
        return value
    return _decode(value).decode("utf-8", "replace")


def _credential_name(name: str) -> str:
    cleaned = _NAME.sub("-", name).strip("-._")[:64]
    return cleaned or "default"


def _missing(where: str, what: str) -> Any:
    raise PeerConfigError(f"{where}: {what} is missing.")
