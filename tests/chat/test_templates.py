"""Templates: save-time checks say what failed and where; sends cut the body to the limit."""

from __future__ import annotations

import copy
import time

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushgate.engine.chat.posting import Renders, template_for
from pushgate.engine.content_modes import ID_ONLY_PLACEHOLDER, compose
from pushgate.engine.templates import (
    DEFAULT_TEMPLATE,
    ELLIPSIS,
    SAMPLE_VARIABLES,
    TemplateError,
    check_template,
    render_message,
    truncate,
    variables_used,
)
from pushgate.providers import apns, webpush
from pushgate.providers.fcm_client import render as render_fcm


def variables(text: str = "hello", **changes: object) -> dict[str, object]:
    found = copy.deepcopy(dict(SAMPLE_VARIABLES))
    found["message"]["text"] = text  # type: ignore[index]
    found.update(changes)
    return found


@pytest.mark.parametrize(
    ("source", "stage", "line"),
    [
        ('{\n  "alert": {"body": {{ mesage.text | tojson }}}\n}', "render", 2),
        ('{\n  "alert": {"body": {{ message.text | tojson }\n}', "parse", 2),
        ('{\n  "alert": {"body": {{ message.text | tojson }},}\n}', "produce JSON", 2),
        ('{\n\n  "badge": "{{ message.text }}"\n}', "produce a valid message", None),
        ('{"alert": {"body": "{{ "x" * 5000 }}"}}', "fit the platform", None),
        ("[1, 2]", "produce JSON", None),
        ("{{ ''.__class__.__mro__ }}", "render", 1),  # the sandbox refuses internals
    ],
)
def test_a_bad_template_is_refused_with_stage_and_line(
    source: str, stage: str, line: int | None
) -> None:
    with pytest.raises(TemplateError) as caught:
        check_template(source, "apns")
    assert caught.value.stage == stage
    assert caught.value.line == line
    if line is not None:
        assert f"at line {line}" in caught.value.message


def test_a_template_is_checked_against_the_platforms_own_limit() -> None:
    # 3,000 characters of body fit every platform; 4,000 exceed Web Push's 3,993 bytes.
    fits = '{"alert": {"body": "{{ "x" * 3000 }}"}}'
    for platform in ("apns", "fcm", "webpush"):
        check_template(fits, platform)
    with pytest.raises(TemplateError, match="Web Push payload"):
        check_template('{"alert": {"body": "{{ "x" * 4000 }}"}}', "webpush")
    with pytest.raises(Exception, match="provider type"):
        check_template(fits, "sms")


def test_default_template_fields() -> None:
    message = render_message(DEFAULT_TEMPLATE, variables("hi there"), "apns").message
    assert message.alert is not None
    assert (message.alert.title, message.alert.body) == ("Alice Sample in #general", "hi there")
    assert message.badge == 3
    assert message.thread_id == "sample-channel"
    assert message.data == {
        "message_id": "sample-message",
        "channel_id": "sample-channel",
        "sender_id": "sample-sender",
    }
    reply = variables("re", thread={"id": "parent-1"})
    assert render_message(DEFAULT_TEMPLATE, reply, "fcm").message.thread_id == "parent-1"


def test_truncate_filter_cuts_on_characters() -> None:
    source = '{"alert": {"body": {{ message.text | truncate(5) | tojson }}}}'
    message = render_message(source, variables("😀é漢字abc"), "apns").message
    assert message.alert is not None and message.alert.body == "😀é漢字" + ELLIPSIS
    assert truncate("short", 10) == "short"


