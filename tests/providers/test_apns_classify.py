"""classify(): every row of the APNs reason table, plus unknown and unparsable answers."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from pushgate.outcomes import Delivered, Rejected, Retry, Unregistered
from pushgate.providers import apns
from pushgate.providers.retry_after import MAX_RETRY_AFTER, MIN_RETRY_AFTER

APNS_ID = "0e6a8f0c-1c5c-4d0a-9c4e-3b1f2a7d9e10"

# docs/apns.md §7 reason strings with the §8 policy pushgate applies (both environments
# equal): outcome class, configuration alarm, refresh credentials.
EXPECTED = {
    (400, "BadCollapseId"): (Rejected, False),
    (400, "BadDeviceToken"): (Unregistered, None),
    (400, "BadExpirationDate"): (Rejected, False),
    (400, "BadMessageId"): (Rejected, False),
    (400, "BadPriority"): (Rejected, False),
    (400, "BadTopic"): (Rejected, True),
    (400, "DeviceTokenNotForTopic"): (Unregistered, None),
    (400, "DuplicateHeaders"): (Rejected, False),
    (400, "IdleTimeout"): (Retry, False),
    (400, "InvalidPushType"): (Rejected, False),
    (400, "MissingDeviceToken"): (Rejected, False),
    (400, "MissingTopic"): (Rejected, True),
    (400, "PayloadEmpty"): (Rejected, False),
    (400, "TopicDisallowed"): (Rejected, True),
    (403, "BadCertificate"): (Rejected, True),
    (403, "BadCertificateEnvironment"): (Rejected, True),
    (403, "BadEnvironmentKeyIdInToken"): (Rejected, True),
    (403, "BadEnvironmentKeyInToken"): (Rejected, True),
    (403, "ExpiredProviderToken"): (Retry, True),
    (403, "Forbidden"): (Rejected, True),
    (403, "InvalidProviderToken"): (Rejected, True),
    (403, "MissingProviderToken"): (Rejected, True),
    (403, "UnrelatedKeyIdInToken"): (Retry, False),
    (404, "BadPath"): (Rejected, False),
    (405, "MethodNotAllowed"): (Rejected, False),
    (410, "ExpiredToken"): (Unregistered, None),
    (410, "Unregistered"): (Unregistered, None),
    (413, "PayloadTooLarge"): (Rejected, False),
    (429, "TooManyProviderTokenUpdates"): (Retry, False),
    (429, "TooManyRequests"): (Retry, False),
    (500, "InternalServerError"): (Retry, False),
    (503, "ServiceUnavailable"): (Retry, False),
    (503, "Shutdown"): (Retry, False),
}


NOW = 1_790_000_000.0


def classify(
    status: int,
    body: bytes | dict,
    *,
    device_environment: str = "production",
    credential_environment: str = "production",
    apns_id: str | None = APNS_ID,
    retry_after: bytes | None = None,
    now: float = NOW,
):
    """apns.classify then for_device, with matching environments unless a test says otherwise."""
    if isinstance(body, dict):
        body = orjson.dumps(body)
    headers = [] if apns_id is None else [(b"apns-id", apns_id.encode())]
    if retry_after is not None:
        headers.append((b"retry-after", retry_after))
    return apns.for_device(
        apns.classify(status, body, headers, now=now),
        device_environment=device_environment,
        credential_environment=credential_environment,
    )


def test_table_covers_exactly_the_documented_reasons():
    assert set(apns.REASONS) == set(EXPECTED)


@pytest.mark.parametrize(("status", "reason"), sorted(EXPECTED))
def test_every_row(status: int, reason: str):
    kind, flag = EXPECTED[(status, reason)]
    outcome = classify(status, {"reason": reason})

    assert type(outcome) is kind
    assert outcome.reason == reason
    if kind is Rejected:
        assert outcome.status == status
        assert outcome.configuration is flag
    if kind is Retry:
        assert outcome.refresh_credentials is flag


def test_success_is_delivered_with_apns_id():
    assert classify(200, b"") == Delivered(provider_id=APNS_ID)
    assert classify(200, b"", apns_id=None) == Delivered(provider_id=None)


def test_unregistered_since_is_the_ms_timestamp_in_utc():
    outcome = classify(410, {"reason": "Unregistered", "timestamp": 1_700_000_000_123})

    assert outcome == Unregistered(
        reason="Unregistered",
        since=datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
    )
    assert outcome.since.tzinfo is UTC


@pytest.mark.parametrize("timestamp", [None, "soon", True, 10**18, 1e30])
def test_unusable_timestamp_leaves_since_empty(timestamp):
    body: dict[str, object] = {"reason": "Unregistered"}
    if timestamp is not None:
        body["timestamp"] = timestamp
    assert classify(410, body) == Unregistered(reason="Unregistered", since=None)


def test_expired_token_without_timestamp():
    assert classify(410, {"reason": "ExpiredToken"}) == Unregistered(reason="ExpiredToken")


@pytest.mark.parametrize("reason", ["BadDeviceToken", "DeviceTokenNotForTopic"])
def test_token_rejection_in_matching_environment_is_unregistered(reason: str):
    outcome = classify(
        400, {"reason": reason}, device_environment="sandbox", credential_environment="sandbox"
    )

    assert outcome == Unregistered(reason=reason)


@pytest.mark.parametrize("reason", ["BadDeviceToken", "DeviceTokenNotForTopic"])
def test_token_rejection_across_environments_is_a_configuration_error(reason: str):
    outcome = classify(
        400, {"reason": reason}, device_environment="sandbox", credential_environment="production"
    )

    assert isinstance(outcome, Rejected)
    assert outcome.configuration is True
    assert outcome.status == 400
    assert outcome.reason.startswith(f"{reason}: ")
    assert "registered a sandbox token" in outcome.reason
    assert "sends to APNs production" in outcome.reason


def test_expired_provider_token_asks_for_fresh_credentials():
    assert classify(403, {"reason": "ExpiredProviderToken"}) == Retry(
        reason="ExpiredProviderToken", refresh_credentials=True
    )


def test_too_many_requests_honours_retry_after_seconds():
    outcome = classify(429, {"reason": "TooManyRequests"}, retry_after=b"120")

    assert outcome == Retry(reason="TooManyRequests", after=120.0)
    assert classify(429, {"reason": "TooManyRequests"}).after is None


def test_retry_after_as_http_date_in_the_past_waits_the_minimum():
    outcome = classify(
        503, {"reason": "ServiceUnavailable"}, retry_after=b"Wed, 21 Oct 2015 07:28:00 GMT"
    )

    assert outcome == Retry(reason="ServiceUnavailable", after=MIN_RETRY_AFTER)


def test_retry_after_as_http_date_is_read_against_the_given_now():
    date = b"Sat, 20 Sep 2026 12:00:00 GMT"  # 1,789,905,600 s after the epoch
    outcome = classify(503, {"reason": "ServiceUnavailable"}, retry_after=date, now=1_789_905_480)

    assert outcome == Retry(reason="ServiceUnavailable", after=120.0)


@pytest.mark.parametrize("reason", ["TooManyRequests", "Mystery"])
def test_retry_after_is_clamped_like_the_other_services(reason: str):
    """APNs reads Retry-After with the FCM and Web Push parser: at most an hour, at least 1 s."""
    assert classify(429, {"reason": reason}, retry_after=b"999999").after == MAX_RETRY_AFTER
    assert classify(429, {"reason": reason}, retry_after=b"0").after == MIN_RETRY_AFTER


def test_unparsable_retry_after_is_ignored():
    outcome = classify(429, {"reason": "TooManyRequests"}, retry_after=b"later, maybe")

    assert outcome == Retry(reason="TooManyRequests", after=None)


def test_token_update_throttle_waits_by_default():
    outcome = classify(429, {"reason": "TooManyProviderTokenUpdates"})

    assert outcome == Retry(
        reason="TooManyProviderTokenUpdates", after=apns.TOKEN_UPDATE_RETRY_AFTER
    )
    assert outcome.after > 0
    assert classify(429, {"reason": "TooManyProviderTokenUpdates"}, retry_after=b"7").after == 7


def test_unknown_reason_is_rejected_with_the_raw_reason():
    assert classify(400, {"reason": "BrandNewReason"}) == Rejected(
        reason="BrandNewReason", status=400
    )


def test_unknown_403_reason_is_a_configuration_error():
    assert classify(403, {"reason": "NewKeyRule"}) == Rejected(
        reason="NewKeyRule", status=403, configuration=True
    )


def test_known_reason_under_an_unexpected_status_falls_back_by_status():
    assert classify(400, {"reason": "Unregistered"}) == Rejected(reason="Unregistered", status=400)
    assert classify(500, {"reason": "Shutdown"}) == Retry(reason="Shutdown")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_unknown_reason_on_429_or_5xx_is_retried(status: int):
    assert classify(status, {"reason": "Mystery"}, retry_after=b"3") == Retry(
        reason="Mystery", after=3.0
    )


@pytest.mark.parametrize("body", [b"", b"<html>bad gateway</html>", b"[1,2]", b'{"reason":5}'])
def test_5xx_without_json_is_retried(body: bytes):
    outcome = classify(502, body)

    assert isinstance(outcome, Retry)
    assert "HTTP 502" in outcome.reason


@pytest.mark.parametrize("body", [b"", b"not json", b'"just a string"', b'{"no":"reason"}'])
def test_4xx_without_readable_reason_is_rejected(body: bytes):
    outcome = classify(400, body)

    assert isinstance(outcome, Rejected)
    assert outcome.status == 400
    assert outcome.configuration is False
