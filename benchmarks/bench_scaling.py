"""Scaling: end-to-end events/s as API workers, partitions and consumers grow 1 -> 2 -> 4.

    .venv/bin/python benchmarks/bench_scaling.py [--events 50000] [--repeats 3] [--quick]
        [--json PATH] [--bootstrap-servers B]

Every point is one full experiment (`harness.run.run_experiment`: consumers, API, simulator,
drain, analysis) on one shared broker, its own topic; throughput is metrics.json's
`throughput_eps` (unique events logged per second, first send to last consumption). The sweeps
start from one base point (1 worker, 1 partition, 1 consumer) and grow one dimension at a time:
- workers 1, 2, 4 (gunicorn processes, 1 partition, 1 consumer);
- partitions 1, 2, 4 (1 worker, 1 consumer);
- consumers 1, 2, 4 (1 worker, 4 partitions: a consumer per partition at most).
The load is the batch endpoint, 100 events per request from 16 senders, so that Kafka's side, not
only HTTP, carries weight. Repetitions are interleaved over the points. Each run also accounts
the CPU time of the API, the consumers, the broker, the simulator, the rest of the machine and
the idle time (benchmarks/cpu.py) from the first send to the last consumption: where the 2 cores
went while events flowed, hence why a curve flattens.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from broker import broker
from cpu import CpuSampler
from figures import Figures

from harness.environment import machine_line
from harness.params import RunConfig
from harness.run import run_experiment

SWEEPS = {
    "workers": [(1, 1, 1), (2, 1, 1), (4, 1, 1)],
    "partitions": [(1, 1, 1), (1, 2, 1), (1, 4, 1)],
    "consumers": [(1, 4, 1), (1, 4, 2), (1, 4, 4)],
}
CPU_KINDS = ("api", "consumer", "broker", "simulator", "others", "machine idle")


def label(point: tuple[int, int, int]) -> str:
    w, p, c = point
    return f"w{w} p{p} c{c}"


def run_point(point, args, bootstrap: str, broker_pids: list[int], out: Path) -> dict:
    workers, partitions, consumers = point
    cfg = RunConfig(
        events=args.events, threads=args.threads, endpoint="batch",
        events_per_request=args.events_per_request, workers=workers, partitions=partitions,
        consumers=consumers, bootstrap_servers=bootstrap,
    )  # fmt: skip
    sampler = CpuSampler(broker_pids).start()
    metrics = run_experiment(cfg, out, progress=False)
    sampler.stop()
    window = metrics.get("window") or {}
    cpu = sampler.window(window.get("start") or 0.0, window.get("end") or float("inf"))
    counts = metrics["counts"]
    if counts["lost"] or counts["unique_consumed"] < counts["accepted"]:
        print(f"  ({label(point)}: lost {counts['lost']} of {counts['accepted']})", file=sys.stderr)
    wall = metrics["duration_s"] or float("nan")
    return {
        "eps": metrics["throughput_eps"] or 0.0,
        # share of the 2 cores' time from the first send to the last consumption
        "cpu_share": {k: v / max(1e-9, sum(cpu.values())) for k, v in cpu.items()},
        "wall": wall,
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=50_000)
    p.add_argument("--events-per-request", type=int, default=100)
    p.add_argument("--threads", type=int, default=16, help="concurrent senders")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="20,000 events per point")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--bootstrap-servers", help="an external cluster instead of an embedded one")
    args = p.parse_args(argv)
    if args.quick:
        args.events = 20_000
    return args


def measure(args, bootstrap: str, broker_pids: list[int], tmp: Path) -> dict[tuple, list[dict]]:
    points = list(dict.fromkeys(pt for sweep in SWEEPS.values() for pt in sweep))
    results: dict[tuple, list[dict]] = {pt: [] for pt in points}
    for rep in range(args.repeats):
        for pt in points:
            r = run_point(
                pt, args, bootstrap, broker_pids, tmp / f"{label(pt)}-{rep}".replace(" ", "")
            )
            results[pt].append(r)
            share = ", ".join(f"{k} {r['cpu_share'].get(k, 0):.0%}" for k in CPU_KINDS)
            print(f"  rep {rep + 1} {label(pt):10s} {r['eps']:8,.0f} events/s   CPU: {share}",
                  flush=True)  # fmt: skip
    return results


def record(figs: Figures, results: dict[tuple, list[dict]]) -> None:
    for pt, runs in results.items():
        eps = figs.runs(label(pt), [r["eps"] for r in runs], "events/s")
        shares = {k: figs.runs(f"{label(pt)} CPU {k}", [r["cpu_share"].get(k, 0.0) for r in runs],
                               "share of CPU time") for k in CPU_KINDS}  # fmt: skip
        print(f"{label(pt):10s} {eps:8,.0f} events/s   CPU: "
              + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()))  # fmt: skip
    for name, sweep in SWEEPS.items():
        first = label(sweep[0])
        for pt in sweep[1:]:
            n = dict(zip(("workers", "partitions", "consumers"), pt, strict=True))[name]
            figs.ratio(f"{name} {n} / 1", 8, label(pt), first)
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
    walls = [r["wall"] for runs in results.values() for r in runs]
    figs.note(f"median measured span per run {statistics.median(walls):.1f} s")
    figs.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