def payload_fits(message: object, platform: str) -> None:
    if platform == "apns":
        apns.check_size(apns.build_payload(message), "alert")  # type: ignore[arg-type]
    elif platform == "fcm":
        render_fcm(message, "x" * 32, None, now=time.time())  # type: ignore[arg-type]
    else:
        webpush.build_payload(message)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(min_size=0, max_size=6000),
    platform=st.sampled_from(["apns", "fcm", "webpush"]),
)
def test_long_bodies_are_cut_to_the_platform_limit(text: str, platform: str) -> None:
    rendered = render_message(DEFAULT_TEMPLATE, variables(text), platform)
    assert rendered.message.alert is not None
    body = rendered.message.alert.body or ""
    payload_fits(rendered.message, platform)
    if rendered.body_cut:
        assert body.endswith(ELLIPSIS) and text.startswith(body[: -len(ELLIPSIS)])
        longer = render_message(
            '{"alert": {"title": {{ (sender.name ~ " in #" ~ channel.name) | tojson }}, '
            '"body": {{ message.text | truncate(n) | tojson }}}}',
            {**variables(text), "n": len(body) + 1},
            platform,
        )
        assert longer.body_cut  # one character more would not have fitted
    else:
        assert body == text


@pytest.mark.parametrize("platform", ["apns", "fcm", "webpush"])
def test_content_modes_hide_what_they_promise(platform: str) -> None:
    secret = "the launch code is 0000"
    v = variables(secret)
    full = compose("full", platform, v).message
    assert full.alert is not None and full.alert.body == secret
    generic = compose("generic", platform, v).message
    assert generic.alert is not None
    assert (generic.alert.title, generic.alert.body) == ("Alice Sample", "New message in #general")
    no_channel = compose("generic_no_channel", platform, v).message
    assert (
        no_channel.alert is not None
        and "general" not in orjson.dumps(no_channel.model_dump()).decode()
    )
    id_only = compose("id_only", platform, v, ack_token="tok").message
    dumped = orjson.dumps(id_only.model_dump()).decode()
    assert "Alice" not in dumped and secret not in dumped and "general" not in dumped
    assert id_only.data["ack_token"] == "tok"
    if platform == "apns":
        assert id_only.mutable_content and id_only.alert is not None
        assert id_only.alert.body == ID_ONLY_PLACEHOLDER
    else:
        assert id_only.alert is None  # a data message
    for message in (generic, no_channel, id_only):
        assert secret not in orjson.dumps(message.model_dump()).decode()
        assert message.badge == 3


def test_full_mode_uses_the_given_template() -> None:
    source = '{"alert": {"body": {{ ("@" ~ receiver.name ~ ": " ~ message.text) | tojson }}}}'
    message = compose("full", "fcm", variables("yo"), template=source).message
    assert message.alert is not None and message.alert.body == "@Bob Sample: yo"


def test_an_event_types_template_beats_the_providers_and_the_default() -> None:
    templates = {("apns", ""): "any", ("apns", "message.new"): "new", ("fcm", ""): "fcm"}
    assert template_for(templates, "apns", "message.new") == "new"
    assert template_for(templates, "apns", "message.updated") == "any"
    assert template_for(templates, "fcm", "message.new") == "fcm"
    assert template_for(templates, "webpush", "message.new") is None  # the default


def test_receivers_share_a_render_unless_the_template_tells_them_apart() -> None:
    def receiver(name: str, unread: int) -> dict[str, object]:
        return variables(receiver={"id": name, "name": name.title()}, unread_count=unread)

    renders = Renders()
    ann, ben, cat = receiver("ann", 1), receiver("ben", 1), receiver("cat", 2)
    first = renders.compose("apns", "full", ann, None, None)
    assert renders.compose("apns", "full", ben, None, None) is first  # default: no receiver
    assert renders.compose("apns", "full", cat, None, None).badge == 2
    personal = '{"alert": {"body": {{ ("Hi " ~ receiver.name) | tojson }}}}'
    assert variables_used(personal) == {"receiver"}
    bodies = [renders.compose("apns", "full", v, personal, None).alert.body for v in (ann, ben)]
    assert bodies == ["Hi Ann", "Hi Ben"]
    own_token = [renders.compose("apns", "id_only", ann, None, t) for t in ("t1", "t2")]
    assert [m.data["ack_token"] for m in own_token] == ["t1", "t2"]
