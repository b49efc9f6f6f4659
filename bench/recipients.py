"""Chat recipients: the rules applied to one message in a 10,000-member channel.

Pure CPU, no gateway: ``engine.chat.recipients.select`` over a channel where some members
have preferences, mutes, snoozes or presence, and the message mentions a few. The figure is
the median of the repetitions; the same-run reference is one bare pass over the member list
with a dict look-up per member (the least any per-member rule could cost).

    bench/run recipients [--quick] [--members 10000] [--repetitions 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from bench import _cli
from bench._report import Figure, number, record
from pushgate.engine.chat.preferences import PushPreference
from pushgate.engine.chat.recipients import Audience, Post, Rules, select

NOW = 1_800_000_000.0


def channel(members: int, seed: int = 7) -> tuple[Post, Audience]:
    """A channel where about a fifth of the members have some state the rules look at."""
    rng = random.Random(seed)
    ids = [f"user-{i:06}" for i in range(members)]
    some = lambda share: rng.sample(ids, int(members * share))  # noqa: E731
    audience = Audience(
        members=ids,
        user_preferences={u: PushPreference(rng.choice(["all", "mentions"])) for u in some(0.05)},
        member_preferences={u: PushPreference("none") for u in some(0.02)},
        channel_mutes={u: NOW + 3600 for u in some(0.02)},
        sender_muted_by={u: None for u in some(0.01)},
        online_until={u: NOW + 60 for u in some(0.1)},
    )
    return Post(sender_id=ids[0], mentioned=rng.sample(ids, 5)), audience


def timed(fn, repetitions: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repetitions):
        start = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times


async def main(args: argparse.Namespace) -> None:
    members = args.members
    repetitions = args.repetitions or (20 if args.quick else 200)
    post, audience = channel(members)
    rules = Rules()
    select(post, audience, rules, NOW)  # warm up
    rule_ms = timed(lambda: select(post, audience, rules, NOW), repetitions)
    online = audience.online_until
    bare_ms = timed(lambda: [u for u in audience.members if online.get(u, 0.0) <= NOW], repetitions)
    figures = [
        Figure(
            "recipients_p50", f"recipients of one message, {members:,} members: p50 of {repetitions}",
            statistics.median(rule_ms), "ms", ("<=", 20.0),
            f"bare pass with one look-up per member p50 {number(statistics.median(bare_ms), 'ms')}",
        ),
    ]  # fmt: skip
    details = {"members": members, "max_ms": round(max(rule_ms), 3)}
    record("recipients", figures, quick=args.quick, details=details)


def cli() -> int:
    """Entry point."""
    parser = _cli.parser(__doc__.splitlines()[0], time_limit=60)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=0, help="default 200 (quick 20)")
    return _cli.run(main, parser.parse_args())


if __name__ == "__main__":
    sys.exit(cli())
