"""Helpers of the tests that produce to the real broker and wait for a consumer's log."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.record import MemoryRecords
from kafka.record.default_records import DefaultRecordBatch

from harness.kafka import EmbeddedKafka
from harness.params import RunConfig
from harness.paths import harness_home
from harness.processes import ManagedProcess, pid_alive
from harness.run import run_experiment


def home_with_classpath(home: Path) -> str:
    """A HARNESS_HOME of a test's own that holds the broker's classpath cache (made by `make
    setup` / the session broker) and links its class archive: without the one, a command that
    starts a broker first resolves the jars with Maven, which took over 3 minutes on a loaded
    machine; without the other, each broker start takes ~60% more CPU."""
    cache = harness_home() / "classpath"
    if cache.is_dir():
        shutil.copytree(cache, home / "classpath", dirs_exist_ok=True)
    archives = harness_home() / "cds"
    if archives.is_dir() and not (home / "cds").exists():
        (home / "cds").symlink_to(archives, target_is_directory=True)
    return str(home)


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Every value, acknowledged before this returns (kafka-python, the default partitioner)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        for value in values:
            producer.send(topic, value)
        producer.flush(timeout=30)
    finally:
        producer.close()


def run_in_process(params: dict, run_dir: Path, kernel_name, slos, p99_objective_ms=None) -> None:
    """A sweep's executor without a kernel (the notebooks have tests of their own)."""
    extra = {"p99_objective_ms": p99_objective_ms} if p99_objective_ms else {}
    run_experiment(RunConfig.from_dict(params), run_dir, progress=False, slos=slos, **extra)


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


def parent_pid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[1])  # the fields after "(comm)": state, ppid


def descends_from_us(pid: int) -> bool:
    """Whether this test process started `pid`, through any chain of children (a CLI, a kernel)."""
    me = os.getpid()
    while pid > 1:
        pid = parent_pid(pid)
        if pid == me:
            return True
    return False


def _processes() -> dict[int, tuple[int, str]]:
    """{pid: (parent pid, start time in clock ticks)} of every process now (one /proc pass)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(entry.name)] = (int(fields[1]), fields[19])  # ppid, starttime
    return table


def _descendants(table: dict[int, tuple[int, str]], root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def sigint_as_in_a_terminal() -> None:
    """A child's preexec_fn: SIGINT back to its default, which the child's Python turns into
    KeyboardInterrupt. A shell starts a background job (`pytest &`) with SIGINT ignored, every
    child inherits that, and Python then never raises KeyboardInterrupt: a test of Ctrl-C would
    test how the suite was started."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cpu_seconds(roots: list[int]) -> float:
    """CPU time (user + system) so far of the processes `roots` and all their descendants."""
    table = _processes()
    pids = set(roots).union(*(_descendants(table, root) for root in roots))
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


class ProcessWatch:
    """Polls for processes started from this test process, directly or not, that were not there
    when the watch began and whose command line contains `match` (every one when it is empty).

    Each is remembered with its start time, so that one still running after its owner ended is
    found even once it was re-parented, and a pid reused by another program is not taken for it.
    Its command line is the latest one read: a child caught between fork and exec still shows its
    parent's (the broker's java first reads as `python -m harness ...`).
    """

    def __init__(self, match: bytes = b"") -> None:
        self.match = match
        self.seen: dict[int, tuple[str, str]] = {}  # pid: (start time, command line)
        self._before = self._matching()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _matching(self) -> dict[int, tuple[str, str]]:
        table = _processes()
        found = {}
        for pid in _descendants(table, os.getpid()):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if self.match in cmdline.split(b"\0") or not self.match:
                found[pid] = (table[pid][1], cmdline.replace(b"\0", b" ").decode(errors="replace"))
        return found

    def _poll(self) -> None:
        while not self._stop.is_set():
            for pid, info in self._matching().items():
                if self._before.get(pid) != info and info[1]:  # a zombie's command line is empty
                    self.seen[pid] = info
            self._stop.wait(0.2)

    @property
    def new(self) -> set[int]:
        return set(self.seen)

    def commands(self) -> list[str]:
        return [cmd for _, cmd in self.seen.values()]

    def _alive(self) -> dict[int, str]:
        table = _processes()
        return {pid: cmd for pid, (started, cmd) in self.seen.items()
                if table.get(pid, (0, None))[1] == started and pid_alive(pid)}  # fmt: skip

    def alive(self, grace_s: float = 0.0) -> list[str]:
        """The command lines of the processes seen that still run (zombies do not), after up to
        `grace_s` for them to end by themselves (multiprocessing's resource tracker ends once
        its owner's pipe closes, a moment after the owner)."""
        deadline = time.monotonic() + grace_s
        while self._alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        return list(self._alive().values())

    def kill_alive(self) -> None:
        """SIGKILL what still runs of them (a test's clean-up after a failure)."""
        for pid in self._alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class BrokerWatch(ProcessWatch):
    """The Kafka broker JVMs started from this test process (kafka.Kafka is their main class);
    brokers of other programs on a shared machine are none of the test's."""

    def __init__(self) -> None:
        super().__init__(b"kafka.Kafka")


def stored_batches(kafka, topic: str) -> list[DefaultRecordBatch]:
    """Every record batch of `topic` as the broker stored it, read from its segment files: the
    codec and producer id in a batch's header are what the producer put on the wire (the topic
    keeps the producer's codec: compression.type=producer, Kafka's default)."""
    data_dirs = (
        [n.data_dir for n in kafka.nodes] if isinstance(kafka, EmbeddedKafka) else kafka.data_dirs
    )
    if not data_dirs:
        pytest.skip("reads the embedded broker's segment files")
    batches = []
    for data_dir in data_dirs:
        for segment in sorted(data_dir.glob(f"{topic}-*/*.log")):
            records = MemoryRecords(segment.read_bytes())
            while (batch := records.next_batch()) is not None:
                batches.append(batch)
    return batches
