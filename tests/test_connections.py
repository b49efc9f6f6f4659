"""The pieces of the listeners' connection limits that need no server: the derived cap and
the once-per-interval log (the e2e tests in tests/e2e/test_connection_limits.py run it all)."""

from __future__ import annotations

import resource

from structlog.testing import capture_logs

from pushgate.api.connections import EveryInterval, default_max_connections


def test_the_default_cap_leaves_a_quarter_of_the_descriptors_and_shares_the_rest() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        assert default_max_connections(1) == 768
        assert default_max_connections(2) == 384
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))
        assert default_max_connections(1) == 136  # at least 64 spare
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_an_event_is_logged_once_per_interval_with_the_count_left_unlogged() -> None:
    now = [0.0]
    limit = EveryInterval("connection_limit_reached", interval=10.0, clock=lambda: now[0])
    with capture_logs() as logged:
        for second in range(25):
            now[0] = float(second)
            for _ in range(100):
                limit.note(listener="api")
    assert [entry["unlogged"] for entry in logged] == [0, 999, 999]
    assert all(entry["event"] == "connection_limit_reached" for entry in logged)
