"""The xdist run lock (tests/conftest.py): which modes run together, and a quiet or exclusive
test waiting goes before shared ones."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
from conftest import EXCLUSIVE, QUIET, SHARED, _RunLock


def _hold(folder: str, mode: str, events, name: str, hold_s: float) -> None:
    lock = _RunLock(folder)
    lock.acquire(mode)
    events.put((name, time.monotonic()))
    time.sleep(hold_s)
    lock.release()


def _take_in_a_thread(lock: _RunLock, mode: str) -> tuple[threading.Thread, threading.Event]:
    taken = threading.Event()
    thread = threading.Thread(target=lambda: (lock.acquire(mode), taken.set()), daemon=True)
    thread.start()
    return thread, taken


def test_exclusive_tests_waiting_are_not_overtaken_by_a_shared_one(tmp_path):
    """As it happened: a worker ends its exclusive tests and wants the lock shared for its next
    test at once, while two exclusive tests of other workers wait (one at the turnstile, one
    behind it). Both must run before the shared one: with flock alone, the worker that had just
    let go was the first at the turnstile again, and its 200 s test ran before the second."""
    ctx = multiprocessing.get_context("fork")
    events = ctx.Queue()
    worker = _RunLock(str(tmp_path))
    worker.acquire(EXCLUSIVE)  # its exclusive tests run
    exclusive = [ctx.Process(target=_hold, args=(str(tmp_path), EXCLUSIVE, events, f"ex{i}", 0.3))
                 for i in range(2)]  # fmt: skip
    for p in exclusive:
        p.start()
    time.sleep(0.5)  # both exclusive tests wait now
    assert events.empty()
    worker.release()
    worker.acquire(SHARED)  # its next test
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
    marker = tmp_path / f"waits-{other.pid}"
    marker.touch()
    lock = _RunLock(str(tmp_path))
    taker, taken = _take_in_a_thread(lock, SHARED)
    try:
        assert not taken.wait(0.5)
        marker.unlink()
        assert taken.wait(5)
    finally:
        other.kill()
        other.join()
        taker.join(5)
    lock.release()


@pytest.mark.parametrize(
    "held, wanted, together",
    [
        (SHARED, SHARED, True), (QUIET, QUIET, True),
        (SHARED, QUIET, False), (QUIET, SHARED, False),
        (SHARED, EXCLUSIVE, False), (QUIET, EXCLUSIVE, False),
        (EXCLUSIVE, SHARED, False), (EXCLUSIVE, QUIET, False), (EXCLUSIVE, EXCLUSIVE, False),
    ],
)  # fmt: skip
def test_which_modes_run_together(tmp_path, held, wanted, together):
    holder, taker = _RunLock(str(tmp_path)), _RunLock(str(tmp_path))
    holder.acquire(held)
    thread, taken = _take_in_a_thread(taker, wanted)
    assert taken.wait(5 if together else 0.5) == together
    holder.release()
    assert taken.wait(5)  # once the holder lets go, it is the taker's
    thread.join(5)
    taker.release()


def test_a_quiet_test_runs_beside_the_quiet_one_running_while_an_exclusive_one_waits(tmp_path):
    """The quiet tests start together, and an exclusive one waits for all of them: a taker that
    waited at the turnstile for its own lock would have held up the second quiet test."""
    first, waiter, second = (_RunLock(str(tmp_path)) for _ in range(3))
    first.acquire(QUIET)
    exclusive_thread, exclusive_taken = _take_in_a_thread(waiter, EXCLUSIVE)
    assert not exclusive_taken.wait(0.3)
    quiet_thread, quiet_taken = _take_in_a_thread(second, QUIET)
    assert quiet_taken.wait(5)
    first.release()
    assert not exclusive_taken.wait(0.3)  # the second quiet test still runs
    second.release()
    assert exclusive_taken.wait(5)
    for thread in (exclusive_thread, quiet_thread):
        thread.join(5)
    waiter.release()
