"""The dispatcher in a process of its own: the API and the sending each get a core.

In one process they share one GIL, and under load the event loop was the bottleneck
(bench/ingest: the API's thread 99 % busy at 5,500 notifications/s). Here the API process
writes the outbox and says that it grew; the child pages the rows in from the same SQLite
file (WAL: its reads never wait for the API's writes), sends them and writes the results.
Nothing durable travels over the pipe, so either process can die without losing anything:
the outbox on disk is still the truth.

The child is ``python -m pushgate.dispatch.process FD``: its settings arrive pickled on
stdin, and FD is one end of a socket pair. Messages on it are small tuples, sent as one list
per event-loop turn (``_Pipe``: under load one pickling and one write carry the watches or
verdicts of many requests):

* API -> child: ``("grew",)``, ``("watch", notification_id, within, decided)``,
  ``("forget", app_id)``, ``("stop",)``
* child -> API: ``("finished", (notification_id, decided, verdicts))`` (``Verdict``s, or
  None when the child saw none decided: the API reads the store),
  ``("counts", {(platform, result): n})``,
  ``("metrics", text)`` (the child's ``DISPATCH_REGISTRY`` in Prometheus text, every second)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from multiprocessing.connection import Connection
from typing import Any

from prometheus_client import generate_latest

from pushgate.config import Settings
from pushgate.credentials import CredentialRegistry, secret_box
from pushgate.dispatch.jobs import FinishWatch
from pushgate.dispatch.stack import DeliveryStack
from pushgate.logs import configure_logging
from pushgate.message import Message
from pushgate.metrics import DELIVERY_RESULTS, DISPATCH_REGISTRY, RESULT_COUNTERS
from pushgate.queue import Accepted
from pushgate.store import Verdict
from pushgate.store.backends import backend_for
from pushgate.tuning import confined_to_one_cpu, run_event_loop, tune_garbage_collector

log = logging.getLogger("pushgate.dispatch")

RESTART_DELAY = 1.0
"""Seconds before a dispatcher process that died is started again."""
STOP_TIMEOUT = 15.0
"""Longest the API process waits for the dispatcher to finish on shutdown."""
COUNTS_INTERVAL = 1.0
"""Seconds between two reports of the child's delivery counters to the API's metrics."""


class DispatcherProcess:
    """The API side: starts and supervises the child, and speaks to it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: _Pipe | None = None
        self._grew = False
        self._waits: dict[tuple[str, bool], FinishWatch] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self._metrics = b""

    def metrics_text(self) -> bytes:
        """The child's sending metrics as it last reported them (Prometheus text)."""
        return self._metrics

    @property
    def running(self) -> bool:
        """Whether a dispatcher process is up."""
        return self._process is not None and self._process.poll() is None

    async def start(self) -> None:
        """Start the child (it pages in whatever the outbox holds) and watch over it."""
        self._launch()
        self._supervisor = asyncio.create_task(self._supervise(), name="pushgate-dispatcher")

    async def stop(self) -> None:
        """Ask the child to finish its in-flight sends and wait for it to exit."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        process = self._process
        if process is None:
            return
        self._send(("stop",))
        if self._pipe is not None:
            self._pipe.flush()
        await _join(process, STOP_TIMEOUT)
        if process.poll() is None:
            log.error("dispatcher process did not stop in %.0f s; killing it", STOP_TIMEOUT)
            process.kill()
            await _join(process, 5.0)
        self._detach()

    @property
    def pid(self) -> int | None:
        """The dispatcher process's id, while one runs."""
        return self._process.pid if self._process is not None else None

    def submit(self, accepted: Accepted, messages: Mapping[str, Message]) -> None:
        """Rows were committed: tell the child once per loop turn, however many batches."""
        if self._pipe is not None:
            self._grew = True
            self._pipe.flush_soon()

    async def wait_finished(
        self, notification_id: str, within: float, *, decided: bool = False
    ) -> list[Verdict] | None:
        """Ask the child to say when the notification has nothing left in flight, or is
        decided (``DispatchControl.wait_finished``)."""
        if self._pipe is None:  # between two children: the caller looks at the store again
            await asyncio.sleep(min(within, RESTART_DELAY))
            return None
        key = (notification_id, decided)
        watch = self._waits.get(key)
        if watch is None:
            watch = self._waits[key] = FinishWatch()
            self._send(("watch", notification_id, within, decided))
        verdicts = await watch.wait(within)
        if verdicts is None and self._waits.get(key) is watch:
            del self._waits[key]  # timed out
        return verdicts

    def forget_app(self, app_id: str) -> None:
        """The app's credentials changed; the child reloads them."""
        self._send(("forget", app_id))

    # -- plumbing -----------------------------------------------------------------------

    def _launch(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            # A fresh interpreter running only this module: multiprocessing's spawn would
            # also import the parent's __main__ (the CLI) and start a resource tracker,
            # 20 MB more resident for nothing.
            process = subprocess.Popen(
                [sys.executable, "-m", "pushgate.dispatch.process", str(theirs.fileno())],
                stdin=subprocess.PIPE,
                pass_fds=[theirs.fileno()],
            )
        assert process.stdin is not None
        with process.stdin:
            process.stdin.write(pickle.dumps((self._settings, os.getpid())))
        self._process = process
        self._pipe = _Pipe(Connection(ours.detach()), self._take_grew)
        self._grew = False
        asyncio.get_running_loop().add_reader(self._pipe.fileno(), self._receive)

    def _detach(self) -> None:
        """Forget the current child; waiters re-check the store and ask again."""
        if self._pipe is not None:
            asyncio.get_running_loop().remove_reader(self._pipe.fileno())
            self._pipe.close()
        self._pipe = self._process = None
        for watch in self._waits.values():
            watch.finish(seen=False)
        self._waits.clear()

    async def _supervise(self) -> None:
        """Start a new child if the current one dies (the outbox on disk has the work)."""
        while True:
            process = self._process
            assert process is not None
            await _join(process, None)
            log.error(
                "dispatcher process exited with code %s; starting another in %.0f s",
                process.returncode,
                RESTART_DELAY,
            )
            self._detach()
            await asyncio.sleep(RESTART_DELAY)
            self._launch()

    def _take_grew(self) -> list[tuple[Any, ...]]:
        """Leads each batch: "grew" must arrive before a watch of what grew."""
        grew, self._grew = self._grew, False
        return [("grew",)] if grew else []

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._pipe is None:
            return  # no child right now: the next one pages the outbox in at start
        self._pipe.send_soon(message)

    def _receive(self) -> None:
        pipe = self._pipe
        assert pipe is not None
        try:
            for kind, value in pipe.receive():
                if kind == "finished":
                    notification_id, decided, verdicts = value
                    watch = self._waits.pop((notification_id, decided), None)
                    if watch is not None:
                        if verdicts is not None:
                            watch.verdicts.extend(verdicts)
                        watch.finish(seen=verdicts is not None)
                elif kind == "counts":
                    for key, count in value.items():
                        RESULT_COUNTERS[key].inc(count)
                elif kind == "metrics":
                    self._metrics = value
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(pipe.fileno())


class _Pipe:
    """One end of the socket pair: messages queued in a loop turn leave as one list."""

    def __init__(
        self, conn: Connection, lead: Callable[[], list[tuple[Any, ...]]] = lambda: []
    ) -> None:
        self._conn = conn
        self._lead = lead
        """Messages to put first, asked for when a batch leaves."""
        self._queued: list[tuple[Any, ...]] = []
        self._flush_scheduled = False

    def fileno(self) -> int:
        return self._conn.fileno()

    def send_soon(self, message: tuple[Any, ...]) -> None:
        """Queue ``message``; it leaves at the end of this loop turn."""
        self._queued.append(message)
        self.flush_soon()

    def flush_soon(self) -> None:
        """Send what is queued (and the lead) at the end of this loop turn."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what is queued now."""
        self._flush_scheduled = False
        if self._conn.closed:
            return  # that child is gone: the next one pages the outbox in at start
        batch = self._lead() + self._queued
        self._queued = []
        if not batch:
            return
        try:
            self._conn.send(batch)
        except OSError:
            log.warning("the other dispatch process is gone; %d messages not delivered", len(batch))

    def receive(self) -> Iterator[tuple[Any, ...]]:
        """The messages that have arrived, in order (raises EOFError once the peer is gone)."""
        while self._conn.poll():
            yield from self._conn.recv()

    def close(self) -> None:
        self._conn.close()


async def _join(process: subprocess.Popen[bytes], within: float | None) -> None:
    """Wait (without blocking the loop) for the process to exit, at most ``within`` s."""
    loop = asyncio.get_running_loop()
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3: a thread waits instead
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(process.wait, within)
        return
    exited = asyncio.Event()
    loop.add_reader(pidfd, exited.set)
    try:
        await asyncio.wait_for(exited.wait(), within)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    process.poll()


# -- the child ------------------------------------------------------------------------


def child_main(fd: int) -> None:
    """Entry point of the dispatcher process: settings on stdin, the pipe on ``fd``."""
    settings, parent_pid = pickle.load(sys.stdin.buffer)
    _die_with(parent_pid)
    # Ctrl-C, and a service manager's SIGTERM to the whole group (systemd's default), reach
    # the API process too, which stops us in order: sends in flight finish and are recorded.
    # Killed by them, the child lost those results and the sends went again after a restart.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.SIG_IGN)
    configure_logging(settings)  # the stderr shared with the API process: one log stream
    run_event_loop(_serve(settings, Connection(fd)))


def _die_with(parent_pid: int) -> None:
    """Exit when the API process dies, even by SIGKILL: two dispatchers must never overlap."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    if os.getppid() != parent_pid:
        os._exit(0)


async def _serve(settings: Settings, conn: Connection) -> None:
    # Outbox pages are the child's only hot reads: inline on one CPU (see SqliteWorker). The
    # API process, which outlives this one, checkpoints the file for both.
    backend = backend_for(settings, inline_reads=confined_to_one_cpu(), checkpoints=False)
    await backend.open()
    store = backend.store
    stack = DeliveryStack(
        settings, backend.outbox, store, CredentialRegistry(store, secret_box(settings))
    )
    await stack.start()
    tune_garbage_collector()
    child = _Child(stack, conn)
    try:
        await child.run()
    finally:
        await stack.stop()
        child.report_counts()
        await backend.close()


class _Child:
    """The child's end of the pipe."""

    def __init__(self, stack: DeliveryStack, conn: Connection) -> None:
        self._stack = stack
        self._pipe = _Pipe(conn, self._counts_grown)
        self._stopped = asyncio.Event()
        self._watches: set[asyncio.Task[None]] = set()
        self._reported: dict[tuple[str, str], float] = {}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self._pipe.fileno(), self._receive)
        reporter = asyncio.create_task(self._report_loop())
        try:
            await self._stopped.wait()
        finally:
            loop.remove_reader(self._pipe.fileno())
            reporter.cancel()
            for task in self._watches:
                task.cancel()

    def _receive(self) -> None:
        try:
            for message in self._pipe.receive():
                self._handle(message)
        except (EOFError, OSError):
            self._stopped.set()  # the API process is gone

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "grew":
            self._stack.new_rows()
        elif kind == "watch":
            task = asyncio.create_task(self._watch(*message[1:]))
            self._watches.add(task)
            task.add_done_callback(self._watches.discard)
        elif kind == "forget":
            self._stack.forget_app(message[1])
        elif kind == "stop":
            self._stopped.set()

    async def _watch(self, notification_id: str, within: float, decided: bool) -> None:
        verdicts = await self._stack.wait_finished(notification_id, within, decided=decided)
        # The counts lead the batch, so /metrics agrees with the answer the caller gets.
        self._pipe.send_soon(("finished", (notification_id, decided, verdicts)))

    async def _report_loop(self) -> None:
        while True:
            await asyncio.sleep(COUNTS_INTERVAL)
            self._pipe.send_soon(("metrics", generate_latest(DISPATCH_REGISTRY)))
            self.report_counts()

    def report_counts(self) -> None:
        """Send the delivery counters' growth since the last report, now."""
        self._pipe.flush()

    def _counts_grown(self) -> list[tuple[Any, ...]]:
        """The counters' growth since the last report, as the lead of a batch."""
        grown = {}
        for family in DELIVERY_RESULTS.collect():
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                key = (sample.labels["platform"], sample.labels["result"])
                delta = sample.value - self._reported.get(key, 0.0)
                if delta:
                    grown[key] = delta
                    self._reported[key] = sample.value
        return [("counts", grown)] if grown else []


if __name__ == "__main__":
    child_main(int(sys.argv[1]))
