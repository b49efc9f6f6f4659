"""One settings object, read from a TOML file and ``PUSHGATE_*`` environment variables.

Precedence, highest first: explicit overrides (CLI options) > environment > file > defaults.
Nested keys use ``__`` in the environment: ``PUSHGATE_APNS__CA_FILE=/path/ca.pem``.
Unknown keys are refused so typos surface at start-up.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from pushgate.errors import ConfigurationError

CONFIG_ENV = "PUSHGATE_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsPair(_Section):
    """A certificate and its key: both, or neither (plain HTTP)."""

    tls_cert_file: Path | None = None
    """PEM certificate chain; with ``tls_key_file``, the listener speaks HTTPS."""
    tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> TlsPair:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both tls_cert_file and tls_key_file, or neither")
        return self


Exposure = Literal["open", "key", "closed"]
"""An operator endpoint: served to anyone, only with ``server.operator_key``, or not at all."""


class ServerSettings(TlsPair):
    """Where the HTTP API listens, over TLS when a certificate is given (read again on
    SIGHUP), and who may read the operator endpoints."""

    host: str = "127.0.0.1"
    port: int = Field(default=8086, ge=0, le=65535)
    metrics: Exposure = "open"
    """``/metrics``."""
    docs: Exposure = "open"
    """``/docs``, ``/redoc``, their files and ``/openapi.json``."""
    operator_key: SecretStr | None = None
    """The key of the endpoints set to ``key``: ``Authorization: Bearer <key>``, or HTTP Basic
    with the key as password (what a browser prompts for)."""

    @model_validator(mode="after")
    def _operator_key(self) -> ServerSettings:
        key = self.operator_key.get_secret_value() if self.operator_key else ""
        if "key" in (self.metrics, self.docs) and len(key) < 16:
            raise ValueError(
                "server.metrics or server.docs = 'key' needs server.operator_key "
                "(at least 16 characters)"
            )
        return self


class StoreSettings(_Section):
    """Where the store and outbox live: one SQLite file, or PostgreSQL shared by gateways."""

    backend: Literal["sqlite", "postgresql"] = "sqlite"
    path: Path | None = None
    """SQLite: database file; defaults to ``<data_dir>/pushgate.db``."""
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    """SQLite: FULL fsyncs every commit (survives power loss); NORMAL survives process crashes
    only."""
    url: SecretStr | None = None
    """PostgreSQL: ``postgresql://user[:password]@host:port/database`` (a secret: it may hold
    a password)."""
    schema_name: str = Field(default="public", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    """PostgreSQL: the schema pushgate's tables live in (created if missing)."""
    pool_size: int = Field(default=8, ge=1, le=100)
    """PostgreSQL: connections per process."""
    lease_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    """PostgreSQL: how long a claimed delivery stays a gateway's without renewal; work of a
    gateway that died is taken over by another after this long."""

    @model_validator(mode="after")
    def _url_for_postgresql(self) -> StoreSettings:
        if self.backend == "postgresql" and self.url is None:
            raise ValueError(
                "store.backend = 'postgresql' needs store.url "
                "(postgresql://user@host:port/database, or PUSHGATE_STORE__URL)"
            )
        if self.url is not None and not self.url.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("store.url must start with postgresql:// (or postgres://)")
        return self


class ApnsSettings(_Section):
    """How to reach APNs. Point both environments at the simulator in tests and demos."""

    production_host: str = "api.push.apple.com"
    production_port: int = Field(default=443, ge=1, le=65535)
    sandbox_host: str = "api.sandbox.push.apple.com"
    sandbox_port: int = Field(default=443, ge=1, le=65535)
    ca_file: Path | None = None
    """Trust exactly this CA bundle for APNs instead of the system store (simulator CA)."""
    connections_per_credential: int = Field(default=4, ge=1, le=64)
    """HTTP/2 connections to APNs per credential. Each connection has its own flow-control window: with a server window of 64 KB, four
    connections kept the dispatcher busier than two (bench/dispatch: 27-30 % of h2load against
    23-26 %, paired runs)."""
    request_timeout: float = Field(default=10.0, gt=0)
    token_refresh_minutes: float = Field(default=50.0, ge=20, le=55)


