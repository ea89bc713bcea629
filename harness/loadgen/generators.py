"""Load generators on Dask: one mechanism from a laptop to a cluster.

    with open_generators(2) as pool:                         # a LocalCluster of the run's own
    with open_generators(None, "tcp://host:8786") as pool:   # every worker of that cluster
        fan = pool.run(config, on_tick, on_start)            # one simulation, split over them

Without a scheduler, `open_generators(count)` starts a Dask LocalCluster of `count`
single-threaded worker processes on 127.0.0.1, owned here: closed on success, failure and Ctrl-C
(its worker processes also exit when this process dies). With a scheduler it connects to that
cluster and uses `count` of its workers (all when None); it starts and stops nothing of it. A
scheduler that does not answer, or has too few workers, raises GeneratorSetupError before
anything is sent.

`pool.run(config)` is one simulation over the pool's N workers:
- clocks: each worker's wall clock against this process's, from round trips through Dask (the
  best of CLOCK_PROBES by round-trip time), measured before each run;
- one start instant, START_LEAD_S ahead on this process's clock, sent to generator k in its own
  clock (start + offset_k);
- generator k sends share(config, k, N) (request i goes to generator i mod N, with the instant
  the one schedule gives it; the closed loop's senders are divided), pinned to its worker
  (remote.generate), and hands back its records as Arrow, times in its own clock;
- the parts are merged into one RequestLog that knows which generator sent each request.
While they run, a generator whose worker left the cluster (it died) or that said nothing for
STALL_S (it stalled) ends the run: the others are told to stop, what they measured comes back
(GeneratorFailed.partial) and the error names the worker. Nothing here imports Dask until a pool
is opened: one generator in-process (harness/simulator.py) never does.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import numpy as np

from harness.loadgen import remote
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.drive import DriveStats
from harness.loadgen.requestlog import RequestLog

CONNECT_TIMEOUT_S = 5.0  # to reach a scheduler of someone else's
CLOCK_PROBES = 5
START_LEAD_S = 0.5  # the start instant is this far ahead: every generator has its task by then
# A generator silent this long has stalled (it says it is alive every 0.5 s). Its word crosses two
# event loops (its worker's, the scheduler's) that starve with the machine: on 2 cores at a load
# average of ~13, a generator whose records show it sending all along (no gap over 0.14 s) went
# unheard for 10 s, and its run failed as stalled.
STALL_S = 30.0
# After a failure: how long the others get to stop and hand back their part. They take a second
# or less; in a full test run (load average ~13 on 2 cores) the live one of two had not handed
# back its records 10 s after it was told to stop, and they were lost.
STOP_WAIT_S = 30.0
POLL_S = 0.2
# An offset beyond this makes e2e latency (the consumer's clock minus a generator's) uncertain.
CLOCK_UNCERTAIN_MS = 5.0


class GeneratorSetupError(ValueError):
    """The generators cannot run: the scheduler does not answer, or has too few workers."""


class GeneratorFailed(RuntimeError):
    """A generator died or stalled mid-run; `partial` holds what the others measured."""

    def __init__(self, message: str, partial: Fanout | None = None) -> None:
        super().__init__(message)
        self.partial = partial


@dataclass
class Fanout:
    """One simulation's parts, merged: times in each generator's own epoch seconds."""

    log: RequestLog
    stats: DriveStats  # start: the common start on this process's clock
    starts: np.ndarray  # per request id: its generator's start, in that generator's clock
    generators: list[dict] = field(default_factory=list)  # metrics.json's `generators`


@dataclass(frozen=True)
class Worker:
    address: str
    host: str
    pid: int
    offset_s: float  # its clock minus ours
    round_trip_s: float


def _probe(client, address: str) -> Worker:
    """The worker's clock offset from the round trip that took least time."""
    best: Worker | None = None
    for _ in range(CLOCK_PROBES):
        t0 = time.time()
        seen = client.run(remote.probe, workers=[address])[address]
        t1 = time.time()
        if best is None or t1 - t0 < best.round_trip_s:
            offset = seen["time"] - (t0 + t1) / 2
            best = Worker(address, seen["host"], seen["pid"], offset, t1 - t0)
    return best


