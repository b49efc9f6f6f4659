"""APNs stand-ins and the C reference client.

* ``nghttpd`` (C, nghttp2): the throughput sink. It serves an empty file per device token
  under ``htdocs/3/device/`` (POST -> 200 without ``apns-id``; unknown token -> 404), at up to
  1,000 concurrent streams. It cannot say when it received a request.
* ``sink.js`` (Node http2): the timing sink. It answers like APNs (random ``apns-id``) and
  writes the CLOCK_MONOTONIC arrival time of every request to a file. It tops out at about
  15-20 k requests/s on one core, so it is used only where arrival times are needed at
  moderate rates (latency at 5 k/s, fan-out).
* ``h2load`` (C, nghttp2): the same-run reference, one connection, 1,000 streams.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench._procs import BenchError, Child, Supervisor, free_port, run_measured, wait_for_port
from bench._workload import TOPIC, token
from pushgate.simulator.certs import SimulatorCA

BENCH_DIR = Path(__file__).resolve().parent
SINK_JS = BENCH_DIR / "sink.js"


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


def start_node_sink(
    sup: Supervisor, certs: Certs, receipts: Path, *, cpus: str | None = None
) -> Sink:
    """The Node timing sink, appending arrival times to ``receipts``."""
    port = free_port()
    argv = ["node", str(SINK_JS), str(port), str(certs.key), str(certs.cert), str(receipts)]
    child = sup.start("node-sink", argv, cpus=cpus)
    wait_for_port(port, 10, child)
    return Sink(child=child, port=port)


@dataclass(frozen=True, slots=True)
class H2loadResult:
    """What h2load measured."""

    requests: int
    succeeded: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        """Requests per second (h2load's own wall clock)."""
        return self.succeeded / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        """Client CPU per request, in microseconds."""
        return self.cpu_seconds / max(self.succeeded, 1) * 1e6


_FINISHED = re.compile(r"finished in ([\d.]+)(ms|s),")
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
) -> H2loadResult:
    """h2load, one connection with 1,000 streams, APNs-shaped requests over ``tokens`` paths."""
    uris = [f"https://127.0.0.1:{port}/3/device/{token(i)}" for i in range(min(tokens, 100))]
    headers = [
        f"apns-topic: {TOPIC}",
        "apns-push-type: alert",
        "apns-priority: 10",
        f"authorization: {authorization.decode()}",
    ]
    argv = ["h2load", "-n", str(requests), "-c", "1", "-m", "1000", "-t", "1", "-d", str(body)]
    for header in headers:
        argv += ["-H", header]
    status, output, cpu = run_measured([*argv, *uris], timeout=120, output=log, cpus=cpus)
    finished, succeeded = _FINISHED.search(output), _SUCCEEDED.search(output)
    if status != 0 or finished is None or succeeded is None:
        raise BenchError(f"h2load failed (status {status}):\n{output[-2000:]}")
    seconds = float(finished[1]) / (1000 if finished[2] == "ms" else 1)
    return H2loadResult(requests, int(succeeded[1]), seconds, cpu)


class Receipts:
    """Reads the Node sink's receipts file as it grows: (arrival ns, token) per request."""

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