class FcmSettings(_Section):
    """How to reach FCM HTTP v1. Point both URLs at the simulator in tests and demos."""

    base_url: str = "https://fcm.googleapis.com"
    token_url: str | None = None
    """OAuth token endpoint; None uses each service account's ``token_uri``."""
    ca_file: Path | None = None
    """Trust exactly this CA bundle for FCM and its token endpoint (simulator CA)."""
    connections_per_credential: int = Field(default=4, ge=1, le=64)
    """HTTP/2 connections to FCM per service account (and to its token endpoint)."""
    request_timeout: float = Field(default=10.0, gt=0)


class WebPushSettings(_Section):
    """How to reach browsers' push services."""

    ca_file: Path | None = None
    """Trust exactly this CA bundle for push services (simulator CA); None: system store."""
    connections_per_host: int = Field(default=4, ge=1, le=64)
    """HTTP/2 connections per push service origin (e.g. fcm.googleapis.com, web.push.apple.com)."""
    request_timeout: float = Field(default=10.0, gt=0)


class DispatchSettings(_Section):
    """Workers that move the outbox to the push services."""

    concurrency: int = Field(default=4000, ge=1)
    """Deliveries in flight at once across all providers (4 APNs connections of 1,000 streams)."""
    window: int = Field(default=20_000, ge=1)
    """Deliveries held in memory; a larger backlog waits in the outbox on disk."""
    max_attempts: int = Field(default=30, ge=1)
    """The retry budget of one delivery: tries the push service processed and failed (a
    refused stream or a request never sent is not charged). With the default back-off it
    outlasts ``retry_deadline``, which is what bounds a delivery in practice."""
    backoff_initial: float = Field(default=1.0, gt=0)
    backoff_max: float = Field(default=300.0, gt=0)
    retry_deadline: float = Field(default=3600.0, gt=0)
    """Seconds after acceptance when an undelivered notification is reported failed."""
    circuit_threshold: int = Field(default=10, ge=1)
    """Configuration refusals in a row (a revoked key, a wrong team) after which a
    credential's circuit opens: its deliveries wait instead of being sent."""
    circuit_cooldown: float = Field(default=30.0, gt=0)
    """Seconds an opened circuit waits before one delivery goes as a probe; doubled after
    each refused probe."""
    circuit_max_cooldown: float = Field(default=600.0, gt=0)
    host_circuit_threshold: int = Field(default=50, ge=1)
    """Failed tries in a row (timeouts, lost connections, 5xx, 429) at one push service host,
    lasting ``host_circuit_span`` seconds with no answer taken, after which that host's
    circuit opens (same cooldown and probe as a credential's)."""
    host_circuit_span: float = Field(default=10.0, ge=0)
    mass_rejection_threshold: int = Field(default=10, ge=1)
    """Token rejections of one app and platform within ``mass_rejection_span`` seconds,
    outnumbering its deliveries, past which further ones are a credential alert instead of
    deactivations."""
    mass_rejection_span: float = Field(default=60.0, gt=0)
    wait_timeout: float = Field(default=30.0, gt=0)
    """Longest a ``wait=true`` send request holds its answer."""
    separate_process: bool = True
    """Send from a process of its own (a second core, no GIL shared with the API); false
    keeps the dispatcher in the API process."""


class RetentionSettings(_Section):
    """How long what was sent is kept: devices, credentials and apps stay until removed."""

    days: float = Field(default=7.0, gt=0)
    """Notifications (their message text and renders) and their deliveries are erased this
    long after acceptance, once every delivery is finished (none pending)."""
    interval_seconds: float = Field(default=3600.0, gt=0)
    """How often the purge runs."""


