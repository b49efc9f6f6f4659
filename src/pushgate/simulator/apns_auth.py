"""APNs provider authentication: ES256 provider tokens and client certificates."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from pushgate.simulator.apns_state import ApnsRegistry, ProviderKey, Rejection
from pushgate.simulator.certs import ApnsCertificateInfo
from pushgate.simulator.settings import ApnsEnvironment, ApnsRules

_DECODE_OPTIONS = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,  # checked against the simulator's (injectable) clock instead
    "verify_aud": False,
    "verify_iss": False,
}


def _invalid() -> Rejection:
    return Rejection(403, "InvalidProviderToken")


@dataclass(slots=True)
class TokenSession:
    """The provider-token state APNs keeps for one connection."""

    key: ProviderKey | None = None
    """The first key accepted on the connection: it binds the team and the key kind."""
    token: str | None = None
    issued_at: float = 0.0
    changed_at: float | None = None
    """When the token was last replaced (the first token is not a change)."""


def authenticate_token(
    session: TokenSession,
    authorization: str | None,
    *,
    environment: ApnsEnvironment,
    registry: ApnsRegistry,
    rules: ApnsRules,
    now: float,
) -> ProviderKey:
    """Check the ``authorization: bearer <JWT>`` of a request; return the key that signed it."""
    if authorization is None:
        raise Rejection(403, "MissingProviderToken")
    token = _bearer(authorization)
    if token == session.token and session.key is not None:
        _check_age(session.issued_at, rules, now)
        return session.key
    key, issued_at = _verify(token, environment, registry, rules)
    _check_binding(session, key)
    _check_age(issued_at, rules, now)
    if session.token is not None:
        last = session.changed_at
        if last is not None and now - last < rules.token_update_interval:
            raise Rejection(429, "TooManyProviderTokenUpdates")
        session.changed_at = now
    session.key = session.key or key
    session.token, session.issued_at = token, issued_at
    return key


def authenticate_certificate(
    info: ApnsCertificateInfo | None, environment: ApnsEnvironment
) -> ApnsCertificateInfo:
    """A verified client certificate must be an APNs certificate for this environment."""
    if info is None or info.subject_uid is None or not info.environments:
        raise Rejection(403, "BadCertificate")
    if environment not in info.environments:
        raise Rejection(403, "BadCertificateEnvironment")
    return info


def _bearer(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _invalid()
    return token.strip()


def _verify(
    token: str, environment: ApnsEnvironment, registry: ApnsRegistry, rules: ApnsRules
) -> tuple[ProviderKey, float]:
    """Signature, algorithm, key id, issuer and key environment of a new JWT."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise _invalid() from None
    key = registry.keys.get(str(header.get("kid")))
    if header.get("alg") != "ES256" or key is None:
        raise _invalid()
    try:
        claims = jwt.decode(token, key.public_key, algorithms=["ES256"], options=_DECODE_OPTIONS)
    except jwt.InvalidTokenError:
        raise _invalid() from None
    issued_at = claims.get("iat")
    if claims.get("iss") != key.team_id or not _is_number(issued_at):
        raise _invalid()
    if not key.serves(environment):
        raise Rejection(403, rules.bad_environment_key_reason)
    return key, float(issued_at)


def _check_binding(session: TokenSession, key: ProviderKey) -> None:
    """One team per connection; team-scoped and topic-specific keys do not mix."""
    first = session.key
    if first is None:
        return
    if key.team_id != first.team_id:
        raise _invalid()
    if key.key_id != first.key_id and (key.topics is not None or first.topics is not None):
        raise Rejection(403, "UnrelatedKeyIdInToken")


def _check_age(issued_at: float, rules: ApnsRules, now: float) -> None:
    if now - issued_at > rules.token_max_age:
        raise Rejection(403, "ExpiredProviderToken")
    if issued_at - now > rules.token_clock_skew:
        raise _invalid()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
