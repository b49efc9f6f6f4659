"""GET /v1/notifications: the push log, newest first, by user and time, paged."""

from __future__ import annotations

import time

import httpx
from harness import RunningGateway, create_app
from test_api import assert_error
from test_apns_delivery import register

from pushgate.simulator import Simulator


async def _send(api: httpx.AsyncClient, users: list[str], title: str) -> dict:
    response = await api.post(
        "/v1/notifications",
        params={"wait": "true"},
        json={"user_ids": users, "alert": {"title": title}},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_lists_recent_notifications_with_per_device_outcomes(
    token_app: httpx.AsyncClient, sim: Simulator
) -> None:
    alice, bob = await register(token_app, "alice"), await register(token_app, "bob")
    sim.mark_dead(bob)
    first = await _send(token_app, ["alice"], "one")
    started = time.time()
    second = await _send(token_app, ["alice", "bob"], "two")

    listed = (await token_app.get("/v1/notifications")).json()
    assert [n["id"] for n in listed["notifications"]] == [second["id"], first["id"]]
    assert listed["next_before"] is None
    newest = listed["notifications"][0]
    assert newest["message"]["alert"] == {"title": "two"}
    assert newest["counts"] == {"delivered": 1, "unregistered": 1}
    outcomes = {r["token"]: (r["status"], r["reason"]) for r in newest["results"]}
    assert outcomes == {alice: ("delivered", None), bob: ("unregistered", "Unregistered")}
    assert newest["renders"]["apns"]["push_type"] == "alert"
    single = (await token_app.get(f"/v1/notifications/{second['id']}")).json()
    assert newest["results"] == single["results"]

    of_bob = (await token_app.get("/v1/notifications", params={"user_id": "bob"})).json()
    (only,) = of_bob["notifications"]
    assert only["id"] == second["id"] and [r["token"] for r in only["results"]] == [bob]
    assert only["counts"] == {"unregistered": 1}

    recent = (await token_app.get("/v1/notifications", params={"since": started})).json()
    assert [n["id"] for n in recent["notifications"]] == [second["id"]]


async def test_pages_with_next_before(token_app: httpx.AsyncClient) -> None:
    await register(token_app, "carol")
    sent = [(await _send(token_app, ["carol"], f"n{i}"))["id"] for i in range(3)]
    page = (await token_app.get("/v1/notifications", params={"limit": 2})).json()
    assert [n["id"] for n in page["notifications"]] == sent[:0:-1]
    assert page["next_before"] == sent[1]
    rest = (await token_app.get("/v1/notifications", params={"limit": 2, "before": sent[1]})).json()
    assert [n["id"] for n in rest["notifications"]] == [sent[0]]
    assert rest["next_before"] is None


async def test_another_app_sees_none_and_bad_parameters_are_refused(
    gw: RunningGateway, token_app: httpx.AsyncClient
) -> None:
    await register(token_app, "dave")
    await _send(token_app, ["dave"], "private")
    async with gw.client(await create_app(gw)) as other:
        assert (await other.get("/v1/notifications")).json()["notifications"] == []
    assert_error(await token_app.get("/v1/notifications", params={"limit": 0}), 422)
    assert_error(await token_app.get("/v1/notifications", params={"since": "yesterday"}), 422)
