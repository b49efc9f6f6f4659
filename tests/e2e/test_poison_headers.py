"""A header value HTTP/2 forbids is refused when the notification is accepted (issue 12 item 1).

``"room 7 "`` as collapse_id passed the control-character check, broke every connection it was
sent on and was retried eight times; now it is refused with the status of every refused request
(``RequestError.status``: 422 since the API's errors were unified) naming the field, and nothing
is stored.
"""

from __future__ import annotations

import httpx
from harness import new_token

from pushgate.errors import RequestError
from pushgate.simulator import Simulator


async def test_collapse_id_with_a_trailing_space_is_refused_naming_the_field(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    token = new_token()
    registered = await token_app.post(
        "/v1/devices",
        json={"user_id": "ann", "platform": "apns", "token": token, "environment": "sandbox"},
    )
    assert registered.status_code == 201, registered.text
    body = {"user_ids": ["ann"], "alert": {"body": "hi"}, "collapse_id": "room 7 "}
    refused = await token_app.post("/v1/notifications", json=body)
    assert refused.status_code == RequestError.status, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_collapse_id" and "collapse_id" in error["message"]
    delivered = await token_app.post(
        "/v1/notifications", params={"wait": "true"}, json={**body, "collapse_id": "room 7"}
    )
    assert delivered.status_code == 200, delivered.text
    assert [r["status"] for r in delivered.json()["results"]] == ["delivered"]
    (received,) = sim.inbox.query(token=token)  # only the trimmed one was ever sent
    assert received.collapse_id == "room 7"


async def test_a_notification_that_ends_every_connection_is_rejected_after_two(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    """What the accept-time check cannot catch: the simulator ends the connection with
    GOAWAY(PROTOCOL_ERROR) naming the poison's stream each time it takes it. The poison is
    rejected after its second connection instead of spending all its tries (and a connection
    each), and the notifications that shared those connections are delivered."""
    tokens = [new_token() for _ in range(30)]
    for i, token in enumerate(tokens):
        device = {"user_id": f"u{i}", "platform": "apns", "token": token, "environment": "sandbox"}
        registered = await token_app.post("/v1/devices", json=device)
        assert registered.status_code == 201, registered.text
    poison = tokens[11]
    sim.set_faults(poison_tokens=[poison])
    body = {
        "user_ids": [f"u{i}" for i in range(len(tokens))],
        "alert": {"body": "hi"},
        "collapse_id": "room 7",  # a repeat is harmless: lost answers are sent again
    }
    sent = await token_app.post("/v1/notifications", params={"wait": "true"}, json=body)
    assert sent.status_code == 200, sent.text
    by_token = {r["token"]: r for r in sent.json()["results"]}
    poisoned = by_token.pop(poison)
    assert poisoned["status"] == "rejected", poisoned
    assert poisoned["attempts"] == 2 and "ended the connection" in poisoned["reason"], poisoned
    assert {r["status"] for r in by_token.values()} == {"delivered"}, by_token
    assert not sim.inbox.query(token=poison)
    assert len({n.token for n in sim.inbox.query()}) == len(tokens) - 1
