"""Shared fixtures: one real embedded Kafka broker for the whole session, a fresh topic per test.

Tests that stop or kill brokers start their own `EmbeddedKafka` instead of using `kafka`.

The suite runs on four pytest-xdist workers (pyproject.toml) that share one session broker, owned
by the xdist controller: it starts it before the first worker and stops it after the last. One
broker instead of one per worker saved ~200 CPU-s of a full run on 2 cores (each idle broker
takes ~4% of a core, and each warms its JIT again under load: the four took 85 CPU-s each).
The session broker is warmed up as the harness warms a broker it starts itself
(`harness.run.warm_up_broker`: 15 s of the default path's load, thrown away); the controller
holds the run lock while it does. The first tests met a cold JIT before: a compare test's API,
slowed to half its speed, ran as fast as the unslowed one, both held back by the cold broker
(840-1,430 events/s; 2,300-3,300 on the warm one).
The brokers that tests (and the runs they make) start for themselves live seconds to minutes: they
run on the C1 compiler alone ($HARNESS_BROKER_JVM_OPTS, harness/kafka.py), which halved their CPU
(a 3-broker cluster's start and 30 s at 150 events/s: 32 CPU-s against 63). The session broker
keeps C2: it lives the whole run, and the tests that measure speed use it.
Tests whose verdict rests on the machine's speed, or that take the machine's CPU away (CPU hogs),
are marked `exclusive`: they run while the other workers run nothing. Timed tests that use little
CPU (capacity searches of a wait-bound setting) are marked `quiet`: they run beside each other,
and beside nothing else (see `_RunLock`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

import harness.kernels  # noqa: F401  before any test module imports nbformat: see its note on jsonschema
from harness import admin
from harness.cluster import choose_bootstrap
from harness.kafka import BROKER_JVM_OPTIONS_ENV, EmbeddedKafka

os.environ.setdefault(BROKER_JVM_OPTIONS_ENV, "-XX:TieredStopAtLevel=1")  # inherited by the workers

# What tests leave for a person to look at (screenshots, fault tables): git-ignored, and each
# file is rewritten by the test that makes it, so nothing grows across runs.
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def kafka(request, tmp_path_factory):
    """A running single-broker KRaft cluster on random free ports (or KAFKA_BOOTSTRAP_SERVERS):
    the controller's under xdist, else one of this session's own."""
    external = choose_bootstrap()
    if external:
        yield _Running(external)
        return
    shared = getattr(request.config, "workerinput", {}).get("session_kafka")
    if shared:
        yield _Running(shared["bootstrap_servers"], [Path(d) for d in shared["data_dirs"]])
        return
    with EmbeddedKafka(
        brokers=1, root=tmp_path_factory.mktemp("kafka"), broker_jvm_options=[]
    ) as broker:
        _warm_up(broker.bootstrap_servers)
        yield broker


class _Running:
    """A cluster this process did not start: its bootstrap servers, and the brokers' data
    directories when they are on this machine (the controller's broker)."""

    def __init__(self, bootstrap_servers: str, data_dirs: list[Path] | None = None) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.data_dirs = data_dirs or []


@pytest.fixture
def new_topic(kafka, request):
    """Factory: `new_topic(partitions=3) -> name` creates a uniquely named topic on `kafka`."""

    def make(partitions: int = 3, replication_factor: int = 1, config=None) -> str:
        base = request.node.name.replace("[", "-").replace("]", "")[:120]
        name = f"t-{base}-{uuid.uuid4().hex[:8]}"
        admin.create_topic(
            kafka.bootstrap_servers, name, partitions, replication_factor, config=config
        )
        return name

    return make


SHARED, QUIET, EXCLUSIVE = "shared", "quiet", "exclusive"  # the run lock's modes


class _RunLock:
    """The lock of one run's xdist workers, held by every test in one of three modes:
    - shared (most tests): beside other shared tests;
    - quiet (tests that use little CPU but whose verdict is timed, e.g. capacity searches of a
      wait-bound setting): beside other quiet tests only;
    - exclusive (timed and CPU-hungry): alone.

    It is made of flocks on three files: `lock`, held shared by shared and quiet tests and alone
    by an exclusive one; `shared` and `quiet`, held shared by the tests of that mode, and free
    when none runs. Takers go one at a time through a turnstile and only try (a taker that waited
    there for its lock would hold up the others: a quiet test would wait behind an exclusive one
    while the quiet test it may run beside runs). A quiet or exclusive test that waits says so (a
    file named for its process), and no test takes the lock shared while one does: shared tests
    are many, and one of them would nearly always hold the lock (a 200 s exclusive test once
    waited while a shared test took the lock ahead of it)."""

    _PLANS = {  # (file, how): held in that mode, or None: only checked to be free
        SHARED: (("quiet", None), ("lock", fcntl.LOCK_SH), ("shared", fcntl.LOCK_SH)),
        QUIET: (("shared", None), ("lock", fcntl.LOCK_SH), ("quiet", fcntl.LOCK_SH)),
        EXCLUSIVE: (("lock", fcntl.LOCK_EX),),
    }

    def __init__(self, folder: str) -> None:
        self._folder = Path(folder)
        self._files = {name: open(self._folder / name, "a+")  # open for the session
                       for name in ("turnstile", "lock", "shared", "quiet")}  # fmt: skip
        self._waiting = self._folder / f"waits-{os.getpid()}"
        self.held: str | None = None  # the mode while held

    def acquire(self, mode: str) -> None:
        if mode != SHARED:
            self._waiting.touch()
        try:
            while not self._take(mode):
                time.sleep(0.05)
        finally:
            self._waiting.unlink(missing_ok=True)
        self.held = mode

    def _take(self, mode: str) -> bool:
        turnstile = self._files["turnstile"]
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            if mode == SHARED and self._others_wait():
                return False
            taken = []
            for name, how in self._PLANS[mode]:
                file = self._files[name]
                try:
                    fcntl.flock(file, (how or fcntl.LOCK_EX) | fcntl.LOCK_NB)
                except BlockingIOError:
                    for held in taken:
                        fcntl.flock(held, fcntl.LOCK_UN)
                    return False
                if how is None:  # free: no test of the other mode runs (none may start meanwhile)
                    fcntl.flock(file, fcntl.LOCK_UN)
                else:
                    taken.append(file)
            return True
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)

    def _others_wait(self) -> bool:
        """Whether a quiet or exclusive test of another live worker waits for the lock."""
        for marker in self._folder.glob("waits-*"):
            pid = int(marker.name.rsplit("-", 1)[1])
            if pid != os.getpid() and Path(f"/proc/{pid}").exists():
                return True
        return False

    def release(self) -> None:
        for name in ("lock", "shared", "quiet"):
            fcntl.flock(self._files[name], fcntl.LOCK_UN)
        self.held = None

    def close(self) -> None:
        for file in self._files.values():
            file.close()


