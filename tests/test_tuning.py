"""Process tuning: the one-CPU check that decides whether the dispatcher reads inline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pushgate.tuning import confined_to_one_cpu

CHECK = "from pushgate.tuning import confined_to_one_cpu; print(confined_to_one_cpu())"


def test_a_process_pinned_to_one_cpu_is_confined() -> None:
    cpu = min(os.sched_getaffinity(0))
    pinned = subprocess.run(
        [sys.executable, "-c", CHECK],
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
        capture_output=True,
        text=True,
        check=True,
    )
    assert pinned.stdout.strip() == "True"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to be unconfined")
def test_a_process_with_two_cpus_is_not_confined() -> None:
    assert confined_to_one_cpu() is False
