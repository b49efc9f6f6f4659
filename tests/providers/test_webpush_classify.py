"""Push service answers to Outcomes: every ERRORS row, success, Retry-After, odd bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from pushgate.outcomes import Delivered, Outcome, Rejected, Retry, Unregistered
from pushgate.providers.webpush import ERRORS, classify

NOW = 1_800_000_000.0


def answer(status: int, body: bytes = b"", *headers: tuple[bytes, bytes]) -> Outcome:
    return classify(status, body, headers, now=NOW)


ROW_CASES: list[tuple[int, bytes, Outcome]] = [
    (
        400,
        b'{"reason":"BadRequest"}',
        Rejected(reason="BadRequest: BadRequest", status=400, configuration=True),
    ),
    (
        401,
        b'{"code":401,"errno":109,"error":"Unauthorized","message":"Missing VAPID"}',
        Rejected(reason="Unauthorized: Missing VAPID", status=401, configuration=True),
    ),
    (
        403,
        b'{"reason":"BadJwtToken"}',
        Rejected(reason="Forbidden: BadJwtToken", status=403, configuration=True),
    ),
    (404, b"", Unregistered(reason="NotFound")),
    (410, b'{"code":410,"errno":106,"error":"Gone"}', Unregistered(reason="Gone")),
    (413, b"Payload Too Large", Rejected(reason="PayloadTooLarge: Payload Too Large", status=413)),
    (429, b"", Retry(reason="TooManyRequests")),
]


@pytest.mark.parametrize(
    ("status", "body", "expected"), ROW_CASES, ids=[str(c[0]) for c in ROW_CASES]
)
def test_every_error_row(status: int, body: bytes, expected: Outcome):
    assert answer(status, body) == expected


def test_the_row_cases_cover_the_whole_table():
    assert {case[0] for case in ROW_CASES} == set(ERRORS)


@pytest.mark.parametrize("status", [200, 201, 202])
def test_success_returns_the_location(status: int):
    location = b"https://127.0.0.1:8443/m/gAAAAABk-message"

    assert answer(status, b"", (b"Location", location)) == Delivered(provider_id=location.decode())


def test_success_without_location():
    assert answer(201) == Delivered(provider_id=None)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_retry(status: int):
    assert answer(status, b"<html>oops</html>") == Retry(reason=f"HTTP {status}")


@pytest.mark.parametrize(
    ("header", "after"),
    [
        (b"30", 30.0),
        (b"0", 1.0),
        (b"86400", 3600.0),
        (format_datetime(datetime.fromtimestamp(NOW + 45, UTC), usegmt=True).encode(), 45.0),
        (b"tomorrow", None),
    ],
)
@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(status: int, header: bytes, after: float | None):
    outcome = answer(status, b"", (b"retry-after", header))

    assert isinstance(outcome, Retry)
    assert outcome.after == after


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (405, b"", "HTTP 405"),
        (409, b'{"message":"conflict"}', "HTTP 409: conflict"),
        (400, b"plain text\nsecond line", "BadRequest: plain text"),
        (403, b'{"other": 1}', "Forbidden"),
        (403, b"[1]", "Forbidden: [1]"),
    ],
)
def test_other_answers_and_bodies(status: int, body: bytes, reason: str):
    outcome = answer(status, body)

    assert isinstance(outcome, Rejected)
    assert outcome.reason == reason
    assert outcome.status == status
    assert outcome.configuration == (status in (400, 401, 403))
