"""CPU accounting from /proc: where the cores went during one measurement.

    sampler = CpuSampler(extra_roots=broker_pids).start()
    ...run...
    seconds = sampler.stop()   # {"api": 3.1, "consumer": 0.4, "broker": 1.2, "simulator": 2.0,
                               #  "others": 5.5, "machine idle": 0.1}
    sampler.window(t0, t1)     # the same between two epoch instants (to the nearest samples)

A thread samples every process every `interval_s`. The processes this one started (its
descendants) and `extra_roots` (an external broker) with their descendants are ours, and each is
put in a category by its command line (the API, the consumers, the broker, this process and its
simulator workers, other children). A process that exits between two samples loses at most its
last interval. "others" is the rest of the machine's busy time: other users' load, which a shared
machine has; "machine idle" is idle core-seconds.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
OURS = ("api", "consumer", "broker", "simulator")  # the ingestion path's own processes
CATEGORIES = (  # the first cmdline fragment that matches names the category
    ("app.producer", "api"),
    ("waiting_api.py", "api"),
    ("gunicorn", "api"),
    ("app.consumer", "consumer"),
    ("bench_consumer.py", "consumer"),
    ("kafka.Kafka", "broker"),
    ("harness.loadgen", "simulator"),
)


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system CPU seconds) of one live process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the ")": state(0) ppid(1) ... utime(11) stime(12)
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode("utf-8", "replace")
        )
    except OSError:
        return ""


def processes() -> dict[int, tuple[int, float]]:
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            table[int(entry)] = stat
    return table


def descendants(roots: list[int], table: dict[int, tuple[int, float]]) -> set[int]:
    """`roots` (those alive) and every process below them."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / TICK, sum(values) / TICK


def category(pid: int, cmdline: str) -> str:
    if pid == os.getpid():
        return "simulator"
    return next((name for frag, name in CATEGORIES if frag in cmdline), "other children")


def ours(usage: dict[str, float]) -> float:
    """The part of `usage` (per category) spent by the ingestion path's own processes."""
    return sum(usage.get(kind, 0.0) for kind in OURS)


def bound_eps(ours_us_per_event: float) -> float:
    """Events/s if every core ran only our processes at this CPU per event: the path's bound."""
    return CORES * 1e6 / ours_us_per_event


class CpuSampler:
    def __init__(self, extra_roots: list[int] = (), interval_s: float = 0.25) -> None:
        self.roots = [os.getpid(), *extra_roots]
        self.interval_s = interval_s
        self.first: dict[int, float] = {}  # CPU seconds when first seen (0 for new processes)
        self.last: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.series: list[tuple[float, dict[str, float]]] = []  # (epoch s, cumulative usage)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _sample(self, initial: bool = False) -> None:
        table = processes()
        for pid in descendants(self.roots, table):
            cpu = table[pid][1]
            if pid not in self.kind:
                self.kind[pid] = category(pid, _cmdline(pid))
                self.first[pid] = cpu if initial else 0.0
            self.last[pid] = cpu
        self.series.append((time.time(), self._usage(machine_busy())))

    def _usage(self, machine: tuple[float, float]) -> dict[str, float]:
        """Cumulative CPU seconds per category (and the machine's busy and total) since start."""
        used: dict[str, float] = {}
        for pid, kind in self.kind.items():
            used[kind] = used.get(kind, 0.0) + self.last[pid] - self.first[pid]
        used["machine busy"], used["machine total"] = machine
        return used

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def start(self) -> CpuSampler:
        self._sample(initial=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """CPU seconds per category since start (plus "others" and "machine idle")."""
        self._stop.set()
        self._thread.join()
        self._sample()
        return _delta(self.series[0][1], self.series[-1][1])

    def window(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds per category between the last sample at or before `start` and the first
        at or after `end` (epoch seconds)."""
        times = [t for t, _ in self.series]
        i = max(0, bisect.bisect_right(times, start) - 1)
        j = min(len(times) - 1, bisect.bisect_left(times, end))
        return _delta(self.series[i][1], self.series[j][1])


def _delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    used = {k: v - a.get(k, 0.0) for k, v in b.items()}
    busy, total = used.pop("machine busy"), used.pop("machine total")
    used["others"] = max(0.0, busy - sum(used.values()))
    used["machine idle"] = max(0.0, total - busy)
    return used
