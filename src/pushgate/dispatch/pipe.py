"""Batched messages between the API process and the dispatcher process, over a socket pair.

Each end's socket is watched by its event loop, which makes it non-blocking (libuv, under
uvloop, sets that when it starts polling). The ``multiprocessing`` Connection this replaced
read each message with calls meant for a blocking socket. Given only part of a large frame
(the child's metrics text, a batch of rows), it raised BlockingIOError, and that end stopped
listening. Here frames are cut from whatever has arrived, and writes go through the loop's
transport, which keeps what the socket cannot take yet. A frame is a 4-byte big-endian
length and a pickled list of messages. What is queued in one loop turn leaves as one frame:
under load one pickling and one write carry the messages of many requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import socket
from collections.abc import Callable
from typing import Any, cast

log = logging.getLogger("pushgate.dispatch")

PipeMessage = tuple[Any, ...]
HEADER = 4


class MessagePipe(asyncio.Protocol):
    """One end. ``on_messages`` gets each arriving batch, in order; ``lead()`` gives the
    messages that must go first in each batch that leaves (asked for when it leaves)."""

    def __init__(
        self,
        on_messages: Callable[[list[PipeMessage]], None],
        lead: Callable[[], list[PipeMessage]] = lambda: [],
    ) -> None:
        self._on_messages = on_messages
        self._lead = lead
        self._transport: asyncio.Transport | None = None
        self._received = bytearray()
        self._queued: list[PipeMessage] = []
        self._flush_scheduled = False
        self._drained = asyncio.Event()
        self._drained.set()
        self.closed = asyncio.Event()
        """Set once the connection is gone (the other process exited or closed its end)."""

    @classmethod
    async def over(
        cls,
        sock: socket.socket,
        on_messages: Callable[[list[PipeMessage]], None],
        lead: Callable[[], list[PipeMessage]] = lambda: [],
    ) -> MessagePipe:
        """A pipe end on ``sock``, one end of a connected AF_UNIX socket pair."""
        loop = asyncio.get_running_loop()
        _, pipe = await loop.create_unix_connection(lambda: cls(on_messages, lead), sock=sock)
        return pipe

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        received = self._received
        received += data
        start, batch = 0, []
        while len(received) - start >= HEADER:
            end = start + HEADER + int.from_bytes(received[start : start + HEADER], "big")
            if len(received) < end:
                break  # the rest of this frame is still on its way
            batch.extend(pickle.loads(received[start + HEADER : end]))
            start = end
        del received[:start]
        if batch:
            self._on_messages(batch)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._drained.set()
        self.closed.set()

    def pause_writing(self) -> None:
        self._drained.clear()

    def resume_writing(self) -> None:
        self._drained.set()

    # -- sending ------------------------------------------------------------------------

    def send_soon(self, message: PipeMessage) -> None:
        """Queue ``message``; it leaves at the end of this loop turn."""
        self._queued.append(message)
        self.flush_soon()

    def flush_soon(self) -> None:
        """Send what is queued (and the lead) at the end of this loop turn."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what is queued now (the transport writes what the socket takes at once and
        keeps the rest until it can)."""
        self._flush_scheduled = False
        transport = self._transport
        if transport is None or transport.is_closing():
            if self._queued:
                log.warning(
                    "the other dispatch process is gone; %d messages not delivered",
                    len(self._queued),
                )
                self._queued = []
            return  # that child is gone: the next one pages the outbox in at start
        batch = self._lead() + self._queued
        self._queued = []
        if batch:
            frame = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
            transport.write(len(frame).to_bytes(HEADER, "big") + frame)

    async def drain(self, within: float) -> None:
        """Send what is queued and wait, at most ``within`` seconds, until the socket took
        all of it (before the process exits)."""
        self.flush()
        if self._transport is None:
            return
        self._transport.set_write_buffer_limits(high=0)  # paused while anything is left
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), within)

    def close(self) -> None:
        """Close this end; what is still buffered is sent first."""
        if self._transport is not None:
            self._transport.close()
