"""A thread that owns one SQLite connection and runs jobs for the event loop.

Writes are group-committed: the thread takes every job waiting in its queue, runs each in its
own savepoint inside one transaction, commits once, then wakes all their callers. Under load
one fsync covers many API requests; an idle store commits each job on its own. A caller is
answered only after the commit that made its job durable.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], bool]
_STOP = object()
MAX_GROUP = 256
LOCK_RETRY = 0.0002
LOCK_TIMEOUT = 5.0
"""Seconds a writer waits for another process's write lock before its group fails (and
every other connection's ``busy_timeout``)."""


class SqliteWorker:
    """One connection, one thread; ``await run(fn)`` executes ``fn(conn)`` there.

    An ``inline`` reader has no thread: ``run`` calls ``fn`` on the event loop's thread. That
    is for a process confined to one CPU, where the thread overlaps nothing and only adds
    switches (measured: about 8 % of the dispatcher's CPU per delivery).
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        name: str,
        writer: bool,
        synchronous: str = "FULL",
        inline: bool = False,
    ):
        if inline and writer:
            raise ValueError("only a reader may run inline: writes group-commit on a thread")
        self._connect = connect
        self._inline_conn: sqlite3.Connection | None = None
        self._inline = inline
        self._writer = writer
        self._synchronous = synchronous
        self._current_sync = synchronous
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    def start(self) -> None:
        """Open the connection in the worker thread; raises if it cannot be opened."""
        if self._inline:
            self._inline_conn = self._connect()
            return
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run ``fn(conn)`` on the worker thread (in a committed transaction for writers).

        A ``durable=False`` write may be lost in a power cut (its commit is not fsynced unless
        it shares a group with a durable one); use it only for what can be redone.
        """
        if self._inline_conn is not None:
            return fn(self._inline_conn)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((fn, future, durable))
        return await future

    def stop(self) -> None:
        """Finish queued jobs, close the connection and join the thread."""
        if self._inline_conn is not None:
            self._inline_conn.close()
            self._inline_conn = None
        if self._thread.is_alive():
            self._jobs.put(_STOP)
            self._thread.join()

    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported to start()'s caller
            self._startup_error = exc
            self._ready.set()
            return
        if self._writer:
            conn.execute("PRAGMA busy_timeout=0")  # _begin_immediate waits instead
        self._ready.set()
        try:
            while True:
                batch = self._take_batch()
                if batch is None:
                    return
                if self._writer:
                    self._run_group(conn, batch)
                else:
                    for job in batch:
                        self._resolve(job, *self._call(conn, job[0]))
        finally:
            conn.close()

    def _take_batch(self) -> list[Job] | None:
        first = self._jobs.get()
        if first is _STOP:
            return None
        batch = [first]
        while len(batch) < MAX_GROUP:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._jobs.put(_STOP)
                break
            batch.append(item)
        return batch

    def _run_group(self, conn: sqlite3.Connection, batch: list[Job]) -> None:
        results = []
        self._set_sync(conn, any(durable for *_, durable in batch))
        try:
            _begin_immediate(conn)
            for fn, _, _ in batch:
                conn.execute("SAVEPOINT job")
                result = self._call(conn, fn)
                if result[1] is not None:
                    conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                results.append(result)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            results = [(None, exc)] * len(batch)
        for job, result in zip(batch, results, strict=True):
            self._resolve(job, *result)

    def _set_sync(self, conn: sqlite3.Connection, durable: bool) -> None:
        """FULL (fsync on commit) when the group holds durable work, else NORMAL (WAL syncs
        at checkpoints); a store configured NORMAL stays NORMAL."""
        wanted = self._synchronous if durable else "NORMAL"
        if wanted != self._current_sync:
            conn.execute(f"PRAGMA synchronous={wanted}")
            self._current_sync = wanted

    @staticmethod
    def _call(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any]) -> tuple[Any, Any]:
        try:
            return fn(conn), None
        except Exception as exc:  # handed to the awaiting caller
            return None, exc

    @staticmethod
    def _resolve(job: Job, result: Any, error: BaseException | None) -> None:
        future = job[1]
        loop = future.get_loop()
        if loop.is_closed():
            return
        loop.call_soon_threadsafe(_settle, future, result, error)


def _begin_immediate(conn: sqlite3.Connection) -> None:
    """Take the write lock, retrying every ``LOCK_RETRY`` s while another process holds it.

    SQLite's own busy handler (``busy_timeout``) sleeps 1, 2, 5, 10, 15, 20, 25... ms between
    tries: with the dispatcher's process writing results beside the API's accepts, a lost
    race put tens of ms into an answer (the Mattermost door at 1,000/s: p99 174 ms with
    SQLite's handler, 66 ms with this, in one session). The writer connection has no busy
    timeout, so a failed try returns at once and this waits ``LOCK_RETRY`` instead; the
    transaction that holds the lock lasts about a millisecond.
    """
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # or an extended BUSY_*
            if not busy or time.monotonic() >= deadline:
                raise
        time.sleep(LOCK_RETRY)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
