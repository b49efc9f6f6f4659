"""HotRoutes: the front doors' per-push endpoints served ahead of the application."""

from __future__ import annotations

from typing import Any

import httpx

from pushgate.api.hot_routes import Answer, HotRoute, HotRoutes


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """What stands behind HotRoutes: answers 404 with the body it was given."""
    message = await receive()
    await Answer(404, b"app saw " + message.get("body", b""), b"text/plain").send(send)


async def door(scope: dict[str, Any], body: bytes) -> Answer | None:
    secret = scope["path_params"]["secret"]
    if secret != "right":
        return None
    return Answer(200, b'{"route":"%s","body":"%s"}' % (scope["route"].path.encode(), body))


def client() -> httpx.AsyncClient:
    routes = HotRoutes(application, routes=[HotRoute("/mm/{secret}/api/v1/send_push", door)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=routes), base_url="http://x")


def test_a_route_matches_one_segment_for_its_parameter():
    route = HotRoute("/mm/{secret}/api/v1/send_push", door)
    assert route.match("/mm/abc/api/v1/send_push") == {"secret": "abc"}
    for path in ("/mm//api/v1/send_push", "/mm/a/b/api/v1/send_push", "/mm/abc/api/v1/ack"):
        assert route.match(path) is None
    assert HotRoute("/_matrix/push/v1/notify", door).match("/_matrix/push/v1/notify") == {}


async def test_served_ahead_of_the_application_with_its_route_template():
    async with client() as http:
        answer = await http.post("/mm/right/api/v1/send_push", content=b"hi")
    assert answer.status_code == 200
    assert answer.json() == {"route": "/mm/{secret}/api/v1/send_push", "body": "hi"}
    assert answer.headers["content-length"] == str(len(answer.content))


async def test_a_request_the_handler_declines_reaches_the_application_with_its_body():
    async with client() as http:
        answer = await http.post("/mm/wrong/api/v1/send_push", content=b"hi")
        other = await http.post("/v1/notifications", content=b"x")
    assert (answer.status_code, answer.text) == (404, "app saw hi")
    assert (other.status_code, other.text) == (404, "app saw x")


async def test_other_methods_are_405_as_the_router_answers():
    async with client() as http:
        answer = await http.get("/mm/right/api/v1/send_push")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert answer.json()["error"]["code"] == "method_not_allowed"
