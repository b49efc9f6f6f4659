"""One way to make each decision across the three platforms: classify's signature, the clock,
the names of what a delivery is routed by."""

from __future__ import annotations

import dataclasses
import inspect
import time
from types import ModuleType

import pytest

from pushgate.dispatch.jobs import Job
from pushgate.providers import apns, fcm, webpush, webpush_vapid
from pushgate.providers.apns_client import ApnsProvider
from pushgate.providers.fcm_client import FcmProvider
from pushgate.providers.webpush_client import WebPushProvider
from pushgate.store import PendingDelivery

PURE = (apns, fcm, webpush, webpush_vapid)


def test_classify_has_one_signature() -> None:
    signatures = {str(inspect.signature(module.classify)) for module in (apns, fcm, webpush)}
    assert signatures == {
        "(status: 'int', body: 'bytes', headers: 'Iterable[tuple[bytes, bytes]]' = (), *, "
        "now: 'float') -> 'Outcome'"
    }


def functions(module: ModuleType) -> list[object]:
    found: list[object] = []
    for value in vars(module).values():
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            found.append(value)
        elif inspect.isclass(value) and value.__module__ == module.__name__:
            found.extend(v for v in vars(value).values() if inspect.isfunction(v))
    return found


@pytest.mark.parametrize("module", PURE, ids=lambda m: m.__name__)
def test_pure_code_takes_now_never_a_clock(module: ModuleType) -> None:
    """Rendering and classifying read the time as ``now: float``; only the stateful objects
    that keep time between calls (providers, JWT signers, token sources) hold a clock."""
    for function in functions(module):
        parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
        assert "clock" not in parameters, function
        if "now" in parameters:
            assert parameters["now"].kind is inspect.Parameter.KEYWORD_ONLY, function
            assert parameters["now"].default is inspect.Parameter.empty, function


@pytest.mark.parametrize("provider", [ApnsProvider, FcmProvider, WebPushProvider])
def test_every_provider_takes_its_clock_the_same_way(provider: type) -> None:
    clock = inspect.signature(provider).parameters["clock"]
    assert clock.kind is inspect.Parameter.KEYWORD_ONLY and clock.default is time.time


@pytest.mark.parametrize(
    ("platform", "apns_environment", "fcm_credential"),
    [("apns", "sandbox", None), ("fcm", None, "sandbox"), ("webpush", None, None)],
)
def test_the_apns_environment_and_the_fcm_credential_are_named_apart(
    platform: str, apns_environment: str | None, fcm_credential: str | None
) -> None:
    """One stored column, two meanings: every reader gets the one its platform means (an FCM
    credential may well be named "sandbox"), and a Job has no field that means either."""
    row = PendingDelivery(
        1, "n1", "app", None, platform, "token", "sandbox", 0, 0.0, "{}", 0.0, 0.0
    )
    assert (row.apns_environment, row.fcm_credential) == (apns_environment, fcm_credential)
    fields = {f.name for f in dataclasses.fields(Job)}
    assert {"apns_environment", "fcm_credential"} <= fields and "environment" not in fields