class WebhookSettings(_Section):
    """How apps' webhooks are called (device deactivations, notifications' final outcomes)."""

    retry_for: float = Field(default=86_400.0, ge=86_400.0)
    """Seconds a call is retried, from its event, before it is given up as failed (at least
    24 h: a receiver down for a day loses nothing)."""
    backoff_initial: float = Field(default=1.0, gt=0)
    backoff_max: float = Field(default=600.0, gt=0)
    timeout: float = Field(default=10.0, gt=0)
    """Seconds a receiver has to answer one call."""
    poll_interval: float = Field(default=1.0, gt=0)
    """How often the queue is looked at for calls that are due."""


class RateLimitSettings(_Section):
    """Requests per minute an API key and an app may make (fixed one-minute windows).

    The admin key is never limited. With several gateways, set ``redis_url`` so they count
    together; without it each gateway counts on its own."""

    per_key: int | None = Field(default=None, ge=1)
    """Default limit of each app key; a key's own ``rate_limit`` overrides it; None: none."""
    per_app: int | None = Field(default=None, ge=1)
    """Limit of all of an app's keys together; None: none."""
    redis_url: SecretStr | None = None
    """``redis://host:port/db`` (a secret: it may hold a password): counters shared by every
    gateway that names the same Redis."""

    @model_validator(mode="after")
    def _redis_url(self) -> RateLimitSettings:
        if self.redis_url is not None and not self.redis_url.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("rate_limits.redis_url must start with redis://, rediss:// or unix://")
        return self


class LimitsSettings(_Section):
    """What one client may ask of the gateway at once: refused with a 4xx before it hurts."""

    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """Largest request body (declared or chunked): 413 ``request_too_large``."""
    body_memory_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Request bodies held in memory at once, all requests together: a body that would
    exceed it is answered 429 ``server_busy`` with ``Retry-After``."""
    max_json_depth: int = Field(default=64, ge=4, le=200)
    """Deepest nesting of a JSON body: 422 ``malformed_json``."""
    max_deliveries_per_request: int = Field(default=20_000, ge=1)
    """Deliveries one request may become (all its notifications, every device of every user):
    422 ``too_many_deliveries``."""
    outbox_per_app: int = Field(default=500_000, ge=1)
    """Undelivered deliveries one app may have in the outbox: beyond it sends are answered
    429 ``outbox_full`` with ``Retry-After`` (nothing accepted is dropped)."""
    outbox_total: int = Field(default=2_000_000, ge=1)
    """Undelivered deliveries of all apps together (429 ``outbox_full`` beyond it)."""
    outbox_retry_after: float = Field(default=5.0, gt=0, le=3600)
    """The ``Retry-After`` seconds of an ``outbox_full`` answer."""
    idempotency_key_seconds: float = Field(default=86_400.0, ge=60)
    """How long a send's ``Idempotency-Key`` is remembered: a repeat within it gets the first
    answer and sends nothing."""
    max_connections: int | None = Field(default=None, ge=1)
    """Client connections open at once on each listener (the API's, each door's own): over it
    a new connection closes the one that has waited longest for a request head, or is closed
    itself when all are busy. None: a share of the process's descriptor limit
    (``RLIMIT_NOFILE``), less a quarter (at least 64) kept for the store, the push services'
    connections and the logs."""
    header_timeout: float = Field(default=5.0, gt=0, le=300)
    """Seconds a connection has, from opening (TLS handshake included) or from the first byte
    of its next request, to send a complete request head; then it is closed."""
    body_timeout: float = Field(default=10.0, gt=0, le=300)
    """Seconds a request body may stall (no byte arriving): then 408 ``body_timeout`` and the
    connection is closed."""
    idle_timeout: int = Field(default=5, ge=1, le=3600)
    """Seconds a keep-alive connection stays open waiting for its next request."""


class DeviceSettings(_Section):
    """Device registration rules."""

    max_per_user: int = Field(default=25, ge=1)


class SimulatorLinkSettings(_Section):
    """A gateway that sends to the built-in simulator instead of Apple and Google."""

    control_url: str | None = None
    """The simulator's control API (e.g. ``http://127.0.0.1:8440``): when set, every uploaded
    APNs signing key and FCM service account is registered there too (public halves only), so
    the simulator accepts the app's own credentials. ``pushgate serve --simulator`` sets it."""


