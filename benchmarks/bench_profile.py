"""Profiles behind the missed targets: py-spy on the API's workers under load, and on the analysis.

    .venv/bin/python benchmarks/bench_profile.py [--duration 10] [--quick] [--json PATH]
        [--only full,seed,noop,analysis] [--bootstrap-servers B]

- full / noop / seed: the API as bench_api.py runs it (the default server and client with `ack`
  delivery; the default server with `noop`; seed-style: Werkzeug + `flush` + kafka-python), 200
  closed-loop senders of single events; `py-spy record --gil`
  samples every worker process for `--duration` seconds, so only samples where Python code held
  the GIL count: the API's own CPU-bound work, which is what limits it on 2 cores.
- analysis: `py-spy record` of a child that parses and summarizes a synthetic log of `--lines`
  lines (bench_analysis.write_run) with read_events_log, compute_metrics and per_second.
- simulator: the load generator itself (this process) while it drives the noop API.
Samples taken while a module was being imported are left out (start-up, not the work). Each
profile is summarized as: own time charged to the package it was spent in (standard library
frames are charged to the nearest caller outside it, e.g. a socket.send called by gunicorn counts
as gunicorn), the top functions by own time, and the share of samples inside each of our own
(app/, harness/) functions. Raw py-spy output (collapsed stacks) stays in the temporary directory
unless `--keep DIR`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from broker import broker
from figures import Figures, add_runner_flags

from app.settings import DEFAULT_CLIENT, DEFAULT_SERVER, ProducerSettings
from harness import admin
from harness.environment import library_version, machine_line
from harness.params import SEED_STYLE
from harness.processes import ManagedProcess
from harness.services import ApiService
from harness.simulator import SimulatorConfig, simulate

PY_SPY = str(Path(sys.executable).with_name("py-spy"))
SCENARIOS = {  # name: (server, delivery, client)
    "full": (DEFAULT_SERVER, "ack", DEFAULT_CLIENT),
    "noop": (DEFAULT_SERVER, "noop", DEFAULT_CLIENT),
    "seed": (SEED_STYLE["server"], SEED_STYLE["delivery"], SEED_STYLE["client"]),
}
PACKAGES = {  # first path component as py-spy prints it -> the name shown
    "kafka": "kafka-python", "confluent_kafka": "confluent-kafka", "gunicorn": "gunicorn",
    "flask": "flask", "werkzeug": "werkzeug", "app": "app (our API)", "orjson": "orjson",
    "harness": "harness (ours)", "pandas": "pandas", "numpy": "numpy", "pyarrow": "pyarrow",
}  # fmt: skip
TOP = 12


# ---------------------------------------------------------------- collapsed stacks


def read_collapsed(path: Path) -> Counter:
    """py-spy's raw output: `frame;frame;...;leaf count` per line -> {tuple(frames): count}."""
    stacks: Counter = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = tuple(f for f in stack.split(";") if not f.startswith(("process ", "thread ")))
            if not any("<frozen importlib" in f for f in frames):  # start-up imports: not the work
                stacks[frames] += int(count)
    return stacks


def frame_file(frame: str) -> str:
    """`send (kafka/producer/kafka.py:123)` -> `kafka/producer/kafka.py`."""
    inner = frame.rpartition(" (")[2].rstrip(")")
    return inner.rpartition(":")[0] or inner


def frame_function(frame: str) -> str:
    """`send (kafka/producer/kafka.py:123)` -> `send (kafka/producer/kafka.py)` (no line)."""
    return f"{frame.rpartition(' (')[0]} ({frame_file(frame)})"


def package(frame: str) -> str | None:
    """Our name for the package a frame is in; None for the standard library and the rest."""
    return PACKAGES.get(frame_file(frame).split("/", 1)[0])


def summarize(stacks: Counter, tool: str, target: str) -> dict:
    total = sum(stacks.values()) or 1
    own_fn: Counter = Counter()
    by_pkg: Counter = Counter()
    ours: Counter = Counter()
    for frames, count in stacks.items():
        if not frames:
            continue
        own_fn[frame_function(frames[-1])] += count
        charged = next((p for f in reversed(frames) if (p := package(f))), "other (stdlib, ...)")
        by_pkg[charged] += count
        for fn in {
            frame_function(f) for f in frames if package(f) in ("app (our API)", "harness (ours)")
        }:
            ours[fn] += count
    share = lambda c: {k: v / total for k, v in c.most_common()}  # noqa: E731
    return {
        "tool": tool, "target": target, "samples": sum(stacks.values()),
        "by_package": share(by_pkg),
        "top_self": [[k, v / total] for k, v in own_fn.most_common(TOP)],
        "ours_inclusive": [[k, v / total] for k, v in ours.most_common(TOP)],
    }  # fmt: skip


# ---------------------------------------------------------------- the API under load


