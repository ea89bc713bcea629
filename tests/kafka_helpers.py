"""Helpers of the tests that produce to the real broker and wait for a consumer's log."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from harness.params import RunConfig
from harness.processes import ManagedProcess
from harness.run import run_experiment


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Every value, acknowledged before this returns (kafka-python, the default partitioner)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        for value in values:
            producer.send(topic, value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def run_in_process(params: dict, run_dir: Path, kernel_name, slos) -> None:
    """A sweep's executor without a kernel (the notebooks have tests of their own)."""
    run_experiment(RunConfig.from_dict(params), run_dir, progress=False, slos=slos)


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for_lines(paths: list[Path], n: int, procs: list[ManagedProcess], timeout=60.0) -> None:
    """Until the files hold `n` lines in all; fails when a consumer exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(count_lines(p) for p in paths) >= n:
            return
        for proc in procs:
            if not proc.running():
                pytest.fail(f"consumer exited ({proc.returncode()}):\n{proc.log_tail()}")
        time.sleep(0.05)
    got = sum(count_lines(p) for p in paths)
    pytest.fail(f"{got}/{n} lines within {timeout} s:\n" + "\n".join(p.log_tail() for p in procs))


def _parent_pid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])  # the fields after "(comm)": state, ppid


def descends_from_us(pid: int) -> bool:
    """Whether this test process started `pid`, through any chain of children (a CLI, a kernel)."""
    me = os.getpid()
    while pid > 1:
        pid = _parent_pid(pid)
        if pid == me:
            return True
    return False


def _broker_pids() -> set[int]:
    """Every running Kafka broker JVM that this test process started, directly or not (kafka.Kafka
    is its main class). Brokers of other programs on a shared machine are none of the test's."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"kafka.Kafka" in cmdline and descends_from_us(int(entry.name)):
                pids.add(int(entry.name))
    return pids


class BrokerWatch:
    """Polls for broker processes started from this test process that were not there when the
    watch began."""

    def __init__(self) -> None:
        self.before = _broker_pids()
        self.new: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.new |= _broker_pids() - self.before
            self._stop.wait(0.2)

    def __enter__(self) -> BrokerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
