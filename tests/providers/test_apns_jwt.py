"""ProviderTokenSigner: ES256 tokens APNs accepts, cached, refreshed by Apple's 20/60-minute rules."""

from __future__ import annotations

import base64
from itertools import pairwise

import jwt
import pytest
from apns_testkit import BUNDLE_ID, KEY_ID, TEAM_ID
from cryptography.hazmat.primitives.asymmetric import ec

from pushgate.providers.apns_credentials import ApnsTokenCredential, load_token_credential
from pushgate.providers.apns_jwt import ProviderTokenSigner

START = 1_900_000_000.0
MINUTE = 60.0


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += minutes * MINUTE


@pytest.fixture
def credential(p8_pem: bytes) -> ApnsTokenCredential:
    return load_token_credential(
        key_p8=p8_pem, key_id=KEY_ID, team_id=TEAM_ID, topic=BUNDLE_ID, environment="sandbox"
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def signer(credential: ApnsTokenCredential, clock: FakeClock) -> ProviderTokenSigner:
    return ProviderTokenSigner(credential, clock=clock)


def decode(value: bytes, key: ec.EllipticCurvePrivateKey) -> tuple[dict, dict]:
    """Verify a ``bearer <jwt>`` value with the public key; return (header, claims)."""
    scheme, token = value.decode().split(" ")
    assert scheme == "bearer"
    claims = jwt.decode(
        token, key.public_key(), algorithms=["ES256"], options={"verify_iat": False}
    )
    return jwt.get_unverified_header(token), claims


def test_token_has_apns_header_and_claims(
    signer: ProviderTokenSigner, p256_key: ec.EllipticCurvePrivateKey
):
    header, claims = decode(signer.token(), p256_key)

    assert header == {"alg": "ES256", "kid": KEY_ID}
    assert claims == {"iss": TEAM_ID, "iat": int(START)}
    assert signer.issued_at == int(START)


def test_signature_is_raw_r_s_not_der(signer: ProviderTokenSigner):
    signature = signer.token().decode().rsplit(".", 1)[1]
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))

    assert len(raw) == 64


def test_token_is_reused_until_refresh_age(signer: ProviderTokenSigner, clock: FakeClock):
    first = signer.token()
    clock.advance(49.99)

    assert signer.token() is first
    clock.advance(0.01)
    second = signer.token()
    assert second != first
    assert signer.issued_at == int(START + 50 * MINUTE)


@pytest.mark.parametrize("minutes", [20, 30, 55])
def test_refresh_after_is_configurable(
    credential: ApnsTokenCredential, clock: FakeClock, minutes: int
):
    signer = ProviderTokenSigner(credential, clock=clock, refresh_after=minutes * MINUTE)
    first = signer.token()
    clock.advance(minutes - 0.5)
    assert signer.token() is first
    clock.advance(0.5)
    assert signer.token() != first


@pytest.mark.parametrize("minutes", [0, 19.9, 55.1, 60])
def test_refresh_after_outside_20_to_55_minutes_is_refused(
    credential: ApnsTokenCredential, minutes: float
):
    with pytest.raises(ValueError, match="between 1200 and 3300 seconds"):
        ProviderTokenSigner(credential, refresh_after=minutes * MINUTE)


def test_clock_jump_forward_mints_a_fresh_token(signer: ProviderTokenSigner, clock: FakeClock):
    first = signer.token()
    clock.advance(24 * 60)

    assert signer.token() != first
    assert signer.issued_at == int(clock.now)


def test_invalidate_young_token_is_refused(signer: ProviderTokenSigner, clock: FakeClock):
    first = signer.token()
    clock.advance(19.9)

    assert signer.invalidate(first) is False
    assert signer.token() is first


def test_invalidate_token_older_than_20_minutes_mints(
    signer: ProviderTokenSigner, clock: FakeClock
):
    first = signer.token()
    clock.advance(20)

    assert signer.invalidate(first) is True
    second = signer.token()
    assert second != first
    assert signer.issued_at == int(START + 20 * MINUTE)


def test_invalidate_of_an_already_replaced_token_mints_nothing(
    signer: ProviderTokenSigner, clock: FakeClock
):
    first = signer.token()
    clock.advance(25)
    assert signer.invalidate(first) is True
    second = signer.token()

    # A request still in flight with the old token reports the same expiry: retry, no mint.
    assert signer.invalidate(first) is True
    assert signer.token() is second
    # The new token rejected too, so soon: refused, the caller rejects instead of looping.
    assert signer.invalidate(second) is False


def test_invalidate_without_the_rejected_value(signer: ProviderTokenSigner, clock: FakeClock):
    assert signer.invalidate() is True  # nothing minted yet: mint now
    first = signer.token()
    assert signer.invalidate() is False
    clock.advance(21)
    assert signer.invalidate() is True
    assert signer.token() != first


def test_never_more_than_one_token_per_20_minutes(signer: ProviderTokenSigner, clock: FakeClock):
    """Three hours of traffic with an ExpiredProviderToken storm every minute."""
    mints: list[int] = []
    for _ in range(180):
        value = signer.token()
        signer.invalidate(value)
        signer.invalidate()
        if not mints or signer.issued_at != mints[-1]:
            mints.append(signer.issued_at or 0)
        clock.advance(1)

    gaps = [later - earlier for earlier, later in pairwise(mints)]
    assert len(mints) == 9
    assert min(gaps) >= 20 * MINUTE


def test_every_token_is_younger_than_an_hour_when_used(
    signer: ProviderTokenSigner, clock: FakeClock
):
    for _ in range(300):
        signer.token()
        assert clock.now - (signer.issued_at or 0) < 55 * MINUTE
        clock.advance(0.7)


def test_repr_hides_the_token(signer: ProviderTokenSigner):
    token = signer.token().decode().split(" ")[1]

    assert token not in repr(signer)
    assert token.split(".")[2] not in repr(signer)
    assert KEY_ID in repr(signer)
