"""What dispatch needs from a platform provider."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, runtime_checkable

from pushgate.dispatch.jobs import Job
from pushgate.outcomes import Outcome


class Provider(Protocol):
    """Sends one delivery to its platform and says what happened."""

    platform: str

    async def send(self, job: Job) -> Outcome:
        """Deliver ``job``; never raises for platform or network failures (returns Retry)."""
        ...

    def forget_app(self, app_id: str) -> None:
        """Drop cached credentials of an app (after they were uploaded or deleted)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class Reporter(Protocol):
    """Where a provider's callback path hands a job back to dispatch."""

    def report(self, job: Job, outcome: Outcome) -> None:
        """The job's send is over."""
        ...

    def follow_up(self, job: Job, outcome: Awaitable[Outcome]) -> None:
        """The job needs more than a callback (a resend, a credential refresh): dispatch
        awaits ``outcome`` and records it like ``send``'s."""
        ...


@runtime_checkable
class StartingProvider(Provider, Protocol):
    """A provider that can also begin a send without a coroutine (the dispatcher's hot path)."""

    def try_start(self, job: Job, reporter: Reporter) -> bool:
        """Begin sending ``job`` now and report its end to ``reporter``; False, having done
        nothing, when that needs awaiting (credentials to load, no free stream): use ``send``."""
        ...
