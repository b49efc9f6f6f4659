"""Each query's column list and the record it builds must not drift apart."""

from __future__ import annotations

import dataclasses

import pytest

from pushgate.engine.chat.preferences import PushPreference
from pushgate.queue import postgresql as pg_outbox
from pushgate.queue import sqlite as sqlite_outbox
from pushgate.store.codecs import (
    APP,
    AUDIT,
    CHANNEL,
    CHAT_MESSAGE,
    CHAT_USER,
    CREDENTIAL,
    DEVICE,
    FEEDBACK,
    FETCHED,
    KEY,
    PENDING_FIELDS,
    REMEMBERED,
    REPORT_COLUMNS,
    REPORT_FIELDS,
    WEBHOOK,
    WEBHOOK_CALL,
    RowCodec,
)
from pushgate.store.models import PendingDelivery


@pytest.mark.parametrize(
    "codec",
    [
        APP,
        AUDIT,
        DEVICE,
        CREDENTIAL,
        CHAT_USER,
        CHANNEL,
        CHAT_MESSAGE,
        FETCHED,
        FEEDBACK,
        WEBHOOK,
        WEBHOOK_CALL,
        KEY,
        REMEMBERED,
    ],
    ids=lambda c: c.record.__name__,
)
def test_codec_covers_every_field_of_its_record_in_order(codec: RowCodec) -> None:
    assert codec.fields == tuple(f.name for f in dataclasses.fields(codec.record))
    assert set(codec.convert) <= set(codec.fields)


@pytest.mark.parametrize("module", [sqlite_outbox, pg_outbox], ids=["sqlite", "postgresql"])
def test_outbox_page_selects_pending_delivery_fields_in_order(module) -> None:
    assert tuple(module._PAGE_COLUMNS) == PENDING_FIELDS
    assert tuple(f.name for f in dataclasses.fields(PendingDelivery)) == PENDING_FIELDS


def test_report_columns_cover_the_report_fields() -> None:
    assert set(REPORT_COLUMNS) == set(REPORT_FIELDS)


def test_a_decoded_row_names_its_fields() -> None:
    row = ("app_1", "chat", "pgapp_x", 1.5)
    app = APP.decode(row)
    assert (app.id, app.name, app.api_key_prefix, app.created_at) == row
    with pytest.raises(ValueError):
        APP.decode(row[:3])  # a column short: refused, never shifted


def test_a_field_of_several_columns_gets_them_together() -> None:
    assert CHAT_USER.select_list("u") == "u.id, u.name, u.push_level, u.push_disabled_until"
    user = CHAT_USER.decode(("bob", "Bob", "mentions", 5.0))
    assert user.push == PushPreference("mentions", 5.0) and user.name == "Bob"
    with pytest.raises(ValueError):
        CHAT_USER.decode(("bob", "Bob", "mentions"))
