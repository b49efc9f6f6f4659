"""Child processes for benchmarks: started bounded and pinned, measured from /proc, always killed.

Every child gets ``PR_SET_PDEATHSIG = SIGKILL`` (it dies if the benchmark dies, even by
SIGKILL), runs in its own session (a Ctrl-C reaches only the benchmark, which then stops the
children in order), and is stopped by ``Supervisor.close`` on every exit path.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

PY_SPY = Path(sys.executable).with_name("py-spy")
_PR_SET_PDEATHSIG = 1
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:
    """Run in the child between fork and exec: SIGKILL me when the benchmark exits."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class BenchError(RuntimeError):
    """A benchmark could not run (a child failed to start, a step timed out)."""


def pinned(argv: Sequence[str], cpus: str | None) -> list[str]:
    """``argv`` under ``taskset -c cpus`` (taskset execs, so the pid stays the program's)."""
    if cpus is None:
        return list(argv)
    return ["taskset", "-c", cpus, *argv]


def two_cores() -> bool:
    """True when cores 0 and 1 both exist, so the gateway and the sink can be pinned apart."""
    return {0, 1} <= os.sched_getaffinity(0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, child: Child | None = None) -> None:
    """Block until 127.0.0.1:port accepts connections; BenchError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None:
            child.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


@dataclass
class Child:
    """A started child process with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        """Raise BenchError with the end of the log when the child has exited."""
        if self.process.poll() is not None:
            raise BenchError(
                f"{self.name} exited with status {self.process.returncode}; "
                f"last log lines:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the child's output."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def tree(self) -> list[int]:
        """This process and its descendants (the gateway's dispatcher process, say)."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue  # exited while we looked
            parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2 :].split()[1])
        found = [self.pid]
        for pid in found:
            found.extend(child for child, parent in parents.items() if parent == pid)
        return found

    def cpu_seconds(self, *, descendants: bool = True) -> float:
        """User + system CPU so far of the process (all threads) and, unless told not to,
        of its descendants."""
        total = 0
        for pid in self.tree() if descendants else [self.pid]:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
        return total / _CLOCK_TICKS

    def rss_bytes(self) -> int:
        """Resident set size now, of the process and its descendants together."""
        return sum(_status_kb(pid, "VmRSS:") for pid in self.tree()) * 1024

    def peak_rss_bytes(self) -> int:
        """Sum of each process's highest RSS (VmHWM) so far: at least the peak of the whole."""
        return sum(_status_kb(pid, "VmHWM:") for pid in self.tree()) * 1024

    def stop(self, grace: float = 15.0) -> int:
        """SIGTERM, wait up to ``grace`` s, then SIGKILL; returns the exit status.

        A program that re-raises SIGTERM after a clean shutdown (uvicorn does) reports 0.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        status = self.process.returncode
        return 0 if status == -signal.SIGTERM and "Traceback" not in self.log_tail(200) else status


@dataclass
class Supervisor:
    """Starts children into ``log_dir`` and stops every one of them on exit (newest first)."""

    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpus: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Start ``argv`` (optionally pinned to ``cpus``), stdout and stderr into a log file."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        command = pinned(argv, cpus)
        if shutil.which(command[0]) is None:
            raise BenchError(f"{command[0]} is not installed; run the benchmark via bench/run")
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        child = Child(name=name, process=process, log=log)
        self.children.append(child)
        return child

    def stop(self, child: Child) -> int:
        """Stop one child now; returns its exit status."""
        self.children.remove(child)
        return child.stop()

    def close(self) -> None:
        """Stop every child still running."""
        while self.children:
            self.children.pop().stop()

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run_measured(
    argv: Sequence[str], *, timeout: float, output: Path, cpus: str | None = None
) -> tuple[int, str, float]:
    """Run to completion within ``timeout`` s; returns (status, output, CPU seconds it used).

    The CPU time comes from ``wait4`` of exactly this child (user + system, all threads).
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("wb") as out:
        process = subprocess.Popen(
            pinned(argv, cpus),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            os.wait4(process.pid, 0)
            process.returncode = -signal.SIGKILL
            raise BenchError(f"{argv[0]} did not finish within {timeout:.0f} s")
        time.sleep(0.02)
    process.returncode = os.waitstatus_to_exitcode(status)
    text = output.read_text(errors="replace")
    return process.returncode, text, usage.ru_utime + usage.ru_stime


@contextmanager
def profiling(
    sup: Supervisor, pid: int, output: Path | None, *, cpus: str | None = None
) -> Iterator[None]:
    """Sample ``pid`` and its children (the dispatcher process) with py-spy while the block runs
    (nothing when ``output`` is None).

    250 Hz, without pausing the target (--nonblocking), idle samples kept (so the summary can
    tell how busy each thread was), aggregated by function, written as speedscope JSON;
    summarise it with ``python -m bench.profile_summary``.
    """
    if output is None:
        yield
        return
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--rate", "250", "--nonblocking"]
    argv += ["--idle", "--function", "--subprocesses", "--format", "speedscope"]
    argv += ["--output", str(output)]
    profiler = sup.start("py-spy", argv, cpus=cpus)
    try:
        yield
    finally:
        profiler.process.send_signal(signal.SIGINT)
        try:
            profiler.process.wait(60)
        except subprocess.TimeoutExpired:
            profiler.process.kill()
        sup.children.remove(profiler)


def _status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/<pid>/status, 0 when the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(field):
            return int(line.split()[1])
    raise BenchError(f"no {field} for process {pid}")
