"""The inbox: bounded, newest kept, filtered queries, rejection counters."""

from __future__ import annotations

from pushgate.simulator import Inbox, ReceivedNotification
from pushgate.simulator.inbox import AuthInfo


def _notification(token: str, topic: str = "com.x") -> ReceivedNotification:
    return ReceivedNotification(
        received_at=1.0, environment="sandbox", token=token, topic=topic, push_type="alert",
        priority=10, expiration=None, apns_id="id", collapse_id=None,
        auth=AuthInfo("certificate", subject_uid="com.x"), payload={"aps": {}},
    )  # fmt: skip


def test_oldest_notifications_are_dropped_when_full() -> None:
    inbox = Inbox(max_size=2)

    for token in ("a", "b", "c"):
        inbox.add(_notification(token))

    assert [n.token for n in inbox.query()] == ["b", "c"]
    assert inbox.stats()["inbox"] == {"size": 2, "max": 2, "dropped": 1}


def test_queries_filter_and_keep_the_newest() -> None:
    inbox = Inbox()
    for token, topic in [("a", "t1"), ("b", "t2"), ("a", "t2")]:
        inbox.add(_notification(token, topic))

    assert [n.topic for n in inbox.query(token="A")] == ["t1", "t2"]
    assert [n.token for n in inbox.query(topic="t2", limit=1)] == ["a"]


def test_rejections_and_clear() -> None:
    inbox = Inbox()
    inbox.add(_notification("a"))
    inbox.reject("BadTopic")

    assert inbox.stats()["rejections"] == {"BadTopic": 1}
    assert inbox.clear() == 1
    assert inbox.stats()["requests"] == 0


def test_json_shape_omits_empty_auth_fields() -> None:
    data = _notification("a").to_json()

    assert data["auth"] == {"kind": "certificate", "subject_uid": "com.x"}
    assert data["payload"] == {"aps": {}}
