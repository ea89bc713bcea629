"""Embedded broker start-to-ready time (format + JVM start + first metadata answer), median of N.

    .venv/bin/python benchmarks/bench_kafka_startup.py [--repeat 5] [--brokers 1] [--quick]
        [--json PATH]

Also prints what Maven fetched for the broker (the jars on its classpath and their size).
`--quick`: 3 starts. Not one of the numbered items of docs/BENCHMARKS.md; `python -m harness bench --only startup` runs it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from figures import Figures, add_runner_flags

from harness.environment import machine_line
from harness.java import broker_classpath
from harness.kafka import EmbeddedKafka


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--brokers", type=int, default=1)
    add_runner_flags(parser, "3 starts")
    args = parser.parse_args()
    if args.quick:
        args.repeat = min(args.repeat, 3)
    figs = Figures("startup", "Embedded broker start-to-ready time", vars(args))

    print(machine_line())
    jars = broker_classpath().split(os.pathsep)
    size = sum(Path(j).stat().st_size for j in jars)
    print(f"classpath: {len(jars)} jars, {size / 2**20:.1f} MiB (from Maven's local repository)")

    times = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            with EmbeddedKafka(brokers=args.brokers, root=Path(tmp)):
                times.append(time.perf_counter() - start)
        print(f"  run {i + 1}: {times[-1]:.2f} s to ready")
    print(
        f"start-to-ready, {args.brokers} broker(s): median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}, n={len(times)})"
    )
    figs.runs(f"start-to-ready, {args.brokers} broker(s)", times, "s")
    figs.note(f"classpath: {len(jars)} jars, {size / 2**20:.1f} MiB")
    figs.finish(args.json)


if __name__ == "__main__":
    main()
