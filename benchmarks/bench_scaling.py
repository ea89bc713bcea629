"""Scaling: end-to-end events/s as API workers, partitions and consumers grow 1 -> 2 -> 4.

    .venv/bin/python benchmarks/bench_scaling.py [--events 50000] [--repeats 3] [--quick]
        [--json PATH] [--bootstrap-servers B]

Every point is the whole path on one shared broker: its own topic, its consumer group
(`python -m app.consumer` processes, each writing its own log) and its API (the default: granian,
`ack` delivery, confluent-kafka), all started once and kept up, so a repetition measures events flowing,
not processes starting. A repetition sends `--events` events with the simulator and waits until
the consumers' logs hold them all; throughput = events / (that instant - the first send), i.e.
unique events logged per second end to end (as metrics.json's `throughput_eps`, to the 20 ms the
logs are polled at). The sweeps start from one base point (1 worker, 1 partition, 1 consumer)
and grow one dimension at a time:
- workers 1, 2, 4 (API processes; 1 partition, 1 consumer);
- partitions 1, 2, 4 (1 worker, 1 consumer);
- consumers 1, 2, 4 (1 worker, 4 partitions: a consumer per partition at most).
The load is the batch endpoint, 100 events per request from 16 senders, so that Kafka's side, not
only HTTP, carries weight. Repetitions are interleaved over the points. Each repetition also
accounts the CPU time of the API, the consumers, the broker, the simulator, the rest of the
machine and the idle time (benchmarks/cpu.py): where the 2 cores went while events flowed,
hence why a curve flattens; and our processes' CPU per event, from which `cores x 1e6 / (CPU-us
per event)` bounds the events/s this machine could reach with every core ours.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from broker import broker
from cpu import CORES, CpuSampler, bound_eps, ours
from figures import Figures, add_runner_flags

from app.settings import ProducerSettings
from harness import admin
from harness.environment import machine_line
from harness.rundir import LogCounter, events_log_path
from harness.services import ApiService, ConsumerService
from harness.simulator import SimulatorConfig, simulate

SWEEPS = {
    "workers": [(1, 1, 1), (2, 1, 1), (4, 1, 1)],
    "partitions": [(1, 1, 1), (1, 2, 1), (1, 4, 1)],
    "consumers": [(1, 4, 1), (1, 4, 2), (1, 4, 4)],
}
CPU_KINDS = ("api", "consumer", "broker", "simulator", "others", "machine idle")


def label(point: tuple[int, int, int]) -> str:
    w, p, c = point
    return f"w{w} p{p} c{c}"


class Point:
    """One point's topic, consumers and API, up until the ExitStack closes."""

    def __init__(self, point, bootstrap: str, out: Path, stack: ExitStack) -> None:
        workers, partitions, consumers = point
        self.name = label(point)
        topic = f"scaling-{self.name.replace(' ', '')}-{uuid.uuid4().hex[:6]}"
        admin.create_topic(bootstrap, topic, partitions, 1)
        out.mkdir(parents=True, exist_ok=True)
        self.logs = [events_log_path(out, i, consumers) for i in range(consumers)]
        group = f"scaling-{uuid.uuid4().hex[:8]}"
        self.consumers = [
            stack.enter_context(ConsumerService(
                bootstrap, topic, group, self.logs[i], out / f"consumer-{i}.out").starting())
            for i in range(consumers)
        ]  # fmt: skip
        settings = ProducerSettings.from_env({}, bootstrap_servers=bootstrap, topic=topic)
        self.api = stack.enter_context(ApiService(
            settings, out / "api.log", workers=workers).starting())  # fmt: skip
        self.counter = LogCounter(self.logs)
        self.logged = 0

    def wait_ready(self) -> None:
        for consumer in self.consumers:
            consumer.wait_ready()
        self.api.wait_ready()

    def run(self, args, broker_pids: list[int]) -> dict:
        """One repetition: send, wait until every event is logged; rate and CPU accounting."""
        config = SimulatorConfig(url=self.api.url, events=args.events, threads=args.threads,
                                 endpoint="batch", events_per_request=args.events_per_request)  # fmt: skip
        target = self.logged + args.events
        sampler = CpuSampler(broker_pids, interval_s=0.1).start()
        start = time.perf_counter()
        result = simulate(config, out_dir=None, progress=False)
        self.counter.wait_for(target, args.drain_timeout)
        elapsed = time.perf_counter() - start
        cpu = sampler.stop()
        logged = self.counter.lines - self.logged
        self.logged = self.counter.lines
        if result.accepted != args.events or logged < args.events:
            print(f"  ({self.name}: accepted {result.accepted}, logged {logged} of {args.events})",
                  file=sys.stderr)  # fmt: skip
        total = sum(cpu.values()) or 1e-9
        return {
            "eps": min(logged, args.events) / elapsed,
            "cpu_share": {k: v / total for k, v in cpu.items()},
            "cpu_us": ours(cpu) / args.events * 1e6,
        }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--events-per-request", type=int, default=100)
    p.add_argument("--threads", type=int, default=16, help="concurrent senders")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--drain-timeout", type=float, default=60.0, help="seconds to wait for the logs")
    add_runner_flags(p, "20,000 events per point")
    args = p.parse_args(argv)
    if args.quick:
        args.events = 20_000
    return args


