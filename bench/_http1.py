"""A lean HTTP/1.1 load client: keep-alive connections posting prepared bodies, one at a time.

The front doors' senders (Synapse, the Mattermost server) post one small request per push
over keep-alive HTTP/1.1. httpx spends a few hundred µs of client CPU per request, which on
two shared cores would measure the client; this writes the request bytes and reads the
answer by Content-Length, about 20 µs per request. Times are CLOCK_MONOTONIC nanoseconds, the
clock the timing sink stamps arrivals with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench._procs import BenchError


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request: which, when sent and answered, the status and the answer body."""

    number: int
    sent_ns: int
    answered_ns: int
    status: int
    body: bytes


def request_bytes(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A POST with ``body``; ``headers`` as a sender would add them (or leave them out)."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One keep-alive connection; ``post`` sends a request and reads its whole answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, number: int, request: bytes) -> Exchange:
        sent = time.monotonic_ns()
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self._reader.readexactly(length) if length else b""
        return Exchange(number, sent, time.monotonic_ns(), status, body)

    def close(self) -> None:
        self._writer.close()


async def closed_loop(
    port: int, make: Callable[[int], bytes], *, connections: int, duration: float
) -> list[Exchange]:
    """Each connection posts its next request as soon as the previous one is answered."""
    opened = [await Connection.open(port) for _ in range(connections)]
    counter = iter(range(10**12))
    stop = time.monotonic() + duration
    done: list[Exchange] = []

    async def worker(connection: Connection) -> None:
        while time.monotonic() < stop:
            number = next(counter)
            done.append(await connection.post(number, make(number)))

    try:
        await asyncio.gather(*(worker(c) for c in opened))
    finally:
        for connection in opened:
            connection.close()
    return done


async def paced(
    port: int, make: Callable[[int], bytes], *, rate: float, duration: float, connections: int
) -> list[Exchange]:
    """Open loop: request k is due at start + k/rate; it waits for a free connection if none
    is idle (the wait counts in its answer time: ``sent_ns`` is when it was due)."""
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await Connection.open(port))
    done: list[Exchange] = []
    start = time.monotonic_ns()
    total = int(rate * duration)
    tasks = set()

    async def one(number: int, due_ns: int) -> None:
        connection = await idle.get()
        try:
            exchange = await connection.post(number, make(number))
        finally:
            idle.put_nowait(connection)
        done.append(Exchange(number, due_ns, exchange.answered_ns, exchange.status, exchange.body))

    for number in range(total):
        due_ns = start + int(number * 1e9 / rate)
        delay = (due_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(number, due_ns))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().close()
    failed = [e for e in done if e.status != 200]
    if failed:
        raise BenchError(f"{len(failed)} requests answered {failed[0].status}: {failed[0].body!r}")
    return done
