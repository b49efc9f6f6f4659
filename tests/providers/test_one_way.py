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
from pushgate.store import Device, NewDelivery, PendingDelivery

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


@pytest.mark.parametrize("record", [Device, NewDelivery, PendingDelivery, Job])
def test_the_apns_environment_and_the_fcm_credential_are_fields_apart(record: type) -> None:
    """Store rows and Jobs name the APNs environment and the FCM credential apart (an FCM
    credential may well be named "sandbox"); none has a field that means either."""
    fields = {f.name for f in dataclasses.fields(record)}
    assert {"apns_environment", "fcm_credential"} <= fields and "environment" not in fields
