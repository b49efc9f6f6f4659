"""failure_outcome: the one mapping from an exception met while sending to an Outcome."""

from __future__ import annotations

from pushgate.errors import ConfigurationError, RequestError
from pushgate.outcomes import Rejected, Retry
from pushgate.providers.failures import failure_outcome
from pushgate.transport import ConnectionLost, ProtocolError, RequestTimeout, StreamReset


def test_a_refused_stream_is_retried_without_charging_an_attempt() -> None:
    refused = StreamReset("refused", error_code=0x7, unprocessed=True)
    assert failure_outcome(refused) == Retry(reason="transport: stream_reset", counts=False)


def test_a_maybe_processed_failure_is_retried_and_charged() -> None:
    for error in (ConnectionLost("gone"), RequestTimeout("slow")):
        outcome = failure_outcome(error)
        assert isinstance(outcome, Retry) and outcome.counts


def test_a_failure_that_would_repeat_is_a_rejection_not_a_retry() -> None:
    for error in (
        StreamReset("malformed", error_code=0x1, unprocessed=False),
        ProtocolError("malformed response headers"),
    ):
        outcome = failure_outcome(error)
        assert isinstance(outcome, Rejected) and not outcome.configuration
        assert "not retried" in outcome.reason


def test_request_and_configuration_errors() -> None:
    bad = failure_outcome(RequestError("bad token", code="invalid_device_token"))
    assert bad == Rejected(reason="invalid_device_token: bad token", status=RequestError.status)
    missing = failure_outcome(ConfigurationError("no key", code="no_apns_credential"))
    assert missing == Rejected(reason="no_apns_credential: no key", configuration=True)
    token_endpoint = failure_outcome(ConnectionLost("gone"), where="token endpoint")
    assert token_endpoint == Retry(reason="token endpoint: connection_lost")
