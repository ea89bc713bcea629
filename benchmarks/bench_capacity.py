"""Capacity: the highest rate the default setting and the seed-style setup sustain under one p99
objective, each found by the capacity search (harness/capacity), in the same run.

    .venv/bin/python benchmarks/bench_capacity.py [--p99-objective-ms 250] [--repeats 3]
        [--out DIR] [--quick] [--json PATH] [--bootstrap-servers B]

Each search runs on one shared broker with a system of its own (topic, consumer, API): a closed-loop
probe, open-loop steps growing until one fails, bisection to the precision, a confirming step
(docs/capacity.md). Repetitions interleave the two settings, so a shared machine's drift spreads
over both. Per setting: the capacity (events/s; a search that ends without one, generator-bound or
below its lowest step, records the rate its result refers to and says so in a note), the steps it
took and its seconds; then the ratio default / seed-style. Figures of a busy machine are noisy:
compare the ratio, measured in one run, not the absolute rates.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from broker import broker
from figures import Figures, add_runner_flags

from harness.capacity import Objective, SearchSettings, search_capacity
from harness.environment import machine_line
from harness.params import SEED_STYLE, RunConfig

# The setups compared: the harness's defaults, and the seed's Werkzeug dev server with a
# send + flush per request.
SETTINGS = {"default": {}, "seed-style": SEED_STYLE}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--p99-objective-ms", type=float, default=250.0)
    p.add_argument(
        "--repeats", type=int, default=3, help="searches per setting (their spread: repeatability)"
    )
    p.add_argument("--out", default=None, help="where the searches go (default: a temp dir)")
    add_runner_flags(p, quick_help="a coarser search: precision 10%%, at most 6 steps")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    objective = Objective(p99_ms=args.p99_objective_ms)
    search = SearchSettings(precision=0.1, max_steps=6) if args.quick else SearchSettings()
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-capacity-")).resolve()
    figs = Figures("capacity", "Capacity under a p99 objective", params=vars(args))
    found: dict[str, dict[str, list[float]]] = {
        name: {"capacity": [], "steps": [], "seconds": []} for name in SETTINGS
    }
    with broker(args.bootstrap_servers, out / "kafka") as (bootstrap, _pids):
        for rep in range(1, args.repeats + 1):
            for name, overrides in SETTINGS.items():
                cfg = RunConfig(bootstrap_servers=bootstrap, **overrides)
                started = time.monotonic()
                result = search_capacity(cfg, out / name / f"rep-{rep}", objective, search,
                                         progress=False)  # fmt: skip
                seconds = time.monotonic() - started
                rate = result["capacity_eps"] or result["bound_eps"] or float("nan")
                found[name]["capacity"].append(rate)
                found[name]["steps"].append(len(result["steps"]))
                found[name]["seconds"].append(seconds)
                if result["result"] != "found":
                    figs.note(f"{name}, search {rep}: {result['summary']}")
                print(f"{name:<11} search {rep}: {result['summary']} "
                      f"({len(result['steps'])} steps, {seconds:.0f} s)", flush=True)  # fmt: skip
    for name, values in found.items():
        figs.runs(f"{name} capacity", values["capacity"], "events/s")
        figs.runs(f"{name} steps", values["steps"], "steps")
        figs.runs(f"{name} seconds", values["seconds"], "s")
        spread = max(values["capacity"]) / min(values["capacity"]) if args.repeats > 1 else None
        if spread:
            figs.note(f"{name}: max/min capacity over {args.repeats} searches {spread:.2f}")
    figs.ratio("capacity: default / seed-style", None, "default capacity", "seed-style capacity")
    figs.note(f"objective: http p99 <= {objective.p99_ms:g} ms; searches in {out}")
    figs.note(machine_line())
    print(machine_line())
    figs.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
