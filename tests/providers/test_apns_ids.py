"""The per-delivery apns-id: the notification's prefix and the delivery id, stable per try."""

from __future__ import annotations

import hashlib
import uuid

from hypothesis import given
from hypothesis import strategies as st

from pushgate.providers import apns


@given(st.text(min_size=1, max_size=40), st.integers(min_value=1, max_value=2**48 - 1))
def test_the_apns_id_is_a_version_8_uuid_of_notification_and_delivery(
    notification_id: str, delivery_id: int
) -> None:
    derived = uuid.UUID(
        apns.delivery_apns_id(apns.apns_id_prefix(notification_id), delivery_id).decode()
    )
    digest = hashlib.sha1(apns.APNS_ID_NAMESPACE.bytes + notification_id.encode()).digest()
    assert derived.version == 8 and derived.variant == uuid.RFC_4122
    assert derived.bytes[:6] == digest[:6] and derived.node == delivery_id
    assert (
        str(derived)
        == apns.delivery_apns_id(apns.apns_id_prefix(notification_id), delivery_id).decode()
    )


def test_another_delivery_or_notification_gets_another_id() -> None:
    prefix = apns.apns_id_prefix("ntf_1")
    ids = {
        apns.delivery_apns_id(prefix, 1),
        apns.delivery_apns_id(prefix, 2),
        apns.delivery_apns_id(apns.apns_id_prefix("ntf_2"), 1),
    }
    assert len(ids) == 3
