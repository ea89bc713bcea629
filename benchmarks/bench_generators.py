"""Load generators on Dask: does splitting cost per request, and how much more do 2 offer?

    .venv/bin/python benchmarks/bench_generators.py [--repeats 5] [--rate 750] [--seconds 8]
        [--step-s 3] [--quick] [--json PATH]

Against the API with `--delivery noop` (granian, its 2 workers: no Kafka), on this machine:
1. **CPU per request**, open loops interleaved: the one in-process generator (today's, no Dask) at
   `--rate` requests/s and at half of it; 2 generators on a Dask LocalCluster at twice the rate (each
   as loaded as the one) and at the rate (each at half). The generators' CPU is their event loops'
   (metrics.json's `cpu_s`: the thread that sends); the whole figure adds all the mechanism runs: the
   Dask worker processes and this process (scheduler, client, merge), against this process alone.
   Target: 2 / 1 <= 1.1 with each generator at the same rate. An event loop's CPU per request
   depends on its rate (at half the rate each request wakes the loop more on its own), so 2
   generators sharing the same total rate are compared too, beside the one generator at half rate.
   `--rate` is low enough that 2 generators at twice it stay on time against the API on the same
   2 cores: a late run sends its backlog in bursts and costs less per request, which would flatter
   it (the runs' send-delay p99s are recorded, and how many were late).
2. **The highest open-loop rate offered on time**: a search per setup (from `--start-rps`, x1.3
   up while on time or /1.3 down while late, a step late only when late twice, then 3
   bisections; `--step-s` seconds a step): on time = sent at >= 98% of the rate with send-delay
   p99 <= 50 ms (the capacity search's bound for a 250 ms objective). 2 generators against 1. On
   2 cores the API shares the machine: at each setup's highest on-time rate the script gives each
   process's CPU share (cores) and what the generators would offer on hosts of their own (a core
   each): the rate divided by the busiest generator's share of a core.
3. **The LocalCluster's start-up**: `open_generators(2)` until both workers answered a clock probe,
   and its close.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_simulator import start_server  # noqa: E402
from cpu import descendants, machine_busy, processes  # noqa: E402
from figures import Figures, add_runner_flags  # noqa: E402

from harness.loadgen.generators import open_generators  # noqa: E402
from harness.simulator import SimulatorConfig, simulate  # noqa: E402

SEND_DELAY_P99_MS = 50.0  # on time: the capacity search's bound for a 250 ms objective
SENT_SHARE = 0.98
MAX_IN_FLIGHT = 2048


def proc_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) so far of `pids` and their children that still run."""
    table = processes()
    return sum(table[pid][1] for pid in descendants(pids, table))


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_once(url: str, rps: float, seconds: float, pool, api_pid: int) -> dict:
    """One open loop at `rps` requests/s; what it sent and what every process spent."""
    cfg = SimulatorConfig(url=url, events=max(2, int(rps * seconds)), rate=rps,
                          max_in_flight=MAX_IN_FLIGHT, generators=pool.count if pool else 1,
                          timeout_s=10)  # fmt: skip
    workers = [w.pid for w in pool.clocks()] if pool else []
    before = (self_cpu(), proc_cpu(workers), proc_cpu([api_pid]), machine_busy(), time.time())
    result = simulate(cfg, out_dir=None, progress=False, generators=pool)
    after = (self_cpu(), proc_cpu(workers), proc_cpu([api_pid]), machine_busy(), time.time())
    wall = after[4] - before[4]
    requests = cfg.requests
    gen_cpu = [g["cpu_s"] for g in result.generators]
    busy, total = after[3][0] - before[3][0], after[3][1] - before[3][1]
    return {
        "rps": rps,
        "requests": requests,
        "sent_rps": result.send_rate_eps,
        "delay_p99": result.send_delay_ms["p99"],
        "failed": result.failed,
        "on_time": result.send_rate_eps >= SENT_SHARE * rps
        and result.send_delay_ms["p99"] <= SEND_DELAY_P99_MS,
        "gen_us": sum(gen_cpu) / requests * 1e6,
        "all_us": (after[0] - before[0] + after[1] - before[1]) / requests * 1e6,
        # cores over the wall time of the whole call (set-up, clocks and merge included)
        "share": {
            **{f"generator {k}": c / result.duration_s for k, c in enumerate(gen_cpu)},
            "harness process": (after[0] - before[0]) / wall,
            "generator processes": (after[1] - before[1]) / wall if pool else None,
            "API": (after[2] - before[2]) / wall,
            "machine idle": (total - busy) / wall,
        },
        "busiest": max(g["busy"] or 0 for g in result.generators),
        # a task that reached its worker after the common start sends its first requests late
        "late_start_ms": max(g["late_start_ms"] or 0 for g in result.generators),
    }


