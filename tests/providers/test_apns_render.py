"""The APNs render kept with a notification: checked once, stored, read back unchanged."""

from __future__ import annotations

import orjson
import pytest

from pushgate.errors import PayloadTooLarge
from pushgate.message import Message
from pushgate.providers import apns
from pushgate.providers.apns_render import ApnsRender


def test_stored_render_round_trips_through_json() -> None:
    message = Message(
        alert={"title": "Bob", "body": "héllo"},
        push_type="voip",
        expiration=1_900_000_000,
        collapse_id="room-1",
        data={"k": "v"},
    )
    render = ApnsRender.of(message)
    back = ApnsRender.from_stored(orjson.loads(orjson.dumps(render.to_stored())))
    assert back == render
    assert back.payload == apns.build_payload(message)
    assert (back.push_type, back.priority) == ("voip", 10)
    assert back.volatile == ((b"apns-expiration", b"1900000000"), (b"apns-collapse-id", b"room-1"))


def test_render_refuses_what_apns_would_refuse() -> None:
    with pytest.raises(PayloadTooLarge):
        ApnsRender.of(Message(alert={"body": "x" * 5000}))
    assert ApnsRender.of(Message(push_type="background")).priority == 5
