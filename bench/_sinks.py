"""APNs stand-ins and the C reference client.

* ``nghttpd`` (C, nghttp2): the throughput sink. It serves an empty file per device token
  under ``htdocs/3/device/`` (POST -> 200 without ``apns-id``; unknown token -> 404), at up to
  1,000 concurrent streams. It cannot say when it received a request.
* ``timing_sink.c`` (C, nghttp2 + libevent + OpenSSL): the timing sink. It answers like APNs
  (200 with an ``apns-id``, 400 BadDeviceToken otherwise) and writes the CLOCK_MONOTONIC arrival
  time of every request to a file. It costs a few µs per request, so it does not limit what it
  times. Built with ``cc`` on first use.
* ``h2load`` (C, nghttp2): the same-run reference, one connection, 1,000 streams.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench._cli import WORK
from bench._procs import BenchError, Child, Supervisor, free_port, run_measured, wait_for_port
from bench._workload import TOPIC, token
from pushgate.simulator.certs import SimulatorCA

BENCH_DIR = Path(__file__).resolve().parent
TIMING_SINK_C = BENCH_DIR / "timing_sink.c"
TIMING_SINK_LIBS = ("-lnghttp2", "-lssl", "-lcrypto", "-levent", "-levent_openssl")


@dataclass(frozen=True, slots=True)
class Certs:
    """A throwaway CA and the sink's server certificate for 127.0.0.1."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def in_dir(cls, folder: Path) -> Certs:
        """Load the CA from ``folder`` or create one there."""
        SimulatorCA.load_or_create(folder)
        return cls(ca=folder / "ca.pem", cert=folder / "server.pem", key=folder / "server.key")


def htdocs(work: Path, tokens: int) -> Path:
    """An nghttpd document root with an empty file for tokens 0 .. tokens-1 (cached)."""
    root = work / "htdocs"
    device_dir = root / "3" / "device"
    marker = root / ".tokens"
    if marker.exists() and int(marker.read_text()) >= tokens:
        return root
    device_dir.mkdir(parents=True, exist_ok=True)
    for index in range(tokens):
        (device_dir / token(index)).touch()
    marker.write_text(str(tokens))
    return root


@dataclass
class Sink:
    """A running sink."""

    child: Child
    port: int

    def cpu_seconds(self) -> float:
        """CPU the sink has used so far."""
        return self.child.cpu_seconds()


def start_nghttpd(
    sup: Supervisor, work: Path, certs: Certs, *, tokens: int, cpus: str | None
) -> Sink:
    """nghttpd on 127.0.0.1 with 1,000 streams per connection, answering for ``tokens`` tokens."""
    root = htdocs(work, tokens)
    port = free_port()
    argv = ["nghttpd", "-a", "127.0.0.1", "-m", "1000", "-d", str(root)]
    child = sup.start("nghttpd", [*argv, str(port), str(certs.key), str(certs.cert)], cpus=cpus)
    wait_for_port(port, 10, child)
    return Sink(child=child, port=port)


def build_timing_sink() -> Path:
    """Compile ``timing_sink.c`` into the work directory (again only when the source changed)."""
    binary = WORK / "timing_sink"
    if binary.exists() and binary.stat().st_mtime >= TIMING_SINK_C.stat().st_mtime:
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    argv = ["cc", "-O2", "-o", str(binary), str(TIMING_SINK_C), *TIMING_SINK_LIBS]
    built = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if built.returncode != 0:
        raise BenchError(f"building the timing sink failed:\n{built.stderr[-2000:]}")
    return binary


def start_timing_sink(
    sup: Supervisor, certs: Certs, receipts: Path, *, cpus: str | None = None
) -> Sink:
    """The C timing sink, appending arrival times to ``receipts``."""
    port = free_port()
    argv = [str(build_timing_sink()), str(port), str(certs.key), str(certs.cert), str(receipts)]
    child = sup.start("timing-sink", argv, cpus=cpus)
    wait_for_port(port, 10, child)
    return Sink(child=child, port=port)


@dataclass(frozen=True, slots=True)
class H2loadResult:
    """What h2load measured."""

    requests: int
    succeeded: int
    seconds: float
    cpu_seconds: float
    mean_request_ms: float | None = None
    """h2load's mean time per request (from sending it to its answer)."""

    @property
    def rate(self) -> float:
        """Requests per second (h2load's own wall clock)."""
        return self.succeeded / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        """Client CPU per request, in microseconds."""
        return self.cpu_seconds / max(self.succeeded, 1) * 1e6


_FINISHED = re.compile(r"finished in ([\d.]+)(ms|s),")
_REQUEST_TIME = re.compile(
    r"time for request:\s+[\d.]+(?:us|ms|s)\s+[\d.]+(?:us|ms|s)\s+([\d.]+)(us|ms|s)"
)
_SUCCEEDED = re.compile(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded")


def h2load(
    port: int,
    *,
    requests: int,
    body: Path,
    authorization: bytes,
    tokens: int,
    cpus: str | None,
    log: Path,
    streams: int = 1000,
) -> H2loadResult:
    """h2load, one connection with ``streams`` streams (default 1,000), APNs-shaped requests
    over ``tokens`` paths."""
    uris = [f"https://127.0.0.1:{port}/3/device/{token(i)}" for i in range(min(tokens, 100))]
    headers = [
        f"apns-topic: {TOPIC}",
        "apns-push-type: alert",
        "apns-priority: 10",
        f"authorization: {authorization.decode()}",
    ]
    argv = [
        "h2load",
        "-n",
        str(requests),
        "-c",
        "1",
        "-m",
        str(streams),
        "-t",
        "1",
        "-d",
        str(body),
    ]
    for header in headers:
        argv += ["-H", header]
    status, output, cpu = run_measured([*argv, *uris], timeout=120, output=log, cpus=cpus)
    finished, succeeded = _FINISHED.search(output), _SUCCEEDED.search(output)
    if status != 0 or finished is None or succeeded is None:
        raise BenchError(f"h2load failed (status {status}):\n{output[-2000:]}")
    seconds = float(finished[1]) / (1000 if finished[2] == "ms" else 1)
    request_time = _REQUEST_TIME.search(output)
    mean_ms = _ms(request_time[1], request_time[2]) if request_time else None
    return H2loadResult(requests, int(succeeded[1]), seconds, cpu, mean_ms)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


class Receipts:
    """Reads the timing sink's receipts file as it grows: (arrival ns, token) per request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def new(self) -> list[tuple[int, str]]:
        """Receipts written since the previous call."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        found = []
        for line in lines:
            arrived, _, device = line.partition(b" ")
            found.append((int(arrived), device.decode()))
        return found
