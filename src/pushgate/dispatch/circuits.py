"""Circuit breakers per credential: stop sending with a credential every push refuses.

A revoked key or a wrong team makes every push of the credential fail the same way; sending
the rest of the outbox would only hammer the service (APNs may take many refusals from one
connection for an attack, docs/apns.md §2). After ``threshold`` configuration refusals in a
row the circuit opens: the credential's deliveries wait in memory (still pending in the
outbox) for ``cooldown`` seconds, then one goes as a probe (half-open). A probe the service
takes closes the circuit and releases the rest; a refused one opens it again for twice as
long, up to ``max_cooldown``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pushgate.dispatch.jobs import Job

CircuitKey = tuple[str, str, str]
"""(app id, platform, credential the delivery asks for), or ("", platform, host)."""


def circuit_key(job: Job) -> CircuitKey:
    """The credential a job is sent with, as dispatch knows it before sending."""
    return (job.notice.app_id, job.platform, job.apns_environment or job.fcm_credential or "")


def host_key(job: Job) -> CircuitKey:
    """The push service host a job goes to: the APNs environment's, FCM's, or the origin of
    a Web Push endpoint (``("", platform, host)``)."""
    if job.platform == "webpush":
        parts = urlsplit(job.token)
        return ("", "webpush", f"{parts.scheme}://{parts.netloc}")
    if job.platform == "apns":
        return ("", "apns", job.apns_environment or "production")
    return ("", job.platform, "")


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True, eq=False)
class Circuit:
    """One credential's run of refusals and, while open, the deliveries held back."""

    credential: str
    """The credential's name as the provider reported it (what the store calls it); for a
    host's circuit, the host."""
    since: float = 0.0
    """When the current run of failures began."""
    failures: int = 0
    state: State = State.CLOSED
    cooldown: float = 0.0
    reason: str = ""
    probe: Job | None = None
    held: list[Job] = field(default_factory=list)


class Circuits:
    """The circuits of every credential that refused recently; empty when all is well, so
    the send path pays one dict test."""

    def __init__(
        self,
        *,
        threshold: int,
        cooldown: float,
        max_cooldown: float,
        on_open: Callable[[CircuitKey, Circuit], None],
        min_span: float = 0.0,
    ) -> None:
        """``min_span``: seconds the failures must have lasted too (a burst of them, such as
        the streams of one dropped connection, is no outage)."""
        self._threshold = threshold
        self._min_span = min_span
        self._cooldown = cooldown
        self._max_cooldown = max_cooldown
        self._on_open = on_open
        self.watching: dict[CircuitKey, Circuit] = {}
        """Circuits with a refusal since their last success."""
        self.blocking: dict[CircuitKey, Circuit] = {}
        """Open or half-open circuits: their jobs are held, or sent one at a time."""

    def admit(self, key: CircuitKey, job: Job) -> bool:
        """Whether ``job`` may be sent now; else it is held by its circuit."""
        circuit = self.blocking.get(key)
        if circuit is None:
            return True
        if circuit.state is State.HALF_OPEN and circuit.probe is None:
            circuit.probe = job
            return True
        circuit.held.append(job)
        return False

    def refused(
        self, key: CircuitKey, credential: str, reason: str, now: float = 0.0
    ) -> Circuit | None:
        """A failure; the circuit when it is (now) open, else None."""
        circuit = self.watching.get(key)
        if circuit is None:
            circuit = self.watching[key] = Circuit(credential=credential, since=now)
        circuit.failures += 1
        circuit.reason = reason
        if circuit.state is State.OPEN:
            return circuit
        if circuit.state is State.HALF_OPEN:
            circuit.cooldown = min(circuit.cooldown * 2, self._max_cooldown)
        elif circuit.failures >= self._threshold and now - circuit.since >= self._min_span:
            circuit.cooldown = self._cooldown
        else:
            return None
        circuit.state = State.OPEN
        circuit.probe = None
        self.blocking[key] = circuit
        self._on_open(key, circuit)
        return circuit

    def passed(self, key: CircuitKey) -> list[Job] | None:
        """A send with the credential that proves it works (anything but a configuration
        refusal or a retry); the held jobs to release when this closed the circuit."""
        circuit = self.watching.pop(key, None)
        if circuit is None:
            return None
        if circuit.state is State.CLOSED:
            return None
        del self.blocking[key]
        return circuit.held

    def undecided(self, key: CircuitKey, job: Job) -> None:
        """A retry: says nothing of the credential; a probe that ended so lets another go."""
        circuit = self.blocking.get(key)
        if circuit is not None and circuit.probe is job:
            circuit.probe = None

    def half_open(self, key: CircuitKey) -> Job | None:
        """The cooldown ended: the first held job to send as the probe, if any is held."""
        circuit = self.blocking.get(key)
        if circuit is None or circuit.state is not State.OPEN:
            return None
        circuit.state = State.HALF_OPEN
        return circuit.held.pop(0) if circuit.held else None

    def reset_app(self, app_id: str) -> list[Job]:
        """The app's credentials changed: every circuit of it closes; its held jobs."""
        released: list[Job] = []
        for key in [key for key in self.watching if key[0] == app_id]:
            circuit = self.watching.pop(key)
            if self.blocking.pop(key, None) is not None:
                released.extend(circuit.held)
        return released

    def expired(self, key: CircuitKey, now: float) -> list[Job]:
        """Held jobs of the circuit whose deadline passed (taken out of it)."""
        circuit = self.blocking.get(key)
        if circuit is None:
            return []
        late = [job for job in circuit.held if job.notice.deadline <= now]
        if late:
            circuit.held = [job for job in circuit.held if job.notice.deadline > now]
        return late
