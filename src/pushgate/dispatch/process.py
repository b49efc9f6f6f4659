"""The dispatcher in a process of its own: the API and the sending each get a core.

In one process they share one GIL, and under load the event loop was the bottleneck
(bench/ingest: the API's thread 99 % busy at 5,500 notifications/s). Here the API process
writes the outbox and hands the committed rows over (or, for a backend that hands rows out
only through claims, says that the outbox grew); the child takes them into its window, or,
while it has no room, pages them in from the same file later (WAL: its reads never wait for
the API's writes), sends them and writes the results. The rows on the pipe are copies of
what is committed, so either process can die without losing anything: the outbox on disk is
still the truth, and a new child pages it in.

The child is ``python -m pushgate.dispatch.process FD``: its settings arrive pickled on
stdin, and FD is one end of a socket pair. Messages on it are tuples, sent as one list per
event-loop turn (``dispatch.pipe``):

* API -> child: ``("rows", [PendingDelivery])``, ``("grew",)``,
  ``("watch", notification_id, within, decided)``,
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
from collections.abc import Mapping

from prometheus_client import generate_latest

from pushgate.config import Settings
from pushgate.credentials import CredentialRegistry, secret_box
from pushgate.dispatch.jobs import FinishWatch
from pushgate.dispatch.pipe import MessagePipe, PipeMessage
from pushgate.dispatch.stack import DeliveryStack
from pushgate.logs import configure_logging
from pushgate.message import Message
from pushgate.metrics import DISPATCH_REGISTRY, RESULT_COUNTERS, RESULTS_GROWN
from pushgate.queue import Accepted
from pushgate.store import PendingDelivery, Verdict
from pushgate.store.backends import backend_for
from pushgate.tuning import confined_to_one_cpu, run_event_loop, tune_garbage_collector

log = logging.getLogger("pushgate.dispatch")

RESTART_DELAY = 1.0
"""Seconds before a dispatcher process that died is started again."""
STOP_TIMEOUT = 15.0
"""Longest the API process waits for the dispatcher to finish on shutdown."""
COUNTS_INTERVAL = 1.0
"""Seconds between two reports of the child's delivery counters to the API's metrics."""
LAST_REPORT_TIMEOUT = 1.0
"""Longest the stopping child waits for its last report to leave."""


class DispatcherProcess:
    """The API side: starts and supervises the child, and speaks to it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: MessagePipe | None = None
        self._fresh: list[PendingDelivery] = []
        """Committed rows not yet handed to the child."""
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
        await self._launch()
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
        """Rows were committed: hand them to the child, once per loop turn however many
        batches. The child reading them back had been about 0.4 ms of a front door's answer
        (the Mattermost door's p50 at 1,000/s); a row costs the API about 3 µs to pickle."""
        if self._process is None:
            return  # no child right now: the next one pages the outbox in at start
        if accepted.rows is None:
            self._grew = True
        else:
            self._fresh.extend(accepted.rows)
        if self._pipe is not None:  # else they leave once the new child's pipe is up
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

    async def _launch(self) -> None:
        process, ours = self._spawn()
        self._process = process
        self._fresh = []
        self._grew = False
        self._pipe = await MessagePipe.over(ours, self._receive, self._take_fresh)
        self._pipe.flush_soon()  # rows committed while it connected

    def _spawn(self) -> tuple[subprocess.Popen[bytes], socket.socket]:
        """Start a child: the process, and our end of its socket pair."""
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
        return process, ours

    def _detach(self) -> None:
        """Forget the current child; waiters re-check the store and ask again."""
        if self._pipe is not None:
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
            await self._launch()

    def _take_fresh(self) -> list[PipeMessage]:
        """Leads each batch: new rows must arrive before a watch of them."""
        lead: list[PipeMessage] = []
        if self._fresh:
            lead.append(("rows", self._fresh))
            self._fresh = []
        if self._grew:
            lead.append(("grew",))
            self._grew = False
        return lead

    def _send(self, message: PipeMessage) -> None:
        if self._pipe is None:
            return  # no child right now: the next one pages the outbox in at start
        self._pipe.send_soon(message)

    def _receive(self, messages: list[PipeMessage]) -> None:
        for kind, value in messages:
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
    run_event_loop(_serve(settings, socket.socket(fileno=fd)))


def _die_with(parent_pid: int) -> None:
    """Exit when the API process dies, even by SIGKILL: two dispatchers must never overlap."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    if os.getppid() != parent_pid:
        os._exit(0)


async def _serve(settings: Settings, sock: socket.socket) -> None:
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
    child = _Child(stack)
    try:
        await child.run(sock)
    finally:
        await stack.stop()
        await child.report_last_counts()
        await backend.close()


class _Child:
    """The child's end of the pipe."""

    def __init__(self, stack: DeliveryStack) -> None:
        self._stack = stack
        self._pipe: MessagePipe | None = None
        self._stopped = asyncio.Event()
        self._watches: set[asyncio.Task[None]] = set()

    async def run(self, sock: socket.socket) -> None:
        """Serve the API process until it says stop or is gone."""
        self._pipe = pipe = await MessagePipe.over(sock, self._receive, self._counts_grown)
        reporter = asyncio.create_task(self._report_loop(pipe))
        gone = asyncio.create_task(pipe.closed.wait())
        stopped = asyncio.create_task(self._stopped.wait())
        try:
            await asyncio.wait((gone, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reporter, gone, stopped, *self._watches):
                task.cancel()

    def _receive(self, messages: list[PipeMessage]) -> None:
        for message in messages:
            self._handle(message)

    def _handle(self, message: PipeMessage) -> None:
        kind = message[0]
        if kind == "rows":
            self._stack.submit(Accepted(len(message[1]), message[1]), {})
        elif kind == "grew":
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
        assert self._pipe is not None
        self._pipe.send_soon(("finished", (notification_id, decided, verdicts)))

    @staticmethod
    async def _report_loop(pipe: MessagePipe) -> None:
        while True:
            await asyncio.sleep(COUNTS_INTERVAL)
            pipe.send_soon(("metrics", generate_latest(DISPATCH_REGISTRY)))  # counts lead

    async def report_last_counts(self) -> None:
        """Send the delivery counters' growth since the last report, before exiting."""
        if self._pipe is not None:
            await self._pipe.drain(LAST_REPORT_TIMEOUT)

    @staticmethod
    def _counts_grown() -> list[PipeMessage]:
        """The counters' growth since the last report, as the lead of a batch."""
        if not RESULTS_GROWN:
            return []
        grown = dict(RESULTS_GROWN)
        RESULTS_GROWN.clear()
        return [("counts", grown)]


if __name__ == "__main__":
    child_main(int(sys.argv[1]))
