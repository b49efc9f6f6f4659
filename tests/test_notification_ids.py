"""Notification ids: time-ordered, unique, with fresh random bytes in every process."""

from __future__ import annotations

import os
import re
import time

from pushgate.notification_ids import RANDOM_POOL_BYTES, first_id_at, new_notification_id

_ID = re.compile(r"ntf_[0-9a-f]{16}[0-9a-f]{8}")


def test_ids_are_well_formed_unique_and_in_time_order_across_pool_refills() -> None:
    count = 3 * RANDOM_POOL_BYTES // 4  # three refills of the random pool
    ids = [new_notification_id() for _ in range(count)]
    assert all(_ID.fullmatch(i) for i in ids)
    assert len(set(ids)) == count
    assert [i[:20] for i in ids] == sorted(i[:20] for i in ids)  # the time part
    assert len({i[20:] for i in ids}) > count * 0.99  # random parts, not a counter


def test_an_id_sorts_after_the_first_id_of_its_time() -> None:
    before = time.time()
    assert new_notification_id() >= first_id_at(before)


def test_a_forked_child_draws_other_random_bytes_than_its_parent() -> None:
    new_notification_id()  # the pool now holds bytes the child would otherwise reuse
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, "".join(new_notification_id()[20:] for _ in range(8)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = "".join(new_notification_id()[20:] for _ in range(8))
    assert len(child) == len(parent) == 64
    assert child != parent