class PushTarget(_Section):
    """A platform and one of the app's credentials for it.

    ``credential`` names the device environment for APNs (``production`` or ``sandbox``,
    default production) and the credential name for FCM (default ``default``).
    """

    platform: Literal["apns", "fcm"]
    credential: str | None = None

    @property
    def apns_environment(self) -> str | None:
        """The APNs environment to send in (``production`` unless named); None for FCM."""
        if self.platform != "apns":
            return None
        return self.credential or "production"

    @property
    def fcm_credential(self) -> str | None:
        """The FCM credential to send with (``default`` unless named); None for APNs."""
        if self.platform != "fcm":
            return None
        return self.credential or "default"

    @model_validator(mode="after")
    def _apns_environment(self) -> PushTarget:
        if self.platform == "apns" and self.apns_environment not in ("production", "sandbox"):
            raise ValueError("an apns target's credential is 'production' or 'sandbox'")
        return self


class AppTarget(PushTarget):
    """A push target of a named app."""

    app: str


class ListenerSettings(TlsPair):
    """A listener of a front door's own, plain HTTP or TLS (read again on SIGHUP)."""

    host: str = "127.0.0.1"
    port: int = Field(default=8066, ge=0, le=65535)


class MattermostDoor(_Section):
    """A Mattermost push proxy front door (``/api/v1/send_push``) bound to one app."""

    app: str
    url_secret: SecretStr | None = None
    """Serve under ``/mm/<url_secret>``: the Mattermost server's push URL carries the secret."""
    main_listener: bool = False
    """Also serve at ``/api/v1/send_push``, ``/version`` and ``/`` of the main listener."""
    listener: ListenerSettings | None = None
    """Also serve at the root of a listener of its own (the proxy's sample port is 8066)."""
    wait_timeout: float = Field(default=20.0, gt=0, lt=30)
    """Longest send_push holds its answer for the push service's verdict (the server gives
    up after 30 s and never retries)."""
    platforms: dict[str, PushTarget]
    """The proxy's platform types (``apple_rn``, ``android_rn``, ...) and where each goes."""

    @model_validator(mode="after")
    def _reachable(self) -> MattermostDoor:
        if self.url_secret is None and not self.main_listener and self.listener is None:
            raise ValueError("set url_secret, main_listener = true or a listener")
        if self.url_secret is not None and len(self.url_secret.get_secret_value()) < 16:
            raise ValueError("url_secret must be at least 16 characters")
        return self


class MatrixDoor(_Section):
    """The Matrix Push Gateway API (``/_matrix/push/v1/notify``)."""

    wait_timeout: float = Field(default=10.0, gt=0)
    """Longest notify holds its answer to learn which pushkeys are dead."""
    app_ids: dict[str, AppTarget]
    """Matrix pusher ``app_id`` -> the pushgate app and credential it sends with."""


class GorushDoor(_Section):
    """A gorush-compatible front door (``/api/push``) bound to one app."""

    app: str
    path_prefix: str = Field(default="", pattern=r"^(/[A-Za-z0-9._~-]+)*$")
    """Where gorush's routes are served: ``""`` keeps gorush's own paths."""
    ios_production: bool = True
    """gorush's ``ios.production``: the default APNs environment."""
    android_credential: str = "default"
    sync: bool = False
    """gorush's ``core.sync``: answer after the push services did, with the failures."""
    wait_timeout: float = Field(default=20.0, gt=0)
    max_notification: int = Field(default=100, ge=1)
    hide_token: bool = True
    """gorush's ``log.hide_token``: tokens in ``logs`` and feedback have their first and last
    10 characters masked."""
    feedback_hook_url: str | None = Field(default=None, pattern=r"^https?://")
    """gorush's ``core.feedback_hook_url``: every failed push's log entry is POSTed here."""
    feedback_timeout: float = Field(default=10.0, gt=0)
    feedback_header: list[SecretStr] = Field(default_factory=list)
    """Headers of each feedback POST, ``"Name: value"`` (values may be credentials: shown
    nowhere)."""

    @model_validator(mode="after")
    def _headers_have_names(self) -> GorushDoor:
        for header in self.feedback_header:
            name, colon, _ = header.get_secret_value().partition(":")
            if not colon or not name.strip():
                raise ValueError('each [gorush] feedback_header is "Name: value"')
        return self


