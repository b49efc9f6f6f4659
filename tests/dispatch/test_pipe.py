"""The pipe between the API process and the dispatcher process, over a real socket pair, on
the stock event loop and on uvloop (which the processes run: libuv makes the sockets it
polls non-blocking)."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvloop

from pushgate.dispatch.pipe import MessagePipe, PipeMessage
from pushgate.store.models import PendingDelivery

LOOPS = pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])


class Received:
    """What one end got, with a way to wait for a number of messages."""

    def __init__(self) -> None:
        self.messages: list[PipeMessage] = []
        self._arrived = asyncio.Event()

    def __call__(self, batch: list[PipeMessage]) -> None:
        self.messages.extend(batch)
        self._arrived.set()

    async def count(self, n: int) -> None:
        async with asyncio.timeout(5):
            while len(self.messages) < n:
                self._arrived.clear()
                await self._arrived.wait()


async def _pair(
    received_a: Received, received_b: Received, lead_a: list[PipeMessage]
) -> tuple[MessagePipe, MessagePipe]:
    one, other = socket.socketpair()

    def take_lead() -> list[PipeMessage]:
        lead, lead_a[:] = list(lead_a), []
        return lead

    a = await MessagePipe.over(one, received_a, take_lead)
    b = await MessagePipe.over(other, received_b)
    return a, b


@LOOPS
def test_frames_larger_than_the_socket_takes_at_once_arrive_whole_and_in_order(run) -> None:
    run(_large_frames())


async def _large_frames() -> None:
    """A frame of several MB reaches the other end over many reads of a non-blocking socket
    (the Connection this replaced failed on the first partial frame); what is queued in
    one turn arrives as one batch, the lead first."""
    at_a, at_b = Received(), Received()
    lead: list[PipeMessage] = [("rows", [1, 2, 3])]
    a, b = await _pair(at_a, at_b, lead)
    big = b"x" * 5_000_000
    a.send_soon(("metrics", big))
    a.send_soon(("finished", ("n1", True, None)))
    for n in range(1000):
        b.send_soon(("watch", f"n{n}", 1.0, False))
    await at_b.count(3)
    await at_a.count(1000)
    assert at_b.messages == [
        ("rows", [1, 2, 3]),
        ("metrics", big),
        ("finished", ("n1", True, None)),
    ]
    assert at_a.messages == [("watch", f"n{n}", 1.0, False) for n in range(1000)]
    a.close()
    b.close()


@LOOPS
def test_a_closed_end_is_seen_by_the_other_and_drain_returns(run) -> None:
    run(_closed_end())


async def _closed_end() -> None:
    at_a, at_b = Received(), Received()
    a, b = await _pair(at_a, at_b, [])
    a.send_soon(("counts", {("apns", "delivered"): 3}))
    await a.drain(1.0)
    a.close()
    async with asyncio.timeout(5):
        await b.closed.wait()
    assert at_b.messages == [("counts", {("apns", "delivered"): 3})]
    b.send_soon(("stop",))
    b.flush()  # to a closed pipe: dropped with a warning, nothing raised
    await b.drain(1.0)


def test_an_outbox_row_crosses_the_pipe_with_every_field() -> None:
    """Rows are pickled as their constructor's arguments (``PendingDelivery.__reduce__``)."""
    row = PendingDelivery(
        id=7, notification_id="ntf_1", app_id="app_1", device_id=3, platform="fcm",
        token="t", apns_environment=None, fcm_credential="default", attempts=2,
        next_attempt_at=1.5, message_json="{}", deadline=9.5, created_at=0.5,
        extra={"topic": "news"}, renders={"fcm": {"message": {}}},
    )  # fmt: skip

    async def main() -> list[PipeMessage]:
        ours, theirs = socket.socketpair()
        received = Received()
        sender = await MessagePipe.over(ours, lambda _: None)
        receiver = await MessagePipe.over(theirs, received)
        sender.send_soon(("rows", [row]))
        await received.count(1)
        sender.close()
        receiver.close()
        return received.messages

    ((kind, (back,)),) = asyncio.run(main())
    assert kind == "rows"
    assert back == row and back is not row
