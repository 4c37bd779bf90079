"""A process named for good: leftovers are removed only when their owner provably is gone."""

from __future__ import annotations

import subprocess
import sys

from s3fargate import processes


def test_a_running_process_is_alive_and_an_ended_one_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        token = processes.owner_token(child.pid)
        assert processes.owner_alive(token)
        assert processes.owner_alive(processes.owner_token())
    finally:
        child.kill()
        child.wait()
    assert not processes.owner_alive(token)


def test_an_owner_elsewhere_is_left_alone_and_one_of_an_earlier_boot_is_gone() -> None:
    pid, ticks, where = processes.owner_token().split("-", 2)
    boot, namespace = where.split(".", 1)
    # Another pid namespace of this boot (a container sharing the engine): it cannot be
    # checked from here, so its containers are not touched.
    assert processes.owner_alive(f"{pid}-{ticks}-{boot}.{int(namespace) + 1}")
    # An earlier boot: nothing of it is running.
    assert not processes.owner_alive(f"{pid}-{ticks}-000000000000.{namespace}")
    # A token of the old form (pid and ticks only) is not trusted to be alive.
    assert not processes.owner_alive(f"{pid}-{ticks}")
