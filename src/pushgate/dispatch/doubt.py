"""Token rejections that look like a credential's fault rather than dead tokens.

A device token is dead when the service says so for that token; but when most of an app's
devices are refused at once (a credential of the other APNs environment, a key moved to
another team, an FCM project mix-up), the tokens are fine and the credential is not. Past
``threshold`` token rejections within ``span`` seconds that outnumber the deliveries of the
same app and platform, a further rejection is taken for a configuration fault: the device
stays active and the credential gets the alert (docs/apns.md §8, docs/fcm.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass

from pushgate.outcomes import Rejected, Unregistered

DoubtKey = tuple[str, str]
"""(app id, platform)."""


@dataclass(slots=True)
class _Tally:
    since: float
    dead: int = 0
    fine: int = 0


class DeactivationGuard:
    """Counts token rejections and deliveries per app and platform over a short span."""

    def __init__(self, *, threshold: int, span: float) -> None:
        self._threshold = threshold
        self._span = span
        self.watching: dict[DoubtKey, _Tally] = {}
        """Keys with a token rejection in the current span (empty: nothing to count)."""

    def judge(self, key: DoubtKey, outcome: Unregistered, now: float) -> Unregistered | Rejected:
        """The outcome to act on: ``outcome``, or a configuration Rejected when doubtful."""
        tally = self.watching.get(key)
        if tally is None or now - tally.since > self._span:
            if len(self.watching) > 1000:
                self._forget_before(now - self._span)
            tally = self.watching[key] = _Tally(since=now)
        tally.dead += 1
        if tally.dead < self._threshold or tally.dead <= tally.fine:
            return outcome
        return Rejected(
            reason=(
                f"{outcome.reason} for {tally.dead} devices of the app within "
                f"{self._span:g} s, more than were delivered: taken for a credential or "
                "environment fault, so the devices stay active"
            ),
            configuration=True,
            credential=outcome.credential,
        )

    def delivered(self, key: DoubtKey) -> None:
        """A delivery of a watched app and platform (call only when ``watching``)."""
        tally = self.watching.get(key)
        if tally is not None:
            tally.fine += 1

    def _forget_before(self, cutoff: float) -> None:
        for key in [key for key, tally in self.watching.items() if tally.since < cutoff]:
            del self.watching[key]