class GeneratorPool:
    """N Dask workers, one generator each (generator k on workers[k])."""

    def __init__(self, client, workers: list[str], owned: bool) -> None:
        self.client = client
        self.workers = workers
        self.owned = owned  # a LocalCluster of the run's own

    @property
    def count(self) -> int:
        return len(self.workers)

    def clocks(self) -> list[Worker]:
        return [_probe(self.client, address) for address in self.workers]

    def run(
        self,
        config: SimulatorConfig,
        on_tick: Callable[[int], None] = lambda done: None,
        on_start: Callable[[float], None] | None = None,
    ) -> Fanout:
        """One simulation over the pool; `on_start(epoch)` gets the common start (this
        process's clock) as soon as it is chosen, ahead of the instant itself."""
        workers = self.clocks()
        run_key = f"harness-{config.run_id}-{uuid.uuid4().hex[:8]}"
        watch = _Watch(self.count)
        self.client.subscribe_topic(run_key, watch.heard)
        start = time.time() + START_LEAD_S
        if on_start is not None:
            on_start(start)
        futures = [
            self.client.submit(remote.generate, config, k, self.count, start + w.offset_s,
                               run_key, workers=[w.address], allow_other_workers=False,
                               pure=False, key=f"{run_key}-{k}")
            for k, w in enumerate(workers)
        ]  # fmt: skip
        try:
            failure = self._watch(futures, workers, watch, on_tick)
            if failure is None:
                parts = self.client.gather(futures)
            else:
                parts = self._stop(futures, workers, watch, run_key)
        finally:
            self.client.unsubscribe_topic(run_key)
            self.client.cancel([f for f in futures if not f.done()], force=True)
        fan = _merge(config, parts, workers, start)
        on_tick(fan.log.events_done)
        if failure is not None:
            raise GeneratorFailed(failure, fan)
        return fan

    def _watch(self, futures, workers: list[Worker], watch: _Watch, on_tick) -> str | None:
        """Until every generator is done (None), or one died or stalled (what happened)."""
        while True:
            on_tick(watch.total())
            if all(f.status == "finished" for f in futures):
                return None
            alive = set(self.client.nthreads())
            now = time.monotonic()
            for k, (f, w) in enumerate(zip(futures, workers, strict=True)):
                name = _name(k, w)
                if f.status == "error":
                    return f"{name} failed: {f.exception()!r}"
                if f.status == "finished":
                    continue
                if w.address not in alive:
                    return f"{name} died mid-run: its worker left the Dask cluster"
                if now - watch.last[k] > STALL_S:
                    return f"{name} stalled: it said nothing for {STALL_S:g} s"
            time.sleep(POLL_S)

    def _stop(self, futures, workers: list[Worker], watch: _Watch, run_key: str) -> list[dict]:
        """Tells the generators that are still in the cluster to stop (a stalled one too: it
        stops if it wakes up); returns what the live ones hand back within STOP_WAIT_S."""
        alive = set(self.client.nthreads())
        now = time.monotonic()
        members = [w.address for w in workers if w.address in alive]
        if members:  # a thread: Client.run waits without end on a worker that does not answer
            threading.Thread(
                target=self.client.run, args=(remote.request_stop, run_key),
                kwargs={"workers": members, "on_error": "ignore"}, daemon=True,
            ).start()  # fmt: skip
        live = [f for k, (f, w) in enumerate(zip(futures, workers, strict=True))
                if w.address in alive and now - watch.last[k] <= STALL_S]  # fmt: skip
        deadline = time.monotonic() + STOP_WAIT_S
        while not all(f.done() for f in live) and time.monotonic() < deadline:
            time.sleep(POLL_S / 4)
        return [f.result() for f in futures if f.status == "finished"]


def _name(index: int, worker: Worker) -> str:
    return f"generator {index} (Dask worker {worker.address}, host {worker.host}, pid {worker.pid})"


class _Watch:
    """What the generators said while they ran: when each was last heard of, how far it got."""

    def __init__(self, count: int) -> None:
        now = time.monotonic()
        self.last = [now] * count
        self.done = [0] * count

    def heard(self, event) -> None:  # Dask's topic handler: (timestamp, message)
        message = event[1]
        k = message["index"]
        self.last[k], self.done[k] = time.monotonic(), message["done"]

    def total(self) -> int:
        return sum(self.done)