def highest_on_time(url: str, start: float, step_s: float, pool, api_pid: int) -> dict:
    """From `start`, x1.3 up while on time or /1.3 down while late (a step is late only when it
    is late twice: once may be a stall of the shared machine) until both an on-time and a late
    step are known, then 3 bisections: the highest on-time step."""
    good, bad, rate = None, None, start
    for _ in range(14):
        step = run_once(url, rate, step_s, pool, api_pid)
        if not step["on_time"]:
            step = run_once(url, rate, step_s, pool, api_pid)
        if step["on_time"]:
            good, rate = step, rate * 1.3
        else:
            bad, rate = step, rate / 1.3
        if good and bad:
            break
    for _ in range(3 if good and bad else 0):
        rate = (good["rps"] + bad["rps"]) / 2
        step = run_once(url, rate, step_s, pool, api_pid)
        good, bad = (step, bad) if step["on_time"] else (good, step)
    return {"good": good, "bad": bad}


def startup(repeats: int) -> tuple[list[float], list[float]]:
    starts, closes = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with open_generators(2) as pool:
            pool.clocks()
            starts.append(time.perf_counter() - t0)
            t1 = time.perf_counter()
        closes.append(time.perf_counter() - t1)
    return starts, closes


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rate", type=float, default=750.0, help="requests/s of the CPU comparison")
    p.add_argument("--seconds", type=float, default=8.0, help="length of the CPU comparison runs")
    p.add_argument("--start-rps", type=float, default=3000.0, help="the rate search's first step")
    p.add_argument("--step-s", type=float, default=3.0, help="seconds of each search step")
    p.add_argument("--workers", type=int, default=2, help="the no-op API's worker processes")
    add_runner_flags(p, "1 repetition, 5 s CPU runs")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.seconds = 1, 5.0
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    figs = Figures("generators", "Load generators on Dask: CPU per request, rate on time",
                   vars(args))  # fmt: skip
    for lib in ("distributed", "dask"):
        from harness.environment import library_version

        figs.data["libraries"][lib] = library_version(lib)
    starts, closes = startup(args.repeats + 2)
    figs.runs("LocalCluster of 2: start to ready", starts, "s")
    figs.runs("LocalCluster of 2: close", closes, "s")
    print(f"LocalCluster(2) start {statistics.median(starts):.2f} s, close "
          f"{statistics.median(closes):.2f} s", flush=True)  # fmt: skip
    # (label, generators, rate factor): the CPU comparison's setups
    setups = (("gen1", 1, 1.0), ("gen1 half", 1, 0.5), ("gen2", 2, 2.0), ("gen2 same", 2, 1.0))
    cpu: dict[str, list[dict]] = {label: [] for label, _, _ in setups}
    searches: dict[int, list[dict]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="bench-gen-") as tmp, open_generators(2) as pool:
        server, url, which = start_server(args.workers, "/register_event", Path(tmp))
        figs.note(f"server: {which}, {args.workers} workers, single events, max_in_flight "
                  f"{MAX_IN_FLIGHT}; on time: sent >= {SENT_SHARE:.0%} of the rate and send-delay "
                  f"p99 <= {SEND_DELAY_P99_MS:g} ms; CPU runs at {args.rate:g} requests/s "
                  f"(x0.5, x1, x2) for {args.seconds:g} s")  # fmt: skip
        try:
            api_pid = server.pid
            run_once(url, args.rate, 2.0, None, api_pid)  # warm the API's workers
            for rep in range(args.repeats):  # interleaved: background load hits all alike
                for label, n, factor in setups:
                    r = run_once(url, args.rate * factor, args.seconds, pool if n > 1 else None,
                                 api_pid)  # fmt: skip
                    cpu[label].append(r)
                    print(f"rep {rep + 1} cpu: {label} at {r['rps']:,.0f} req/s: generators "
                          f"{r['gen_us']:.1f} CPU-us/req (all {r['all_us']:.1f}), send delay p99 "
                          f"{r['delay_p99']:.1f} ms (late start {r['late_start_ms']:.0f} ms), load "
                          f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
                for n in (1, 2):
                    found = highest_on_time(url, args.start_rps, args.step_s,
                                            pool if n > 1 else None, api_pid)  # fmt: skip
                    searches[n].append(found)
                    g = found["good"]
                    shares = {k: round(v, 2) for k, v in (g or {}).get("share", {}).items()
                              if v is not None}  # fmt: skip
                    print(
                        f"rep {rep + 1} search: {n} generator(s) on time up to "
                        f"{g['rps'] if g else 0:,.0f} req/s, cores {shares}",
                        flush=True,
                    )
        finally:
            server.stop()
    report(figs, cpu, searches)
    figs.finish(args.json)
    return 0


def report(figs: Figures, cpu: dict, searches: dict) -> None:
    figs.ratio("LocalCluster of 2 generators: start-up", 10, "LocalCluster of 2: start to ready",
               None)  # fmt: skip
    for label in cpu:
        figs.runs(f"{label} CPU", [r["gen_us"] for r in cpu[label]], "CPU-us/request")
        figs.runs(f"{label} all CPU", [r["all_us"] for r in cpu[label]], "CPU-us/request")
        figs.runs(f"{label} send delay p99", [r["delay_p99"] for r in cpu[label]], "ms")
    # A late run is not the same work: its loop sends backlogs in bursts, fewer wake-ups a request
    late = {label: sum(not r["on_time"] for r in runs) for label, runs in cpu.items()}
    figs.note("CPU runs late (sent < 98% of the rate or send-delay p99 > 50 ms), of "
              f"{len(next(iter(cpu.values())))} each: "
              + ", ".join(f"{label} {n}" for label, n in late.items()))  # fmt: skip
    figs.ratio("generators' CPU per request: 2 generators / 1, each at the same rate", 10,
               "gen2 CPU", "gen1 CPU", 1.1, op="<=")  # fmt: skip
    figs.ratio("whole CPU per request (+ Dask workers, harness), 2 / 1, same rate each", 10,
               "gen2 all CPU", "gen1 all CPU")  # fmt: skip
    figs.ratio("generators' CPU per request: 2 generators / 1, the same total rate", 10,
               "gen2 same CPU", "gen1 CPU")  # fmt: skip
    figs.ratio("one generator at half the rate / at the rate (why the line above)", 10,
               "gen1 half CPU", "gen1 CPU")  # fmt: skip
    for n in (1, 2):
        goods = [s["good"] for s in searches[n]]
        figs.runs(f"gen{n} on time", [g["rps"] if g else 0.0 for g in goods], "requests/s")
        for name in ("API", "harness process", "generator processes", "machine idle"):
            values = [g["share"][name] for g in goods if g and g["share"].get(name) is not None]
            if values:
                figs.runs(f"gen{n} at it: {name}", values, "cores")
        busiest = [g["busiest"] for g in goods if g]
        # a core each: the rate the generators would offer if the busiest one had a whole core
        alone = [g["rps"] / g["busiest"] for g in goods if g and g["busiest"]]
        if busiest and alone:
            figs.runs(f"gen{n} at it: busiest generator", busiest, "cores")
            figs.runs(f"gen{n} on hosts of their own", alone, "requests/s")
        else:  # not one step on time: said, and the ratios below are left out
            figs.note(f"{n} generator(s): no step was on time from the first rate on")
    if not all(f"gen{n} on hosts of their own" in figs.data["figures"] for n in (1, 2)):
        return
    figs.ratio("highest on-time open-loop rate, 2 local generators / 1", 10, "gen2 on time",
               "gen1 on time")  # fmt: skip
    figs.ratio("the same on hosts of their own (a core each), 2 / 1", 10,
               "gen2 on hosts of their own", "gen1 on hosts of their own")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