def worker_pids(pid: int) -> list[int]:
    """The server's workers (gunicorn's or granian's children), or the process itself (Werkzeug)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return [int(k) for k in kids] or [pid]


def spy(pid: int, duration: int, out: Path, gil: bool) -> ManagedProcess:
    cmd = [PY_SPY, "record", "--pid", str(pid), "--duration", str(duration), "--rate", "100",
           "--format", "raw", "--nonblocking", "-o", str(out)] + (["--gil"] if gil else [])  # fmt: skip
    return ManagedProcess(f"py-spy {pid}", cmd, out.with_suffix(".log")).start()


def profile_api(name: str, bootstrap: str, args, tmp: Path) -> dict[str, dict]:
    server, delivery, client = SCENARIOS[name]
    topic = f"profile-{name}-{uuid.uuid4().hex[:6]}"
    admin.create_topic(bootstrap, topic, 3, 1)
    settings = ProducerSettings.from_env({}, bootstrap_servers=bootstrap, topic=topic,
                                         delivery=delivery, client=client)  # fmt: skip
    with ApiService(settings, tmp / f"api-{name}.log", server=server) as api:
        warm = simulate(
            SimulatorConfig(url=api.url, events=1000, threads=200), None, progress=False
        )
        # Enough events to outlast the sampling; it stops when the load does, whichever first.
        events = int(warm.achieved_eps * (args.duration + 2) * 1.5) + 1000
        pids = worker_pids(api.pid)
        outs = [tmp / f"{name}-{pid}.txt" for pid in pids]
        spies = [
            spy(pid, args.duration, out, gil=True) for pid, out in zip(pids, outs, strict=True)
        ]
        if name == "noop":  # the simulator's own cost, where the server costs least
            spies.append(spy(os.getpid(), args.duration, tmp / "simulator.txt", gil=True))
        try:
            time.sleep(0.5)  # py-spy attached before the load starts
            result = simulate(SimulatorConfig(url=api.url, events=events, threads=200), None,
                              progress=False)  # fmt: skip
            for s in spies:
                s.proc.wait(timeout=args.duration + 60)
        finally:
            for s in spies:
                s.stop()
    stacks: Counter = Counter()
    for out in outs:
        if out.exists():
            stacks.update(read_collapsed(out))
    target = (f"{server} + `{delivery}` delivery ({client}), {len(pids)} worker process(es), 200 senders of "
              f"single events at {result.achieved_eps:,.0f} events/s; samples with the GIL held")  # fmt: skip
    tool = f"py-spy {library_version('py-spy')} (--gil, 100 Hz)"
    profiles = {f"API, {name}": summarize(stacks, tool, target)}
    if name == "noop" and (tmp / "simulator.txt").exists():
        target = (f"the simulator (raw HTTP client, 1 process, 200 senders) driving the noop API "
                  f"at {result.achieved_eps:,.0f} requests/s; samples with the GIL held")  # fmt: skip
        profiles["simulator"] = summarize(read_collapsed(tmp / "simulator.txt"), tool, target)
    return profiles


# ---------------------------------------------------------------- the analysis


def analysis_child(run_dir: str) -> None:
    from harness.analysis import compute_metrics, per_second, read_client_records, read_events_log

    records = read_client_records(Path(run_dir))
    df = read_events_log(Path(run_dir) / "events.log")
    compute_metrics(records, df, {}, {})
    per_second(records, df)


def profile_analysis(args, tmp: Path) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_analysis import write_run

    run = tmp / "analysis-run"
    run.mkdir()
    write_run(run, args.lines)
    out = tmp / "analysis.txt"
    cmd = [PY_SPY, "record", "--rate", "100", "--format", "raw", "-o", str(out), "--",
           sys.executable, __file__, "--child-analysis", str(run)]  # fmt: skip
    with ManagedProcess("py-spy analysis", cmd, tmp / "analysis.log") as proc:
        proc.proc.wait(timeout=600)
    target = (
        f"read_events_log + compute_metrics + per_second of a {args.lines:,}-line log "
        "(all threads; native code is charged to the Python frame that called it)"
    )
    return summarize(read_collapsed(out), f"py-spy {library_version('py-spy')} (100 Hz)", target)


# ---------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=int, default=10, help="seconds of sampling per API")
    p.add_argument("--lines", type=int, default=1_000_000, help="log lines for the analysis")
    p.add_argument("--only", default="full,seed,noop,analysis")
    add_runner_flags(p, "6 s per API, a 300,000-line log")
    p.add_argument("--keep", help="copy py-spy's raw output (collapsed stacks) here")
    p.add_argument("--child-analysis", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.lines = 6, 300_000
    return args


def print_profile(name: str, prof: dict) -> None:
    print(f"\n{name}: {prof['samples']} samples; {prof['target']}")
    for pkg, share in prof["by_package"].items():
        print(f"  {share:6.1%}  {pkg}")
    print("  top functions by own time:")
    for fn, share in prof["top_self"]:
        print(f"    {share:6.1%}  {fn}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child_analysis:
        analysis_child(args.child_analysis)
        return 0
    figs = Figures("profile", "Profiles (py-spy) of the API and the analysis", vars(args))
    print(machine_line())
    wanted = args.only.split(",")
    profiles = {}
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        tmp_path = Path(tmp)
        if any(n in SCENARIOS for n in wanted):
            with broker(args.bootstrap_servers, tmp_path / "kafka") as (bootstrap, _pids):
                for name in (n for n in wanted if n in SCENARIOS):
                    for title, prof in profile_api(name, bootstrap, args, tmp_path).items():
                        profiles[title] = prof
                        print_profile(title, prof)
        if "analysis" in wanted:
            profiles["analysis"] = profile_analysis(args, tmp_path)
            print_profile("analysis", profiles["analysis"])
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            for raw in tmp_path.glob("*.txt"):
                shutil.copy(raw, args.keep)
    figs.data["profiles"] = profiles
    figs.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