_run_lock: _RunLock | None = None  # on an xdist worker
_lock_folder: str | None = None  # on the xdist controller
_session_kafka: EmbeddedKafka | None = None  # on the xdist controller
_warming: threading.Thread | None = None  # on the xdist controller, while it warms the broker


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """(xdist controller) Every worker gets the folder of the run's lock, and the session broker
    (started for the first worker; none with KAFKA_BOOTSTRAP_SERVERS set)."""
    global _lock_folder, _session_kafka
    if _lock_folder is None:
        _lock_folder = tempfile.mkdtemp(prefix="pytest-run-lock-")
        if not choose_bootstrap():
            _session_kafka = EmbeddedKafka(brokers=1, root=Path(_lock_folder) / "kafka",
                                           broker_jvm_options=[])  # fmt: skip
            _session_kafka.__enter__()
            _warm_up_under_lock(_session_kafka.bootstrap_servers, _lock_folder)
    node.workerinput["run_lock_folder"] = _lock_folder
    if _session_kafka is not None:
        node.workerinput["session_kafka"] = {
            "bootstrap_servers": _session_kafka.bootstrap_servers,
            "data_dirs": [str(n.data_dir) for n in _session_kafka.nodes],
        }


def _warm_up(bootstrap_servers: str) -> None:
    """The session broker's warm-up. If it fails, the tests still run, on a cold broker: say so."""
    from harness.params import RunConfig
    from harness.run import warm_up_broker

    try:
        done = warm_up_broker(RunConfig(bootstrap_servers=bootstrap_servers), bootstrap_servers,
                              say=lambda msg: None)  # fmt: skip
        if not done["accepted"]:
            print(f"\nthe session broker's warm-up got no 2xx: {done}", file=sys.stderr)
    except Exception as exc:
        print(f"\nthe session broker's warm-up failed: {exc!r}", file=sys.stderr)


