"""The xdist run lock (tests/conftest.py): an exclusive test waiting goes before shared ones."""

from __future__ import annotations

import fcntl
import multiprocessing
import threading
import time

from conftest import _RunLock


def _hold(folder: str, mode: int, events, name: str, hold_s: float) -> None:
    lock = _RunLock(folder)
    lock.acquire(mode)
    events.put((name, time.monotonic()))
    time.sleep(hold_s)
    lock.release()


def test_exclusive_tests_waiting_are_not_overtaken_by_a_shared_one(tmp_path):
    """As it happened: a worker ends its exclusive tests and wants the lock shared for its next
    test at once, while two exclusive tests of other workers wait (one at the turnstile, one
    behind it). Both must run before the shared one: with flock alone, the worker that had just
    let go was the first at the turnstile again, and its 200 s test ran before the second."""
    ctx = multiprocessing.get_context("fork")
    events = ctx.Queue()
    worker = _RunLock(str(tmp_path))
    worker.acquire(fcntl.LOCK_EX)  # its exclusive tests run
    exclusive = [ctx.Process(target=_hold, args=(str(tmp_path), fcntl.LOCK_EX, events, f"ex{i}", 0.3))
                 for i in range(2)]  # fmt: skip
    for p in exclusive:
        p.start()
    time.sleep(0.5)  # both exclusive tests wait now
    assert events.empty()
    worker.release()
    worker.acquire(fcntl.LOCK_SH)  # its next test
    events.put(("shared", time.monotonic()))
    worker.release()
    got = [events.get(timeout=10) for _ in range(3)]
    for p in exclusive:
        p.join(10)
    assert [name[:2] for name, _ in got] == ["ex", "ex", "sh"], got
    assert got[1][1] >= got[0][1] + 0.3 and got[2][1] >= got[1][1] + 0.3, got  # one at a time


def test_the_lock_is_not_taken_shared_while_an_exclusive_test_waits(tmp_path):
    """The rule itself, without the scheduler's timing: a live worker's exclusive test is
    waiting (its marker) and the lock is free, yet it is not taken shared until that test has
    had it."""
    ctx = multiprocessing.get_context("fork")
    other = ctx.Process(target=time.sleep, args=(30,))  # the waiting worker's process
    other.start()
    marker = tmp_path / f"exclusive-waits-{other.pid}"
    marker.touch()
    taken = threading.Event()
    lock = _RunLock(str(tmp_path))
    taker = threading.Thread(target=lambda: (lock.acquire(fcntl.LOCK_SH), taken.set()))
    try:
        taker.start()
        assert not taken.wait(0.5)
        marker.unlink()
        assert taken.wait(5)
    finally:
        other.kill()
        other.join()
        taker.join(5)
    lock.release()
