"""What dispatch needs from a platform provider."""

from __future__ import annotations

from typing import Protocol

from pushgate.jobs import Job
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
