"""Embedded broker start-to-ready time (format + JVM start + first metadata answer) and the CPU a
start and stop take, with the brokers' class archive (harness/cds.py) and without it, paired.

    .venv/bin/python benchmarks/bench_kafka_startup.py [--repeat 5] [--brokers 1] [--quick]
        [--json PATH]

Each repetition starts and stops the cluster once with the archive and once without, in turn, so
that outside load hits both alike; medians, min and max, and the ratio of the medians of this run.
CPU: user + system time of the JVMs (the storage format's and the brokers'), reaped at their stop.
Also prints what Maven fetched for the broker (the jars on its classpath and their size).
`--quick`: 3 pairs. Not one of the numbered items of docs/BENCHMARKS.md; `python -m harness bench
--only startup` runs it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from figures import Figures, add_runner_flags

from harness import cds
from harness.environment import machine_line
from harness.java import broker_classpath, check_java
from harness.kafka import EmbeddedKafka


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_stop(brokers: int, class_archive: bool) -> tuple[float, float]:
    """(seconds to ready, CPU seconds of the start and the stop)."""
    with tempfile.TemporaryDirectory() as tmp:
        cpu, start = _children_cpu(), time.perf_counter()
        with EmbeddedKafka(brokers=brokers, root=Path(tmp), class_archive=class_archive):
            ready = time.perf_counter() - start
        return ready, _children_cpu() - cpu


def _spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--brokers", type=int, default=1)
    add_runner_flags(parser, "3 pairs")
    args = parser.parse_args()
    if args.quick:
        args.repeat = min(args.repeat, 3)
    figs = Figures("startup", "Embedded broker start-to-ready time", vars(args))

    print(machine_line())
    classpath = broker_classpath()
    jars = classpath.split(os.pathsep)
    size = sum(Path(j).stat().st_size for j in jars)
    print(f"classpath: {len(jars)} jars, {size / 2**20:.1f} MiB (from Maven's local repository)")
    archive = cds.build()  # at once when `make setup` built it
    print(f"class archive: {archive} ({archive.stat().st_size / 2**20:.0f} MiB)")
    assert cds.jvm_options(classpath, check_java()), "the class archive is not used"

    runs: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
    for i in range(args.repeat):
        for with_archive in (True, False):
            ready, cpu = start_stop(args.brokers, with_archive)
            runs[with_archive][0].append(ready)
            runs[with_archive][1].append(cpu)
            label = "with the archive" if with_archive else "without it"
            print(f"  pair {i + 1}, {label}: {ready:.2f} s to ready, {cpu:.2f} CPU-s")
    names = {}
    for with_archive, (ready, cpu) in runs.items():
        label = "with the class archive" if with_archive else "without the class archive"
        print(f"{args.brokers} broker(s) {label}: to ready {_spread(ready)} s; "
              f"CPU {_spread(cpu)} s (n={len(ready)})")  # fmt: skip
        names[with_archive] = (f"start-to-ready, {args.brokers} broker(s), {label}",
                               f"CPU of a start and stop, {args.brokers} broker(s), {label}")  # fmt: skip
        figs.runs(names[with_archive][0], ready, "s")
        figs.runs(names[with_archive][1], cpu, "s")
    for i, what in enumerate(("start-to-ready", "CPU of a start and stop")):
        figs.ratio(f"{what}, with / without the class archive", None, names[True][i],
                   names[False][i])  # fmt: skip
    figs.note(f"classpath: {len(jars)} jars, {size / 2**20:.1f} MiB")
    figs.finish(args.json)


if __name__ == "__main__":
    main()