def _warm_up_under_lock(bootstrap_servers: str, lock_folder: str) -> None:
    """(xdist controller) The warm-up, under the run lock held alone: the workers start
    meanwhile, and their first tests wait for it."""
    global _warming
    lock = _RunLock(lock_folder)
    lock.acquire(EXCLUSIVE)

    def warm() -> None:
        try:
            _warm_up(bootstrap_servers)
        finally:
            lock.release()
            lock.close()

    _warming = threading.Thread(target=warm, name="session-broker-warm-up")
    _warming.start()


def pytest_configure(config) -> None:
    global _run_lock
    folder = getattr(config, "workerinput", {}).get("run_lock_folder")
    if folder:
        _run_lock = _RunLock(folder)


def pytest_unconfigure(config) -> None:
    """(xdist controller) After the last worker: the session broker stops, its folder goes."""
    global _session_kafka
    if _warming is not None:
        _warming.join()  # its API and consumers stop before the broker does
    if _session_kafka is not None:
        _session_kafka.__exit__(None, None, None)
        _session_kafka = None
    if _lock_folder is not None:
        shutil.rmtree(_lock_folder, ignore_errors=True)


def _mode(item) -> str | None:
    """The run lock's mode for a test: its marker's (`exclusive`, `quiet`), else shared."""
    if item is None:
        return None
    for mode in (EXCLUSIVE, QUIET):
        if item.get_closest_marker(mode) is not None:
            return mode
    return SHARED


# Modules of a minute or more that may share the machine: under xdist they start right after the
# quiet and exclusive ones, so that the run does not end on one of them while the other workers are idle.
# Longest first (a whole-suite profile with --durations=0 gives the order).
LONG_MODULES = ["test_docs_examples", "test_reliability", "test_external_cluster", "test_sweep_runs",
                "test_consumer_kafka", "test_deployed", "test_interrupt", "test_generators",
                "test_notebooks", "test_short_runs", "test_report_browser", "test_kafka", "test_producer_clients",
                "test_broker_warmup"]  # fmt: skip


def pytest_collection_modifyitems(config, items) -> None:
    """Under xdist (whole modules per worker, in this order: --no-loadscope-reorder): the quiet
    modules first (the workers start them together, and they run side by side), then the
    exclusive ones (they run one after another anyway, and no worker then waits for another's
    test to end before each), then LONG_MODULES, then the rest in their usual order."""
    on_xdist = hasattr(config, "workerinput") or getattr(config.option, "numprocesses", None)
    if not on_xdist:
        return

    def rank(item) -> tuple[int, int]:
        module, mode = item.path.stem, _mode(item)
        if mode != SHARED:
            return (0, 0 if mode == QUIET else 1)
        if module in LONG_MODULES:
            return (1, LONG_MODULES.index(module))
        return (2, 0)

    items.sort(key=rank)  # stable: each module's tests keep their order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """(xdist controller) Modules handed out one at a time, see `_OneModuleAhead`."""
    from xdist.scheduler import LoadFileScheduling

    class _OneModuleAhead(LoadFileScheduling):
        """xdist's loadfile, but a worker gets its next module only once a single test of its
        current ones is left (xdist gives it one more as soon as 2 are left; a worker always
        holds one test it has not started, to know the test after it). A module of 1 or 2 long
        tests otherwise took its successor at once: test_reliability (6 min) waited behind
        test_docs_examples (6 min) on one worker while the others ran out of work."""

        def _reschedule(self, node) -> None:
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
                return
            if self._pending_of(self.assigned_work[node]) > 1:
                return
            self._assign_work_unit(node)

    return _OneModuleAhead(config, log)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """Setup, call and teardown of a test under the run lock (outside pytest-timeout's timer: the
    wait for the other workers is not the test's own time). A quiet or exclusive test keeps the
    lock for the tests of its mode that follow it on this worker (a module's tests share its
    fixtures)."""
    lock = _run_lock
    if lock is None:
        yield
        return
    mode = _mode(item)
    if lock.held != mode:
        if lock.held is not None:
            lock.release()
        lock.acquire(mode)
    try:
        yield
    finally:
        if mode == SHARED or _mode(nextitem) != mode:
            lock.release()
