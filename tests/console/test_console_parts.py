"""Console parts without a browser: sealed sessions, credential health, rate samples."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from cryptography.fernet import Fernet

from pushgate.console.rates import DeliveryRates
from pushgate.console.session import SESSION_SECONDS, SessionCodec, tokens_match
from pushgate.credentials import health
from pushgate.metrics import RESULT_COUNTERS, delivery_totals
from pushgate.security import SecretBox


def _box() -> SecretBox:
    return SecretBox([Fernet.generate_key()])


def test_a_session_opens_only_untouched_unexpired_and_under_its_own_key() -> None:
    box = _box()
    codec = SessionCodec(box)
    session, value = codec.new("pgapp_secret-key")
    assert "pgapp_secret-key" not in value
    assert codec.open(value) == session
    middle = len(value) // 2  # a character whose bits all count (unlike the padding's)
    tampered = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]
    assert codec.open(tampered) is None
    assert SessionCodec(_box()).open(value) is None
    assert codec.open(None) is None and codec.open("not a token") is None
    # a credential sealed by the same box is no session: the session key is derived
    assert codec.open(box.seal(b'{"k": "x", "c": "y"}').decode()) is None


def test_a_session_expires(monkeypatch) -> None:
    codec = SessionCodec(_box())
    _, value = codec.new("pgadm_key")
    later = time.time() + SESSION_SECONDS + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert codec.open(value) is None


def test_csrf_tokens_must_be_present_and_equal() -> None:
    assert tokens_match("abc", "abc")
    assert not tokens_match("abc", "abd")
    assert not tokens_match("", "")
    assert not tokens_match(None, "abc")


def test_credential_health_names_faults_expiry_and_token_age() -> None:
    now = 1_800_000_000.0
    assert health({"not_after": None}, now) == {
        "status": "ok",
        "problems": [],
        "circuit": "closed",
        "expires_in_days": None,
        "token_age_seconds": None,
    }
    soon = {"not_after": _iso(now + 10 * 86400), "token_issued_at": now - 125}
    found = health(soon, now)
    assert found["status"] == "warning" and found["expires_in_days"] == 10.0
    assert found["token_age_seconds"] == 125
    assert found["problems"] == ["the certificate expires in 10 days"]
    expired = health({"not_after": _iso(now - 86400)}, now)
    assert expired["status"] == "error" and "expired" in expired["problems"][0]
    refused = health({"last_error": {"reason": "InvalidProviderToken", "at": now}}, now)
    assert refused["status"] == "error" and "InvalidProviderToken" in refused["problems"][0]
    paused = health({"circuit": {"state": "open", "refusals": 10}}, now)
    assert paused["circuit"] == "open" and "paused after 10 refusals" in paused["problems"][0]


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def test_rates_are_counter_growth_per_second_between_samples() -> None:
    rates = DeliveryRates(keep=3)
    counter = RESULT_COUNTERS[("fcm", "rejected")]
    rates.sample(now=100.0)
    counter.inc(4)
    rates.sample(now=102.0)
    rates.sample(now=103.0)
    counter.inc(3)
    rates.sample(now=104.0)
    rates.sample(now=105.0)  # keeps 3 intervals: the first sample has gone
    report = rates.report()
    (series,) = [s for s in report["series"] if (s["platform"], s["result"]) == ("fcm", "rejected")]
    assert report["times"] == [103.0, 104.0, 105.0]
    assert series["rates"] == [0.0, 3.0, 0.0]
    assert series["total"] == delivery_totals()[("fcm", "rejected")] >= 7