def measure(args, bootstrap: str, broker_pids: list[int], tmp: Path) -> dict[tuple, list[dict]]:
    points = list(dict.fromkeys(pt for sweep in SWEEPS.values() for pt in sweep))
    results: dict[tuple, list[dict]] = {pt: [] for pt in points}
    with ExitStack() as stack:
        up = {pt: Point(pt, bootstrap, tmp / label(pt).replace(" ", ""), stack) for pt in points}
        for point in up.values():
            point.wait_ready()
        for point in up.values():  # warm-up: connections, producers, the group's assignment
            point.run(argparse.Namespace(**{**vars(args), "events": 2000}), broker_pids)
        for rep in range(args.repeats):
            for pt, point in up.items():
                r = point.run(args, broker_pids)
                results[pt].append(r)
                share = ", ".join(f"{k} {r['cpu_share'].get(k, 0):.0%}" for k in CPU_KINDS)
                print(f"  rep {rep + 1} {label(pt):10s} {r['eps']:8,.0f} events/s  "
                      f"{r['cpu_us']:5.0f} CPU-us/event   CPU: {share}", flush=True)  # fmt: skip
    return results


def record(figs: Figures, results: dict[tuple, list[dict]]) -> None:
    for pt, runs in results.items():
        eps = figs.runs(label(pt), [r["eps"] for r in runs], "events/s")
        cpu_us = figs.runs(f"{label(pt)} CPU-us/event (ours)", [r["cpu_us"] for r in runs],
                           "CPU-us/event")  # fmt: skip
        figs.runs(f"{label(pt)} bound with all {CORES} cores", [bound_eps(r["cpu_us"]) for r in runs],
                  "events/s")  # fmt: skip
        shares = {k: figs.runs(f"{label(pt)} CPU {k}", [r["cpu_share"].get(k, 0.0) for r in runs],
                               "share of CPU time") for k in CPU_KINDS}  # fmt: skip
        print(f"{label(pt):10s} {eps:8,.0f} events/s  {cpu_us:5.0f} CPU-us/event  CPU: "
              + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()))  # fmt: skip
    for name, sweep in SWEEPS.items():
        first = label(sweep[0])
        for pt in sweep[1:]:
            n = dict(zip(("workers", "partitions", "consumers"), pt, strict=True))[name]
            figs.ratio(f"{name} {n} / 1", 8, label(pt), first)
            figs.ratio(f"{name} {n} / 1, CPU per event", None, f"{label(pt)} CPU-us/event (ours)",
                       f"{first} CPU-us/event (ours)")  # fmt: skip
        curve = " -> ".join(f"{figs.median(label(pt)):,.0f}" for pt in sweep)
        figs.note(f"{name} 1 -> 2 -> 4: {curve} events/s")


def main(argv=None) -> int:
    args = parse_args(argv)
    figs = Figures("scaling", "Scaling: API workers, partitions, consumers 1 -> 2 -> 4", vars(args))
    print(machine_line())
    print(f"{args.events} events per point, batch endpoint, {args.events_per_request} events per "
          f"request, {args.threads} senders; medians of {args.repeats}")  # fmt: skip
    figs.note(f"{args.events:,} events per point: batch endpoint, {args.events_per_request} "
              f"events/request, {args.threads} senders, kafka-python, acks=all")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        with broker(args.bootstrap_servers, Path(tmp) / "kafka") as (bootstrap, pids):
            results = measure(args, bootstrap, pids, Path(tmp))
    print()
    record(figs, results)
    print("CPU shares are medians over the repetitions of each category's share of all core-time")
    figs.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
