"""The per-delivery apns-id: a version-5 UUID of notification id and token, stable per try."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from pushgate.providers import apns


@given(st.text(min_size=1, max_size=40), st.binary(min_size=32, max_size=100).map(bytes.hex))
def test_the_apns_id_is_uuid5_of_notification_and_token(notification_id: str, token: str) -> None:
    derived = apns.delivery_apns_id(apns.apns_id_base(notification_id), token).decode()
    expected = uuid.uuid5(apns.APNS_ID_NAMESPACE, f"{notification_id}/{token}")
    assert derived == str(expected) and uuid.UUID(derived).version == 5


def test_another_device_or_notification_gets_another_id() -> None:
    base = apns.apns_id_base("ntf_1")
    ids = {
        apns.delivery_apns_id(base, "ab" * 32),
        apns.delivery_apns_id(base, "cd" * 32),
        apns.delivery_apns_id(apns.apns_id_base("ntf_2"), "ab" * 32),
    }
    assert len(ids) == 3