def _merge(
    config: SimulatorConfig, parts: list[dict], workers: list[Worker], start: float
) -> Fanout:
    log = RequestLog(config)
    # the split's: request i is generator i mod N's, sent or not (a dead generator's unsent
    # requests are its own, not generator 0's)
    log.generator[:] = np.arange(log.capacity) % len(workers)
    starts = np.zeros(len(workers))
    for part in parts:
        log.merge_arrow(part["records"], part["index"])
        starts[part["index"]] = part["start"]
    by_index = {p["index"]: p for p in parts}
    generators = []
    for k, w in enumerate(workers):
        part = by_index.get(k)
        generators.append({
            "index": k,
            "host": w.host,
            "worker": w.address,
            "pid": w.pid,
            "requests": None if part is None else int(np.isfinite(
                part["records"].column("sent").to_numpy(zero_copy_only=False)).sum()),
            "busy": None if part is None else part["busy"],
            "cpu_s": None if part is None else part["cpu_s"],
            "clock_offset_ms": w.offset_s * 1000.0,
            "round_trip_ms": w.round_trip_s * 1000.0,
            "late_start_ms": None if part is None else part["late_start_ms"],
            "returned": part is not None,
        })  # fmt: skip
    ends = [p["end"] - workers[p["index"]].offset_s for p in parts]
    stats = DriveStats(
        start=start,
        end=max(ends, default=start),
        cap_waits=sum(p["cap_waits"] for p in parts),
        max_in_flight=sum(p["max_in_flight"] for p in parts),
        taken=sum(p["taken"] for p in parts),
        stopped=any(p["stopped"] for p in parts) or len(parts) < len(workers),
    )
    return Fanout(log, stats, starts[log.generator], generators)


def clock_uncertainty_ms(generators: list[dict] | None) -> float | None:
    """How uncertain e2e latency is from the generators' clocks: the largest offset, when one
    is over CLOCK_UNCERTAIN_MS (None otherwise)."""
    offsets = [abs(g["clock_offset_ms"]) for g in generators or [] if g.get("clock_offset_ms")]
    worst = max(offsets, default=0.0)
    return worst if worst > CLOCK_UNCERTAIN_MS else None


@contextmanager
def open_generators(count: int | None, scheduler: str | None = None) -> Iterator[GeneratorPool]:
    """A pool of `count` generators: a LocalCluster of this process's own, or `count` workers
    (all when None) of the cluster whose scheduler is at `scheduler`."""
    from distributed import Client

    with ExitStack() as stack:
        if scheduler:
            try:
                client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise GeneratorSetupError(
                    f"the Dask scheduler at {scheduler} cannot be reached: {exc}"
                ) from None
            stack.callback(client.close)
            workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
            wanted = len(workers) if count is None else count
            if not workers or wanted > len(workers):
                raise GeneratorSetupError(
                    f"generators={wanted}, but the Dask cluster at {scheduler} has "
                    f"{len(workers)} worker(s): start more workers, or ask for fewer generators"
                )
            yield GeneratorPool(client, workers[:wanted], owned=False)
            return
        from distributed import LocalCluster

        with _sigint_ignored_by_children():
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=count,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    worker_dashboard_address=None,
                    # The run reports a generator's death itself ("generator N ... died
                    # mid-run"); the workers' own logs then add only noise: the nanny's
                    # restart, and a heartbeat traceback when the scheduler closes first.
                    silence_logs=logging.CRITICAL,
                )  # fmt: skip
            )
        client = stack.enter_context(Client(cluster, set_as_default=False))
        client.wait_for_workers(count)
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
        yield GeneratorPool(client, workers, owned=True)


@contextmanager
def _sigint_ignored_by_children() -> Iterator[None]:
    """The worker processes started meanwhile ignore SIGINT (an ignored signal stays ignored
    across exec, and Python then installs no KeyboardInterrupt handler): Ctrl-C in a terminal
    reaches the whole process group, and the harness, not each worker, stops the cluster in
    order. Main thread only (elsewhere signals cannot be set, and nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
