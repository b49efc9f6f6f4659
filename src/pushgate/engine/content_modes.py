"""How much of a chat message a push carries (Mattermost's "push notification contents").

``full`` renders the app's template (or the default one). The other modes are fixed, not
templated, so that what they hide cannot leak through a template:

* ``generic``: the sender and the channel's name, no text;
* ``generic_no_channel``: the sender only;
* ``id_only``: ids, the fetch token and a placeholder. On APNs the alert is the placeholder
  with ``mutable-content`` so the app's Notification Service Extension can fetch and show the
  real content; on FCM and Web Push a data-only message wakes the app, which fetches it.

Every mode keeps the badge (unread count), the thread id and the ids in ``data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

from pushgate.engine.render import render_checked
from pushgate.engine.templates import DEFAULT_TEMPLATE, Rendered, render_message
from pushgate.message import Alert, Message

ContentMode = Literal["full", "generic", "generic_no_channel", "id_only"]
CONTENT_MODES: Final = get_args(ContentMode)
ID_ONLY_PLACEHOLDER: Final = "You have a new message"


def compose(
    mode: ContentMode,
    platform: str,
    variables: Mapping[str, Any],
    template: str | None = None,
    ack_token: str | None = None,
) -> Rendered:
    """The message one receiver gets on ``platform`` in ``mode``."""
    if mode == "full":
        return render_message(template or DEFAULT_TEMPLATE, variables, platform)
    data = _ids(variables)
    alert: Alert | None
    if mode == "id_only":
        if ack_token is not None:
            data["ack_token"] = ack_token
        data["id_only"] = True
        alert = Alert(body=ID_ONLY_PLACEHOLDER) if platform == "apns" else None
    elif mode == "generic":
        channel = variables["channel"].get("name")
        alert = Alert(
            title=variables["sender"]["name"],
            body=f"New message in #{channel}" if channel else "New message",
        )
    else:
        alert = Alert(title=variables["sender"]["name"], body="New message")
    message = Message(
        alert=alert,
        badge=variables["unread_count"],
        thread_id=variables["thread"]["id"] or variables["channel"]["id"],
        data=data,
        mutable_content=mode == "id_only" and platform == "apns",
        sound="default" if alert is not None else None,
    )
    render_checked(message, [platform])
    return Rendered(message)


def _ids(variables: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "message_id": variables["message"]["id"],
        "channel_id": variables["channel"]["id"],
        "sender_id": variables["sender"]["id"],
    }
