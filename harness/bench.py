"""`python -m harness bench [--quick] [--only api,producer,...]`: every benchmark in one go.

Each script under benchmarks/ runs in its own process (a ManagedProcess) with `--json`, against one
embedded broker started here and shared by all (or `--bootstrap-servers`); its output streams
through with a prefix, so progress shows. The figures come back as JSON (benchmarks/figures.py);
this module prints one table (ratio, target, met/missed, the raw medians behind it) and writes
docs/BENCHMARKS.md: machine, versions, date, command, the table, every raw figure, the profiles,
and for each missed target why and what would fix it (benchmarks/why.yaml, written from the
profiles). Every figure is a ratio of two things measured side by side in the same run, a median
of repetitions, because the machines here are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from harness.environment import environment, library_version
from harness.paths import PROJECT_ROOT as ROOT
from harness.processes import ManagedProcess

BENCH_DIR = ROOT / "benchmarks"
DOC = ROOT / "docs" / "BENCHMARKS.md"
WHY_FILE = BENCH_DIR / "why.yaml"
PIDS_ENV = "HARNESS_BENCH_BROKER_PIDS"  # benchmarks/broker.py reads it (CPU accounting)


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    items: tuple[int, ...]  # the numbered items of docs/BENCHMARKS.md it answers
    kafka: bool = True
    default: bool = True


BENCHMARKS = [
    Bench("api", "bench_api.py", (1, 2)),
    Bench("producer", "bench_producer.py", (3, 4)),
    Bench("simulator", "bench_simulator.py", (5,), kafka=False),
    Bench("consumer", "bench_consumer.py", (6,)),
    Bench("analysis", "bench_analysis.py", (7,), kafka=False),
    Bench("scaling", "bench_scaling.py", (8,)),
    Bench("profile", "bench_profile.py", (1, 2, 7)),
    Bench("startup", "bench_kafka_startup.py", (), kafka=False, default=False),
    Bench("batch-path", "bench_batch_path.py", (), kafka=False, default=False),
    Bench("capacity", "bench_capacity.py", ()),
    Bench("events", "bench_events.py", (9,)),
    Bench("generators", "bench_generators.py", (10,), kafka=False),
]
BY_NAME = {b.name: b for b in BENCHMARKS}


# ---------------------------------------------------------------- running


def select(only: str | None) -> list[Bench]:
    if not only:
        return [b for b in BENCHMARKS if b.default]
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; known: {list(BY_NAME)}")
    return [BY_NAME[n] for n in names]


def script_command(bench: Bench, json_path: Path, quick: bool, bootstrap: str | None) -> list[str]:
    cmd = [sys.executable, str(BENCH_DIR / bench.script), "--json", str(json_path)]
    if quick:
        cmd.append("--quick")
    if bench.kafka and bootstrap:
        cmd += ["--bootstrap-servers", bootstrap]
    return cmd


def _echo_new_lines(path: Path, offset: int, prefix: str) -> int:
    """Prints what `path` gained since `offset`, each line prefixed; returns the new offset."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return offset
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.decode("utf-8", "replace").splitlines():
        print(f"{prefix}{line[:200]}", flush=True)
    return offset + len(complete)


def run_script(bench: Bench, out_dir: Path, quick: bool, bootstrap: str | None, env: dict,
               timeout_s: float) -> dict:  # fmt: skip
    """Runs one script to completion; its figures, or {"benchmark", "error"} when it failed."""
    json_path, log_path = out_dir / f"{bench.name}.json", out_dir / f"{bench.name}.log"
    json_path.unlink(missing_ok=True)
    proc = ManagedProcess(bench.name, script_command(bench, json_path, quick, bootstrap), log_path,
                          env=env, cwd=ROOT)  # fmt: skip
    offset, deadline = 0, time.monotonic() + timeout_s
    with proc:
        while proc.running() and time.monotonic() < deadline:
            time.sleep(0.5)
            offset = _echo_new_lines(log_path, offset, f"  {bench.name} | ")
        timed_out = proc.running()
    _echo_new_lines(log_path, offset, f"  {bench.name} | ")
    if json_path.exists() and not timed_out and proc.returncode() == 0:
        return json.loads(json_path.read_text())
    why = f"timed out after {timeout_s:.0f} s" if timed_out else f"exit code {proc.returncode()}"
    return {"benchmark": bench.name, "error": why, "log_tail": proc.log_tail(15)}


