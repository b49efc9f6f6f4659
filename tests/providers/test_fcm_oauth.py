"""The FCM OAuth2 JWT-bearer flow: assertion claims, token caching, refresh and invalidation."""

from __future__ import annotations

from urllib.parse import parse_qs

import jwt
import orjson
import pytest
from fcm_testkit import CLIENT_EMAIL, PRIVATE_KEY_ID, TOKEN_URI, rsa_key, service_account_json

from pushgate.errors import CredentialError, TransportError
from pushgate.providers.fcm_credentials import load_service_account
from pushgate.providers.fcm_oauth import (
    FCM_SCOPE,
    GRANT_TYPE,
    FcmTokenSource,
    TokenEndpointUnavailable,
)

T0 = 1_800_000_000.0


class Clock:
    """A settable clock."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token_body(token: str = "ya29.first", expires_in: object = 3599, **extra: object) -> bytes:
    return orjson.dumps({"access_token": token, "expires_in": expires_in, **extra})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def source(clock: Clock) -> FcmTokenSource:
    return FcmTokenSource(load_service_account(service_account_json()), clock=clock)


def verify(assertion: bytes | str) -> dict[str, object]:
    """Check the RS256 signature with the account's public key and return the claims."""
    return jwt.decode(
        assertion,
        rsa_key().public_key(),
        algorithms=["RS256"],
        audience=TOKEN_URI,
        options={"verify_exp": False, "verify_iat": False},
    )


def test_assertion_claims_follow_the_jwt_bearer_grant(source: FcmTokenSource):
    assertion = source.assertion()

    assert jwt.get_unverified_header(assertion) == {
        "alg": "RS256",
        "typ": "JWT",
        "kid": PRIVATE_KEY_ID,
    }
    assert verify(assertion) == {
        "iss": CLIENT_EMAIL,
        "scope": FCM_SCOPE,
        "aud": TOKEN_URI,
        "iat": int(T0),
        "exp": int(T0) + 3600,
    }


def test_assertion_has_no_kid_without_private_key_id(clock: Clock):
    account = load_service_account(service_account_json(private_key_id=None))

    assertion = FcmTokenSource(account, clock=clock).assertion()

    assert "kid" not in jwt.get_unverified_header(assertion)


def test_each_assertion_is_signed_at_the_current_time(source: FcmTokenSource, clock: Clock):
    clock.now += 125.7

    claims = verify(source.assertion())

    assert claims["iat"] == int(T0) + 125
    assert claims["exp"] == int(T0) + 125 + 3600


def test_assertion_request_is_a_form_post_to_the_token_uri(source: FcmTokenSource):
    url, body, headers = source.assertion_request()

    form = parse_qs(body.decode("ascii"), strict_parsing=True)
    assert url == TOKEN_URI
    assert set(form) == {"grant_type", "assertion"}
    assert form["grant_type"] == [GRANT_TYPE]
    assert verify(form["assertion"][0])["iss"] == CLIENT_EMAIL
    assert dict(headers)[b"content-type"] == b"application/x-www-form-urlencoded"


def test_token_is_cached_until_five_minutes_before_expiry(source: FcmTokenSource, clock: Clock):
    assert source.current() is None

    token = source.accept_token_response(200, token_body(token_type="Bearer"))

    assert token == "ya29.first"
    assert source.expires_at == T0 + 3599
    clock.now = T0 + 3599 - 300 - 0.001
    assert source.current() == "ya29.first"
    clock.now = T0 + 3599 - 300
    assert source.current() is None


def test_short_lived_token_is_used_for_half_its_life(source: FcmTokenSource, clock: Clock):
    source.accept_token_response(200, token_body(expires_in=120))

    clock.now = T0 + 59
    assert source.current() == "ya29.first"
    clock.now = T0 + 60
    assert source.current() is None


def test_missing_expires_in_means_an_hour(source: FcmTokenSource):
    source.accept_token_response(200, orjson.dumps({"access_token": "ya29.a"}))

    assert source.expires_at == T0 + 3600


def test_invalidate_drops_the_rejected_token(source: FcmTokenSource):
    source.accept_token_response(200, token_body())

    source.invalidate("ya29.first")

    assert source.current() is None
    assert source.expires_at is None


def test_invalidate_keeps_a_newer_token(source: FcmTokenSource, clock: Clock):
    source.accept_token_response(200, token_body("ya29.first"))
    clock.now += 10
    source.accept_token_response(200, token_body("ya29.second"))

    source.invalidate("ya29.first")

    assert source.current() == "ya29.second"


def test_invalidate_without_a_token_drops_whatever_is_cached(source: FcmTokenSource):
    source.accept_token_response(200, token_body())

    source.invalidate()

    assert source.current() is None


@pytest.mark.parametrize("status", [400, 401, 403])
def test_refusal_by_the_token_endpoint_is_a_credential_error(source: FcmTokenSource, status: int):
    body = orjson.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})

    with pytest.raises(CredentialError) as caught:
        source.accept_token_response(status, body)

    assert caught.value.code == "token_rejected"
    assert "invalid_grant: Invalid JWT Signature." in caught.value.message
    assert str(status) in caught.value.message


@pytest.mark.parametrize("status", [429, 500, 502, 503])
@pytest.mark.parametrize(
    "body", [b"", b"<html>busy</html>", b'{"error":"temporarily_unavailable"}']
)
def test_overload_is_retryable(source: FcmTokenSource, status: int, body: bytes):
    with pytest.raises(TokenEndpointUnavailable) as caught:
        source.accept_token_response(status, body)

    assert isinstance(caught.value, TransportError)
    assert caught.value.retryable is True


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        orjson.dumps({"expires_in": 3599}),
        token_body(token=""),
        token_body(token="ya29.bad\nline"),
        token_body(expires_in="3599"),
        token_body(expires_in=0),
        token_body(expires_in=True),
        token_body(token_type="mac"),
    ],
    ids=["text", "list", "no-token", "empty", "newline", "string-lifetime", "zero", "bool", "mac"],
)
def test_unusable_success_is_retryable_and_keeps_the_old_token(source: FcmTokenSource, body: bytes):
    source.accept_token_response(200, token_body("ya29.old"))

    with pytest.raises(TokenEndpointUnavailable):
        source.accept_token_response(200, body)

    assert source.current() == "ya29.old"


def test_repr_shows_the_account_but_not_the_token(source: FcmTokenSource):
    source.accept_token_response(200, token_body("ya29.secret-token"))

    text = repr(source)

    assert CLIENT_EMAIL in text
    assert "ya29" not in text
