"""FCM answers to Outcomes: every ERRORS row, detail precedence, Retry-After, odd bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from fcm_testkit import APNS_ERROR, BAD_REQUEST, fcm_error

from pushgate.outcomes import Delivered, Outcome, Rejected, Retry, Unregistered
from pushgate.providers.fcm import ERRORS, QUOTA_RETRY_AFTER, classify
from pushgate.providers.retry_after import retry_after_seconds

NOW = 1_800_000_000.0
TOKEN_INVALID = "The registration token is not a valid FCM registration token"
NOT_FOUND = "Requested entity was not found."
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential."
)
DATA_NOT_STRING = "Invalid value at 'message.data[0].value' (TYPE_STRING), 1"


def answer(status: int, body: bytes, *headers: tuple[bytes, bytes]) -> Outcome:
    return classify(status, body, headers, now=NOW)


# One case per ERRORS row (the keys each case exercises are listed first).
ROW_CASES: list[tuple[str | int, int, bytes, Outcome]] = [
    (
        "UNSPECIFIED_ERROR",
        500,
        fcm_error(500, "UNKNOWN", "x", code="UNSPECIFIED_ERROR"),
        Rejected(reason="UNSPECIFIED_ERROR: x", status=500),
    ),
    (
        "INVALID_ARGUMENT",
        400,
        fcm_error(400, "INVALID_ARGUMENT", DATA_NOT_STRING, code="INVALID_ARGUMENT"),
        Rejected(reason=f"INVALID_ARGUMENT: {DATA_NOT_STRING}", status=400),
    ),
    (
        "UNREGISTERED",
        404,
        fcm_error(404, "NOT_FOUND", NOT_FOUND, code="UNREGISTERED"),
        Unregistered(reason="UNREGISTERED"),
    ),
    (
        "SENDER_ID_MISMATCH",
        403,
        fcm_error(403, "PERMISSION_DENIED", "SenderId mismatch", code="SENDER_ID_MISMATCH"),
        Rejected(reason="SENDER_ID_MISMATCH: SenderId mismatch", status=403, configuration=True),
    ),
    (
        "QUOTA_EXCEEDED",
        429,
        fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", code="QUOTA_EXCEEDED"),
        Retry(reason="QUOTA_EXCEEDED", after=QUOTA_RETRY_AFTER),
    ),
    (
        "UNAVAILABLE",
        503,
        fcm_error(503, "UNAVAILABLE", "The service is unavailable.", code="UNAVAILABLE"),
        Retry(reason="UNAVAILABLE"),
    ),
    (
        "INTERNAL",
        500,
        fcm_error(500, "INTERNAL", "Internal error.", code="INTERNAL"),
        Retry(reason="INTERNAL"),
    ),
    (
        "THIRD_PARTY_AUTH_ERROR",
        401,
        fcm_error(
            401,
            "UNAUTHENTICATED",
            "Auth error from APNS or Web Push Service",
            {"@type": APNS_ERROR, "statusCode": 403, "reason": "BadEnvironmentKeyInToken"},
            code="THIRD_PARTY_AUTH_ERROR",
        ),
        Rejected(
            reason="THIRD_PARTY_AUTH_ERROR (APNs 403 BadEnvironmentKeyInToken): Auth error "
            "from APNS or Web Push Service",
            status=401,
            configuration=True,
        ),
    ),
    (
        "APNS_AUTH_ERROR",
        401,
        fcm_error(
            401,
            "UNAUTHENTICATED",
            "APNs auth",
            {"@type": APNS_ERROR, "status_code": 403, "reason": "InvalidProviderToken"},
            code="APNS_AUTH_ERROR",
        ),
        Rejected(
            reason="APNS_AUTH_ERROR (APNs 403 InvalidProviderToken): APNs auth",
            status=401,
            configuration=True,
        ),
    ),
    (
        400,
        400,
        fcm_error(
            400,
            "INVALID_ARGUMENT",
            DATA_NOT_STRING,
            {"@type": BAD_REQUEST, "fieldViolations": [{"field": "message.data[0].value"}]},
        ),
        Rejected(reason=f"INVALID_ARGUMENT: {DATA_NOT_STRING}", status=400),
    ),
    (
        401,
        401,
        fcm_error(401, "UNAUTHENTICATED", UNAUTHENTICATED),
        Retry(reason="UNAUTHENTICATED", refresh_credentials=True),
    ),
    (
        403,
        403,
        fcm_error(403, "PERMISSION_DENIED", "Firebase Cloud Messaging API has not been used"),
        Rejected(
            reason="PERMISSION_DENIED: Firebase Cloud Messaging API has not been used",
            status=403,
            configuration=True,
        ),
    ),
    (
        404,
        404,
        fcm_error(404, "NOT_FOUND", NOT_FOUND),
        Rejected(
            reason=f"NOT_FOUND (wrong project id in the send URL?): {NOT_FOUND}",
            status=404,
            configuration=True,
        ),
    ),
    (
        429,
        429,
        fcm_error(429, "RESOURCE_EXHAUSTED", "Too many requests"),
        Retry(reason="RESOURCE_EXHAUSTED", after=QUOTA_RETRY_AFTER),
    ),
    (500, 500, b"", Retry(reason="INTERNAL")),
    (503, 503, b"Service Unavailable", Retry(reason="UNAVAILABLE")),
]


@pytest.mark.parametrize(
    ("row", "status", "body", "expected"), ROW_CASES, ids=[str(case[0]) for case in ROW_CASES]
)
def test_every_error_row(row: str | int, status: int, body: bytes, expected: Outcome):
    assert answer(status, body) == expected


def test_the_row_cases_cover_the_whole_table():
    assert {case[0] for case in ROW_CASES} == set(ERRORS)


def test_success_returns_the_message_name():
    body = b'{"name": "projects/chat-demo/messages/0:1500415314455276%31bd1c9631bd1c96"}'

    outcome = answer(200, body)

    assert outcome == Delivered(
        provider_id="projects/chat-demo/messages/0:1500415314455276%31bd1c9631bd1c96"
    )


@pytest.mark.parametrize("body", [b"", b"ok", b"[]", b'{"name": 5}'])
def test_success_with_an_unreadable_body_is_still_delivered(body: bytes):
    assert answer(200, body) == Delivered(provider_id=None)


# INVALID_ARGUMENT about the registration token unregisters; about the payload it does not.


def test_invalid_token_message_unregisters():
    body = fcm_error(400, "INVALID_ARGUMENT", TOKEN_INVALID, code="INVALID_ARGUMENT")

    assert answer(400, body) == Unregistered(reason="InvalidRegistration")


@pytest.mark.parametrize("code", ["INVALID_ARGUMENT", None])
def test_token_field_violation_unregisters(code: str | None):
    violation = {
        "@type": BAD_REQUEST,
        "fieldViolations": [
            {"field": "message.token", "description": "Invalid registration token"}
        ],
    }
    body = fcm_error(
        400, "INVALID_ARGUMENT", "Request contains an invalid argument.", violation, code=code
    )

    assert answer(400, body) == Unregistered(reason="InvalidRegistration")


def test_other_field_violation_is_a_payload_bug():
    violation = {"@type": BAD_REQUEST, "fieldViolations": [{"field": "message.android.ttl"}]}
    body = fcm_error(400, "INVALID_ARGUMENT", "bad ttl", violation, code="INVALID_ARGUMENT")

    outcome = answer(400, body)

    assert outcome == Rejected(reason="INVALID_ARGUMENT: bad ttl", status=400)


def test_token_wording_does_not_unregister_other_codes():
    body = fcm_error(403, "PERMISSION_DENIED", TOKEN_INVALID, code="SENDER_ID_MISMATCH")

    assert isinstance(answer(403, body), Rejected)


def test_fcm_error_code_decides_over_http_status():
    body = fcm_error(400, "INVALID_ARGUMENT", NOT_FOUND, code="UNREGISTERED")

    assert answer(400, body) == Unregistered(reason="UNREGISTERED")


def test_third_party_auth_error_is_not_a_token_refresh():
    body = fcm_error(401, "UNAUTHENTICATED", "Auth error", code="THIRD_PARTY_AUTH_ERROR")

    outcome = answer(401, body)

    assert isinstance(outcome, Rejected)
    assert outcome.configuration
    assert outcome.reason == "THIRD_PARTY_AUTH_ERROR: Auth error"


# Retry-After


@pytest.mark.parametrize(
    ("header", "after"),
    [
        (b"120", 120.0),
        (b" 30 ", 30.0),
        (b"0", 1.0),
        (b"999999", 3600.0),
        (format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True).encode(), 90.0),
        (format_datetime(datetime.fromtimestamp(NOW - 90, UTC), usegmt=True).encode(), 1.0),
        (b"soon", None),
        (b"-5", None),
        (b"1.5", None),
        (b"\xb2", None),
        (b"Wed, 21 Oct 2026 07:28:00 -0000", None),
    ],
)
def test_retry_after_forms_and_clamping(header: bytes, after: float | None):
    body = fcm_error(503, "UNAVAILABLE", "busy", code="UNAVAILABLE")

    assert answer(503, body, (b"retry-after", header)) == Retry(reason="UNAVAILABLE", after=after)


def test_retry_after_overrides_the_quota_default():
    body = fcm_error(429, "RESOURCE_EXHAUSTED", "quota", code="QUOTA_EXCEEDED")

    outcome = answer(429, body, (b"content-type", b"application/json"), (b"retry-after", b"5"))

    assert outcome == Retry(reason="QUOTA_EXCEEDED", after=5.0)


def test_unreadable_retry_after_keeps_the_quota_default():
    body = fcm_error(429, "RESOURCE_EXHAUSTED", "quota", code="QUOTA_EXCEEDED")

    assert answer(429, body, (b"retry-after", b"later")).after == QUOTA_RETRY_AFTER


def test_retry_after_is_ignored_on_rejections():
    body = fcm_error(403, "PERMISSION_DENIED", "no", code="SENDER_ID_MISMATCH")

    assert isinstance(answer(403, body, (b"retry-after", b"10")), Rejected)


def test_retry_after_absent():
    assert retry_after_seconds(None, now=NOW) is None


# Bodies that are not FCM envelopes


@pytest.mark.parametrize(
    "body", [b"", b"<html><body>502 Bad Gateway</body></html>", b"{", b'{"error": "text"}']
)
@pytest.mark.parametrize("status", [502, 504, 599])
def test_unknown_server_errors_retry(status: int, body: bytes):
    assert answer(status, body) == Retry(reason=f"HTTP {status}")


def test_plain_text_client_error_is_rejected_with_its_first_line():
    outcome = answer(400, b"Bad Request\nline two \x07")

    assert outcome == Rejected(reason="INVALID_ARGUMENT: Bad Request", status=400)


def test_unknown_client_status_is_rejected():
    assert answer(418, b"teapot") == Rejected(reason="HTTP 418: teapot", status=418)


def test_unknown_error_code_falls_back_to_the_status():
    body = fcm_error(409, "ABORTED", "conflict", code="SOMETHING_NEW")

    assert answer(409, body) == Rejected(reason="SOMETHING_NEW: conflict", status=409)
    assert answer(503, fcm_error(503, "X", "y", code="SOMETHING_NEW")) == Retry(
        reason="UNAVAILABLE"
    )


def test_envelope_wrapped_in_a_list_is_read():
    body = b"[" + fcm_error(404, "NOT_FOUND", NOT_FOUND, code="UNREGISTERED") + b"]"

    assert answer(404, body) == Unregistered(reason="UNREGISTERED")


def test_long_messages_are_truncated():
    body = fcm_error(400, "INVALID_ARGUMENT", "x" * 5000, code="INVALID_ARGUMENT")

    outcome = answer(400, body)

    assert isinstance(outcome, Rejected)
    assert len(outcome.reason) == len("INVALID_ARGUMENT: ") + 200
