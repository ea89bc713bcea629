"""Analysis speed on a large synthetic run: parse the consumer log, then summarize it.

    .venv/bin/python benchmarks/bench_analysis.py [--lines 1000000] [--repeat 3] [--no-compare]
                                                  [--stdlib] [--quick] [--json PATH]

Writes a log of `--lines` lines in the consumer's exact format (compact JSON as the simulator
sends it, the consumer's spliced fields; 0.1% redeliveries, a few lost events, torn lines) and
the matching client_records.parquet into a temporary directory, then times, median of
`--repeat`: read_events_log (parse), compute_metrics + per_second (summarize). With comparison
on, it also times a per-line parser of the same file (orjson in a list comprehension; with
--stdlib also json.loads) and prints their time as a ratio to read_events_log's, all in this same run
(steps interleaved per repetition, so outside load hits them alike; medians and minima, wall and
CPU time, and the load average are printed: on a shared machine, read the CPU column too).
Also times per_second with the event-id join rebuilt (as before analysis/matching.py reused it)
to show what the reuse saves, in the same run. The objective (item 7 of docs/BENCHMARKS.md) for a 1M-line log is parse + summarize < 5 s (median wall) on
this 2-core machine. `--quick`: the same 1M lines, without the per-line comparison parsers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
from figures import Figures, add_runner_flags

from harness.analysis import (
    compute_metrics,
    matching,
    per_second,
    read_client_records,
    read_events_log,
)
from harness.environment import machine_line

RUN_ID = "bench"
EVENT_NAMES = ("signup", "login", "purchase", "logout", "page_view", "add_to_cart")


def _asctime(epoch: float, cache: dict[int, str]) -> str:
    second = int(epoch)
    if second not in cache:
        cache[second] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
    return f"{cache[second]},{int((epoch - second) * 1000):03d}"


def write_run(out: Path, lines: int, seed: int = 1) -> None:
    """A synthetic run: events.log with `lines` lines and client_records.parquet."""
    rng = np.random.default_rng(seed)
    n_events = int(lines / 1.001)
    sent = 1.75e9 + np.arange(n_events) / 20_000.0  # 20k events/s
    done = sent + rng.lognormal(-5.5, 0.5, n_events)
    consumed = sent + rng.lognormal(-4.0, 0.6, n_events)
    user = rng.integers(1, 10_000, n_events)
    names = rng.integers(0, len(EVENT_NAMES), n_events)
    logged = np.arange(n_events)
    lost = rng.choice(n_events, 10, replace=False)
    logged = np.setdiff1d(logged, lost)
    redelivered = np.sort(rng.choice(logged, lines - len(logged), replace=False))
    order = np.concatenate([logged, redelivered]).tolist()
    sent_l, consumed_l, user_l = sent.tolist(), consumed.tolist(), user.tolist()
    names_l = [EVENT_NAMES[k] for k in names.tolist()]
    cache: dict[int, str] = {}
    with open(out / "events.log", "w") as fh:
        for k, i in enumerate(order):
            body = (
                f'{{"event":"{names_l[i]}","user_id":{user_l[i]},'
                f'"event_id":"{RUN_ID}-{i}","sent_at":{sent_l[i]!r},'
                f'"received_at":{sent_l[i] + 0.0004!r}, "consumed_at": {consumed_l[i]!r}, '
                f'"partition": {i % 3}, "offset": {k // 3}}}'
            )
            fh.write(f"{_asctime(consumed_l[i], cache)} - {body}\n")
            if k % 250_000 == 1:  # a torn line now and then (not counted as an event)
                fh.write(f"{_asctime(consumed_l[i], cache)} - {body[:40]}\n")
    pd.DataFrame(
        {
            "event_id": [f"{RUN_ID}-{i}" for i in range(n_events)],
            "request_id": np.arange(n_events, dtype=np.int64),
            "scheduled_at": np.full(n_events, np.nan),
            "sent_at": sent,
            "done_at": done,
            "status": np.full(n_events, 200, dtype=np.int64),
            "accepted": np.ones(n_events, dtype=bool),
            "error": "",
        }
    ).to_parquet(out / "client_records.parquet", index=False)


def _per_line(loads: Callable[[bytes], object]) -> Callable[[Path], pd.DataFrame]:
    """A straightforward parser: split each line, `loads` its JSON, build the frame."""

    def parse(path: Path) -> pd.DataFrame:
        rows, stamps = [], []
        for line in path.read_bytes().splitlines():
            try:
                obj = loads(line[26:])
            except ValueError:
                continue
            if isinstance(obj, dict):
                rows.append(obj)
                stamps.append(line[:23].decode())
        frame = pd.DataFrame(rows)
        frame["log_time"] = pd.to_datetime(stamps, format="%Y-%m-%d %H:%M:%S,%f")
        return frame

    return parse


def _timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall s, CPU s of this process over all its threads, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _line(name: str, walls: list[float], cpus: list[float], extra: str = "") -> str:
    return (
        f"  {name:<22} median {statistics.median(walls):6.2f} s  min {min(walls):6.2f} s wall"
        f"  | median {statistics.median(cpus):6.2f} s CPU  {extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-compare", action="store_true", help="skip the per-line parsers")
    parser.add_argument(
        "--stdlib", action="store_true", help="also time json.loads per line (slow)"
    )
    add_runner_flags(parser, "no per-line comparison parsers")
    args = parser.parse_args()
    if args.quick:
        args.no_compare = True
    figs = Figures("analysis", "Analysis: parse and summarize a 1M-event log", vars(args))
    print(machine_line())
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        start = time.perf_counter()
        write_run(run, args.lines)
        log = run / "events.log"
        size = log.stat().st_size / 2**20
        print(
            f"generated {args.lines:,} lines ({size:.0f} MiB) in {time.perf_counter() - start:.1f} s"
        )
        records = read_client_records(run)
        alternatives = {} if args.no_compare else {"orjson per line": _per_line(orjson.loads)}
        if args.stdlib and not args.no_compare:
            alternatives["json per line"] = _per_line(json.loads)
        times: dict[str, tuple[list[float], list[float]]] = {}
        ratios: dict[str, list[float]] = {name: [] for name in alternatives}
        for _ in range(args.repeat):  # interleaved, so that outside load hits every step alike
            wall, cpu, df = _timed(partial(read_events_log, log))
            results = {"read_events_log": (wall, cpu)}
            results["compute_metrics"] = _timed(partial(compute_metrics, records, df, {}, {}))[:2]
            results["per_second"] = _timed(partial(per_second, records, df))[:2]
            results["parse + summarize"] = tuple(map(sum, zip(*results.values(), strict=True)))
            # The same per_second without the reused join (as before the fix), for the ratio.
            matching._lookups.__init__()
            results["per_second, join not reused"] = _timed(partial(per_second, records, df))[:2]
            for name, parse in alternatives.items():
                alt_wall, alt_cpu, alt = _timed(partial(parse, log))
                assert len(alt) == len(df), (name, len(alt), len(df))
                results[name] = (alt_wall, alt_cpu)
                ratios[name].append(alt_wall / wall)
            for name, (w, c) in results.items():
                times.setdefault(name, ([], []))
                times[name][0].append(w)
                times[name][1].append(c)
        metrics = compute_metrics(records, df, {}, {})
        print(
            f"{args.repeat} repetitions; {len(df):,} events parsed, "
            f"{df.attrs['unparsed_lines']} unparsed lines; counts {json.dumps(metrics['counts'])}"
        )
        for name, (walls, cpus) in times.items():
            extra = ""
            if name == "read_events_log":
                extra = f"({len(df) / statistics.median(walls):,.0f} lines/s)"
            if name in ratios:
                extra = f"= {statistics.median(ratios[name]):.1f}x read_events_log (median ratio)"
            print(_line(name, walls, cpus, extra))
        for name, (walls, cpus) in times.items():
            figs.runs(name, walls, "s")
            figs.runs(f"{name} CPU", cpus, "CPU-s")
        figs.note(f"{args.lines:,} lines ({size:.0f} MiB); {len(df):,} events parsed")
        figs.ratio(f"parse + summarize {args.lines:,} lines (wall)", 7, "parse + summarize", None,
                   5.0, "<")  # fmt: skip
        # CPU time, all threads (pyarrow parses on both cores): what a loaded machine disturbs
        # least; no target, since on an idle machine it may exceed the wall time.
        figs.ratio("parse + summarize (CPU time, all threads)", 7, "parse + summarize CPU", None)
        figs.ratio("per_second: join not reused / reused (CPU)", None,
                   "per_second, join not reused CPU", "per_second CPU")  # fmt: skip
        for name in ratios:
            figs.ratio(f"{name} / read_events_log", None, name, "read_events_log")
    figs.finish(args.json)


if __name__ == "__main__":
    main()