def run_all(benches: list[Bench], out_dir: Path, quick: bool, bootstrap: str | None,
            timeout_s: float) -> list[dict]:  # fmt: skip
    """Runs the scripts in order on one shared broker (embedded unless `bootstrap`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    results = []
    broker = None
    try:
        if bootstrap is None and any(b.kafka for b in benches):
            from harness.kafka import EmbeddedKafka

            print("starting the shared embedded Kafka broker", flush=True)
            broker = EmbeddedKafka(root=out_dir / "kafka").start()
            bootstrap = broker.bootstrap_servers
            env[PIDS_ENV] = ",".join(str(p) for p in broker.pids())
        start = time.monotonic()
        for i, bench in enumerate(benches, 1):
            print(f"[{i}/{len(benches)}] {bench.script} (items {', '.join(map(str, bench.items)) or '-'}; "
                  f"{time.monotonic() - start:.0f} s elapsed)", flush=True)  # fmt: skip
            results.append(run_script(bench, out_dir, quick, bootstrap, env, timeout_s))
    finally:
        if broker is not None:
            broker.stop()
    return results


# ---------------------------------------------------------------- rendering


def fmt_number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def figure_text(result: dict, name: str | None) -> str:
    """`median unit` of one figure, e.g. `812 events/s`."""
    if name is None:
        return ""
    fig = result["figures"].get(name)
    return f"{name}: {fmt_number(fig['median'])} {fig['unit']}" if fig else name


def verdict(ratio: dict) -> str:
    if ratio["met"] is None:
        return "(no target)"
    return "met" if ratio["met"] else "MISSED"


def target_text(ratio: dict) -> str:
    if ratio["target"] is None:
        return "-"
    unit = "" if ratio["unit"] == "x" else f" {ratio['unit']}"
    return f"{ratio['op']} {ratio['target']:g}{unit}"


def value_text(ratio: dict) -> str:
    return f"{fmt_number(ratio['value'])}" + (" x" if ratio["unit"] == "x" else f" {ratio['unit']}")


def rows(results: list[dict]) -> list[dict]:
    """One row per ratio, in issue order, with the raw figures behind it."""
    out = []
    for result in results:
        for r in result.get("ratios", []):
            raw = " / ".join(filter(None, (figure_text(result, r["numerator"]),
                                           figure_text(result, r["denominator"]))))  # fmt: skip
            out.append({"item": r["item"], "benchmark": result["benchmark"], "name": r["name"],
                        "value": value_text(r), "target": target_text(r), "verdict": verdict(r),
                        "raw": raw, "met": r["met"]})  # fmt: skip
    return sorted(out, key=lambda row: (row["item"] is None, row["item"] or 0))


def table(results: list[dict]) -> str:
    """The plain-text table printed at the end of a run."""
    lines = []
    for row in rows(results):
        item = row["item"] or "-"
        lines.append(f"[{item}] {row['name'][:58]:<58} {row['value']:>12} {row['target']:>10} "
                     f"{row['verdict']:<11} {row['raw']}")  # fmt: skip
    for result in results:
        if "error" in result:
            lines.append(f"[!] {result['benchmark']}: FAILED ({result['error']})")
    return "\n".join(lines)


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], body: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def md_summary(results: list[dict]) -> str:
    body = [[r["item"] or "-", r["name"], r["value"], r["target"],
             f"**{r['verdict']}**" if r["met"] is False else r["verdict"], r["raw"]]
            for r in rows(results)]  # fmt: skip
    return md_table(["#", "ratio", "value", "target", "verdict", "raw medians (same run)"], body)


def md_machine(results: list[dict], command: str, when: str, total_s: float | None) -> str:
    env = next((r["machine"] for r in results if "machine" in r), None) or environment()
    libs: dict = {}
    for r in results:
        libs.update({k: v for k, v in r.get("libraries", {}).items() if v})
    libs.setdefault("py-spy", library_version("py-spy"))
    libs.setdefault("gevent", library_version("gevent"))
    lines = [
        f"- date: {when}",
        f"- command: `{command}`" + (f" (took {total_s:.0f} s in all)" if total_s else ""),
        f"- machine: {env['hostname']}, {env['cpu_count']} CPUs ({env['cpu_model']}), {env['platform']}",
        f"- Python {env['python_version']}, Apache Kafka {env['kafka_version']} (embedded KRaft "
        "broker on the same machine), git commit " + str(env.get("git_commit")),
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(libs.items()) if v),
    ]
    loads = [f"{r['benchmark']} {r['loadavg']['start'][0]:.1f} -> {r['loadavg']['end'][0]:.1f}"
             for r in results if "loadavg" in r and "end" in r["loadavg"]]  # fmt: skip
    if loads:
        lines.append("- load average (1 min) at start -> end of each benchmark, on 2 cores: "
                     + "; ".join(loads))  # fmt: skip
    return "\n".join(lines)


def md_details(result: dict) -> str:
    if "error" in result:
        return (f"### {result['benchmark']}: FAILED ({result['error']})\n\n```\n"
                f"{result.get('log_tail', '')}\n```")  # fmt: skip
    parts = [f"### {result['benchmark']}: {result['title']}"]
    params = {k: v for k, v in result.get("params", {}).items() if v not in (None, False)}
    parts.append(f"Parameters: `{json.dumps(params, default=str)}`; took {result.get('duration_s', 0):.0f} s; "
                 f"load average {result['loadavg']['start']} -> {result['loadavg'].get('end')}.")  # fmt: skip
    parts += [f"- {note}" for note in result.get("notes", [])]
    body = [[name, fmt_number(fig["median"]), fig["unit"],
             ", ".join(fmt_number(v) for v in fig["runs"])]
            for name, fig in result["figures"].items()]  # fmt: skip
    parts.append(md_table(["figure", "median", "unit", "runs"], body))
    return "\n\n".join(parts)


def md_profiles(results: list[dict]) -> str:
    profiles = next((r.get("profiles") for r in results if r.get("profiles")), None)
    if not profiles:
        return ""
    parts = []
    for name, prof in profiles.items():
        parts.append(f"### {name}\n\n{prof['tool']}, {prof['samples']:,} samples; {prof['target']}")
        tables = (
            ("by_package", "Own time by the code it was spent in (standard-library time charged to "
             "the nearest caller outside it)", ["code", "share"], "{:.0%}"),
            ("top_self", "Top functions by own time", ["function", "own time"], "{:.1%}"),
            ("ours_inclusive", "Our own functions (app/, harness/): share of samples inside each",
             ["function", "inclusive"], "{:.1%}"),
        )  # fmt: skip
        for key, title, header, fmt in tables:
            entries = prof.get(key) or {}
            pairs = entries.items() if isinstance(entries, dict) else entries
            body = [[k, fmt.format(v)] for k, v in pairs]
            if body:
                parts.append(f"{title}:\n\n" + md_table(header, body))
    return "\n\n".join(parts)


def md_why(results: list[dict], why: dict) -> str:
    """Per issue item with a missed target: its rows, then the analysis from benchmarks/why.yaml
    (keyed by item number), once per item."""
    missed: dict = {}
    for row in rows(results):
        if row["met"] is False:
            missed.setdefault(row["item"], []).append(row)
    parts = []
    for item, item_rows in missed.items():
        entry = why.get(item) or {}
        parts.append(f"### Item {item}")
        parts.append("\n".join(f"- {r['name']} = {r['value']} (target {r['target']})"
                               for r in item_rows))  # fmt: skip
        parts.append(f"**Why.** {entry.get('why', 'not analysed yet').strip()}")
        parts.append(f"**What would fix it.** {entry.get('fix', 'not analysed yet').strip()}")
    return "\n\n".join(parts) if parts else "Every target was met in this run."


def load_why(path: Path = WHY_FILE) -> dict:
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def markdown(
    results: list[dict], command: str, when: str, why: dict, total_s: float | None = None
) -> str:
    sections = [
        "# Benchmarks: where the ingestion path stands against its limits",
        "Generated by `python -m harness bench` (harness/bench.py) from the scripts in `benchmarks/`; "
        "do not edit by hand: rerun it. Machines here are shared and noisy, so every figure is a "
        "ratio of two things measured side by side in the same run, each the median of the "
        "repetitions listed below, with the machine and its load average recorded.",
        "## Machine and versions",
        md_machine(results, command, when, total_s),
        "## Results",
        md_summary(results),
        "## Missed targets: why, and what would fix it",
        md_why(results, why),
    ]
    if why.get("scaling") and any(r["benchmark"] == "scaling" for r in results):
        sections += ["## Scaling on 2 cores: where it flattens, and why", why["scaling"].strip()]
    if why.get("generators") and any(r["benchmark"] == "generators" for r in results):
        sections += ["## Load generators on 2 shared cores: how to read item 10",
                     why["generators"].strip()]  # fmt: skip
    if why.get("fixes"):
        sections += ["## Fixed after profiling, and what moved", why["fixes"].strip()]
    profiles = md_profiles(results)
    if profiles:
        sections += ["## Profiles (taken in this run)", profiles]
    sections += ["## Raw figures per benchmark"] + [md_details(r) for r in results]
    return "\n\n".join(s for s in sections if s) + "\n"


# ---------------------------------------------------------------- command


def load_results(out_dir: Path, benches: list[Bench]) -> list[dict]:
    """The figures a run left in `out_dir`, in benchmark order (missing ones are skipped)."""
    paths = [out_dir / f"{b.name}.json" for b in benches]
    return [json.loads(p.read_text()) for p in paths if p.exists()]


def write_doc(results: list[dict], out_dir: Path, args: argparse.Namespace) -> None:
    """Renders the markdown into the run directory and, unless --no-doc, docs/BENCHMARKS.md."""
    run = json.loads((out_dir / "run.json").read_text())
    text = markdown(results, run["command"], run["finished_at"], load_why(), run.get("duration_s"))
    (out_dir / "BENCHMARKS.md").write_text(text)
    if not args.no_doc:
        Path(args.doc).write_text(text)
        print(f"wrote {args.doc}")


def cmd_bench(args: argparse.Namespace) -> int:
    benches = select(args.only)
    if args.render:  # re-render a finished run (e.g. after editing benchmarks/why.yaml)
        out_dir = Path(args.render).resolve()
        results = load_results(out_dir, benches if args.only else BENCHMARKS)
        print(table(results))
        write_doc(results, out_dir, args)
        return 0
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.out or ROOT / "results" / f"bench-{stamp}").resolve()
    started = time.monotonic()
    results = run_all(benches, out_dir, args.quick, args.bootstrap_servers, args.timeout)
    elapsed = time.monotonic() - started
    print(f"\nall done in {elapsed:.0f} s; figures and logs in {out_dir}\n")
    print(table(results))
    command = "python -m harness bench " + shlex.join(sys.argv[2:] if len(sys.argv) > 2 else [])
    (out_dir / "run.json").write_text(json.dumps({
        "command": command.strip(), "duration_s": round(elapsed),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }) + "\n")  # fmt: skip
    for result in results:  # failed scripts left no JSON: keep their error for --render
        if "error" in result:
            (out_dir / f"{result['benchmark']}.json").write_text(json.dumps(result) + "\n")
    write_doc(results, out_dir, args)
    return 1 if any("error" in r for r in results) else 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "bench", help="run the benchmarks; print the table, write docs/BENCHMARKS.md"
    )
    p.add_argument(
        "--quick", action="store_true", help="each script's quick mode (< 10 min in all)"
    )
    p.add_argument("--only", help=f"comma-separated subset of {', '.join(BY_NAME)}")
    p.add_argument("--out", help="directory for the JSON figures and logs (results/bench-<time>)")
    p.add_argument("--doc", default=str(DOC), help="the markdown to write (docs/BENCHMARKS.md)")
    p.add_argument("--no-doc", action="store_true", help="leave docs/BENCHMARKS.md alone")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per script")
    p.add_argument("--bootstrap-servers", help="an external cluster instead of the embedded broker")
    p.add_argument(
        "--render", metavar="DIR", help="only re-render the doc from a finished run's DIR"
    )
    p.set_defaults(func=cmd_bench)
