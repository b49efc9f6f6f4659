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