class Settings(BaseSettings):
    """Everything pushgate can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="PUSHGATE_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path("pushgate-data")
    admin_api_key: SecretStr | None = None
    """Admin key; when unset one is generated on first start and printed once."""
    secret_key: SecretStr | None = None
    """Passphrase that encrypts stored credentials (e.g. ``PUSHGATE_SECRET_KEY``); when unset
    the key is kept in ``secret_key_file``."""
    secret_key_file: Path | None = None
    """The key file (created 0600 when missing); default ``<data_dir>/secret.key``. Put it
    outside the data dir so a copy of the data dir alone opens no credential."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"
    """``json``: one JSON object per line (for log collectors); ``console``: for people."""
    access_log: bool = False
    """Log every API request: method, route template, status, duration; never a device token
    from the path, a query or a body."""
    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    apns: ApnsSettings = Field(default_factory=ApnsSettings)
    fcm: FcmSettings = Field(default_factory=FcmSettings)
    webpush: WebPushSettings = Field(default_factory=WebPushSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    devices: DeviceSettings = Field(default_factory=DeviceSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    simulator: SimulatorLinkSettings = Field(default_factory=SimulatorLinkSettings)
    mattermost: list[MattermostDoor] = Field(default_factory=list)
    matrix: MatrixDoor | None = None
    gorush: GorushDoor | None = None

    @model_validator(mode="after")
    def _one_secret_key(self) -> Settings:
        if self.secret_key is not None and self.secret_key_file is not None:
            raise ValueError("set secret_key or secret_key_file, not both")
        return self

    @property
    def key_file(self) -> Path:
        """The master key's file (when no ``secret_key`` passphrase is configured)."""
        return self.secret_key_file or self.data_dir / "secret.key"

    @model_validator(mode="after")
    def _doors_do_not_collide(self) -> Settings:
        if sum(door.main_listener for door in self.mattermost) > 1:
            raise ValueError("only one [[mattermost]] door may set main_listener = true")
        secrets = [d.url_secret.get_secret_value() for d in self.mattermost if d.url_secret]
        if len(secrets) != len(set(secrets)):
            raise ValueError("two [[mattermost]] doors share a url_secret")
        on_main = any(door.main_listener for door in self.mattermost)
        if on_main and self.gorush is not None and not self.gorush.path_prefix:
            raise ValueError(
                "Mattermost's and gorush's doors both claim /version and /; "
                "give [gorush] a path_prefix"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @property
    def database_path(self) -> Path:
        """The SQLite file the store uses."""
        return self.store.path or self.data_dir / "pushgate.db"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(f"Configuration file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"Configuration file {path} is not valid TOML: {exc}.") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One ``a.b: message`` line per invalid field."""
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        lines.append(f"{location}: {error['msg']}")
    return "\n".join(lines)


def load_settings(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Build the settings: defaults < file < environment < ``overrides``.

    The file is ``config_file``, else ``$PUSHGATE_CONFIG``, else none.
    """
    path = config_file or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    file_values = _read_toml(path) if path else {}
    try:
        from_env = Settings()
    except ValidationError as exc:
        raise ConfigurationError(
            "Invalid PUSHGATE_* environment variable:\n" + describe_validation_error(exc)
        ) from None
    env_values = from_env.model_dump(exclude_unset=True)
    merged = deep_merge(deep_merge(file_values, env_values), overrides or {})
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigurationError(
            "Invalid configuration:\n" + describe_validation_error(exc)
        ) from None
