"""Against Node's http2 server (tests/transport/node_server.js), an APNs look-alike."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from pushgate.transport import HTTP2Pool, Origin

pytestmark = pytest.mark.timeout(60)

MakeOrigin = Callable[..., Origin]
HEADERS = (
    (b"apns-topic", b"com.example.app"),
    (b"apns-push-type", b"alert"),
    (b"authorization", b"bearer " + b"n" * 200),
)


async def test_apns_id_is_echoed_and_bad_tokens_get_400(
    node_server: int, make_origin: MakeOrigin
) -> None:
    origin = make_origin(node_server)
    tokens = [b"bad%061x" % i if i % 10 == 0 else b"%064x" % i for i in range(500)]
    async with HTTP2Pool() as pool:
        calls = [
            pool.request(
                origin,
                b"/3/device/" + token,
                headers=HEADERS,
                volatile_headers=[(b"apns-id", b"00000000-0000-0000-0000-%012d" % i)],
                body=json.dumps({"aps": {"alert": "hi"}, "n": i}).encode(),
            )
            for i, token in enumerate(tokens)
        ]
        responses = await asyncio.gather(*calls)
    for i, response in enumerate(responses):
        assert response.header(b"apns-id") == b"00000000-0000-0000-0000-%012d" % i
        if i % 10 == 0:
            assert response.status == 400
            assert json.loads(response.body) == {"reason": "BadDeviceToken"}
        else:
            assert response.status == 200 and response.body == b""


async def test_server_generated_apns_id(node_server: int, make_origin: MakeOrigin) -> None:
    async with HTTP2Pool() as pool:
        response = await pool.request(make_origin(node_server), b"/3/device/" + b"a" * 64)
    apns_id = response.header(b"apns-id")
    assert response.status == 200 and apns_id is not None and len(apns_id) == 36
