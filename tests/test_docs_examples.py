"""Every command example of README.md and docs/*.md runs as shown and gives what it promises.

The examples are the command lines of the documents' fenced code blocks. Each one is matched by a
rule below and treated in one of three ways, said by the rule:
- **run**: it really runs, on the session's broker (KAFKA_BOOTSTRAP_SERVERS) unless it starts
  brokers of its own, from a scratch folder that holds the project's grids/ and notebooks/, scaled
  down only by flags the test adds after the document's own (fewer events, shorter steps, a lower
  rate); its exit code and what it prints are checked;
- **dry**: it takes longer than a test may (`make run`: ~6 min; `make test`: this suite, which CI
  runs; `harness bench`: ~22 min): `make -n` shows what it would run, `--help` that its flags parse;
- **synopsis**: a line with placeholders (`[--port 9092]`, `DIR`, `MS`), or one that names hosts of the
  user's own (`--dask-scheduler tcp://sched-host:8786`): every flag it names exists in that command's
  `--help`.
An example no rule matches fails the test: a new example in the docs needs a rule here. Several
examples run at once (threads: they wait for subprocesses).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from kafka_helpers import home_with_classpath

from harness.cli import build_parser
from harness.ports import free_port

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND = re.compile(
    r"^(?:[A-Z_]+=\S+ )*(?:python -m harness|make |papermill |docker compose|\.venv/)"
)
FIGURES = re.compile(r"[\d,]+ events/s")


def examples() -> list[tuple[str, str]]:
    """(document, command line) of every fenced command, comments and prompts stripped."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"```[a-z]*\n(.*?)```", doc.read_text(), re.S):
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ")
                if COMMAND.match(line):
                    found.append((doc.name, re.sub(r"\s+#.*$", "", line).strip()))
    return found


@dataclass
class Example:
    """How one rule runs its example: the argv (None: nothing to run), what it must exit with and
    print, and the examples it needs to have run first."""

    argv: list[str] | None
    code: int | None = 0  # None: either exit code the document promises, checked by `check`
    check: Callable[[subprocess.CompletedProcess], None] | None = None
    env: dict = field(default_factory=dict)
    after: tuple[str, ...] = ()  # names of examples that must have run first
    timeout: float = 240
    name: str | None = None  # what `after` calls it (default: its line)


@dataclass
class Context:
    work: Path
    bootstrap: str
    env: dict
    api_port: int = field(default_factory=free_port)
    kafka_port: int = field(default_factory=free_port)


def _has_figures(out: subprocess.CompletedProcess) -> None:
    assert FIGURES.search(out.stdout), out.stdout[-2000:]


def _harness(line: str, *extra: str) -> list[str]:
    argv = shlex.split(line)
    assert argv[:3] == ["python", "-m", "harness"], line
    return [sys.executable, "-m", "harness", *argv[3:], *extra]


SMALL_RUN = ("--events", "2000", "--quiet")
SMALL_SWEEP = ("--set", "events=1000", "--set", "repeat=1", "--set", "broker_warmup_s=0")


def rule_run(line: str, ctx: Context) -> Example:
    """`harness run ...`: a run of the document's parameters, as shown when it names its events (the
    README's first example, 10,000 events, is the one a new user makes first), shortened when it
    would take longer: 2,000 events for the default count, 2 s of an open loop, 1.5 s of a timed
    run."""
    args = shlex.split(line)
    extra = ["--quiet"]
    env: dict = {}
    if "--fault-at-s" in args:  # a fault in time: one short cycle on a broker of its own
        # 13 s after a 1 s outage at 200 events/s: beside the other examples the restarted broker
        # took over 5 s to take writes again (at 500 events/s in 6 s the span never ended).
        extra = ["--rate", "200", "--duration-s", "14", "--warmup-s", "0.5", "--fault-at-s", "0.5",
                 "--fault-cycles", "1", "--outage-s", "1", "--broker-warmup-s", "0", "--quiet"]  # fmt: skip

        def landed(out):  # the figure, or the reason there is none: beside the busy suite the
            _has_figures(out)  # p99 stayed over 250 ms after the outage (1.6 s over the run)
            assert re.search(r"kafka-outage x1: unavailable (median [\d.]+ s|not seen \(a span "
                             r"did not end before the next fault or the load's end\))", out.stdout), (
                out.stdout
            )  # fmt: skip

        return Example(_harness(line, *extra), check=landed,
                       env={"KAFKA_BOOTSTRAP_SERVERS": ""})  # fmt: skip
    if "--stages" in args:  # the same shape, in 2.5 s
        extra += ["--stages", "0:200,1:600,1:600", "--warmup-s", "0.5"]
    if "--capacity-from" in args:  # the capacity example's search: its rate, or its refusal
        return rule_capacity_from(line, ctx)
    if "--rate" in args:
        extra += ["--events", str(2 * int(float(args[args.index("--rate") + 1])))]
    if "--duration-s" in args:
        extra = ["--duration-s", "1.5", "--warmup-s", "0.5", "--repeat", "2", "--quiet"]
    if "--generators" in args:  # beside the busy suite its 4,000 events/s became ~400 (two Dask
        extra += ["--rate", "1000"]  # generators starved of CPU, 10x behind their schedule)
    if "--fault" in args:  # brokers of its own: the external cluster would be refused
        extra += ["--events", "3000", "--broker-warmup-s", "0"]
        env = {"KAFKA_BOOTSTRAP_SERVERS": ""}
    if not {"--events", "--rate", "--duration-s", "--stages", "--fault"} & set(args):
        extra += ["--events", "2000"]  # the default 10,000: ~10 CPU-s each, ~4 with 2,000
    if "--api-url" in args:  # the compose stack's stand-in: `harness up` (the same system)
        line = line.replace("localhost:9092", ctx.bootstrap)
        line = line.replace("http://localhost:5000", f"http://127.0.0.1:{ctx.api_port}")
        return Example(_harness(line, *extra), check=_has_figures, after=("harness up",),
                       name="run --api-url")  # fmt: skip
    line = re.sub(r"--bootstrap-servers \S+", f"--bootstrap-servers {ctx.bootstrap}", line)
    check, code = _has_figures, 0
    if "--repeat" in extra:

        def check(out):  # noqa: E306
            assert "median of 2 reps" in out.stdout and FIGURES.search(out.stdout), out.stdout

    if "--slo" in args:  # "exit 1 if missed": on a busy machine p99 may miss 250 ms
        code = None

        def check(out):  # noqa: E306, F811
            assert FIGURES.search(out.stdout), out.stdout
            assert (out.returncode == 1) == ("SLO failed" in out.stderr), out.stderr[-2000:]
            assert out.returncode in (0, 1)

    return Example(_harness(line, *extra), code=code, check=check, env=env)


def rule_capacity_from(line: str, ctx: Context) -> Example:
    """`--capacity-from results/capacity`: the capacity example's directory. A 3-step search may
    find no capacity: then the run must be refused (exit 2) saying so."""
    capacity = ctx.work / "results" / "capacity" / "capacity.json"

    def check(out):
        found = json.loads(capacity.read_text()).get("capacity_eps")
        if found is None:
            assert out.returncode == 2 and "holds no capacity" in out.stderr, out.stderr
            return
        assert out.returncode == 0, out.stderr[-2000:]
        _has_figures(out)
        metrics = json.loads((ctx.work / "results" / "at80" / "metrics.json").read_text())
        assert metrics["run"]["rate_from"]["capacity_eps"] == found
        assert metrics["config"]["rate"] == round(0.8 * found, 1)

    small = ("--duration-s", "1.5", "--warmup-s", "0.5", "--quiet")
    return Example(_harness(line, *small), code=None, check=check, after=("capacity",))


def rule_capacity(line: str, ctx: Context) -> Example:
    def check(out):
        assert re.search(r"capacity|at least|below", out.stdout), out.stdout
        assert (ctx.work / "results" / "capacity" / "capacity.json").exists()

    # A found capacity exits 0, none found 1: a 3-step search on a shared machine may find none.
    small = ("--step-s", "1.5", "--warmup-s", "0.5", "--max-steps", "3", "--quiet",
             "--broker-warmup-s", "0")  # fmt: skip
    return Example(
        _harness(line, *small),
        code=None,
        check=check,  # type: ignore[arg-type]
        name="capacity",
    )


def rule_compare(line: str, ctx: Context) -> Example:
    def check(out):
        assert "compare:" in out.stdout and "verdict" in out.stdout, out.stdout

    return Example(_harness(line), check=check, after=("compare inputs",))


def rule_sweep(line: str, ctx: Context) -> Example:
    small = [*SMALL_SWEEP]
    if "default.yaml" in line:  # make run's grid: one server, shorter runs and searches
        small += ["--set", "server=granian", "--set", "duration_s=1", "--set", "warmup_s=0.5",
                  "--set", "capacity_max_steps=2"]  # fmt: skip
    if "event-size.yaml" in line:  # its 3 x 3 grid as 2 points: the smallest and largest event
        small += ["--set", "event_bytes=[100, 10000]", "--set", "compression=zstd",
                  "--set", "duration_s=1", "--set", "warmup_s=0.5"]  # fmt: skip
    if "'acks=" in line:  # the --set example's 2 x 2 points as 2: one acks setting
        small += ["--set", "acks=all"]

    def check(out):
        assert "report:" in out.stdout, out.stderr[-3000:]
        folder = ctx.work / shlex.split(line)[shlex.split(line).index("--out") + 1]
        points = pd.read_csv(folder / "points.csv")
        runs = points[points.get("capacity_searches", pd.Series(index=points.index)).isna()]
        assert runs["throughput_eps"].notna().all(), points.T

    name = "sweep1" if "results/sweep1" in line else None
    return Example(_harness(line, *small), check=check, timeout=420, name=name)


# The shipped fault grids, too long for a test (docs/RELIABILITY.md has their figures): their points.
FAULT_GRIDS = {"grids/faults.yaml": 9, "grids/broker-kill.yaml": 4}


def rule_faults_grid(line: str, ctx: Context) -> Example:
    """grids/faults.yaml (~10 min) and grids/broker-kill.yaml (~8 min): dry, the grid is checked
    as the sweep checks it before anything starts (tests/test_capacity_from.py checks what each
    holds)."""
    grid = shlex.split(line)[shlex.split(line).index("--grid") + 1]
    code = (f"from harness.sweep import load_grid, validate_grid; "
            f"print(len(validate_grid(load_grid({str(ROOT / grid)!r}))), 'points')")  # fmt: skip
    # as the document runs it: brokers of its own, not the session's external cluster
    return Example([sys.executable, "-c", code], env={"KAFKA_BOOTSTRAP_SERVERS": ""},
                   check=lambda out: out.stdout.strip() == f"{FAULT_GRIDS[grid]} points")  # fmt: skip


def rule_report(line: str, ctx: Context) -> Example:
    def check(out):
        assert "report:" in out.stdout and (ctx.work / "results/sweep1/report.html").exists()

    return Example(_harness(line), check=check, after=("sweep1",))


def rule_kafka(line: str, ctx: Context) -> Example | None:
    """kafka start|status|stop: on a port of the test's, the embedded broker (not the session's)."""
    action = shlex.split(line)[4]
    env = {"KAFKA_BOOTSTRAP_SERVERS": ""}
    if action == "start":
        return Example([sys.executable, "-m", "harness", "kafka", "start", "--port",
                        str(ctx.kafka_port)], env=env, name="kafka start",
                       check=lambda out: out.stdout.strip() == f"127.0.0.1:{ctx.kafka_port}")  # fmt: skip
    if action == "status":
        return Example(_harness(line), env=env, after=("kafka start",), name="kafka status",
                       check=lambda out: f"127.0.0.1:{ctx.kafka_port}" in out.stdout)  # fmt: skip
    return Example(_harness(line), env=env, after=("kafka status",),
                   check=lambda out: "Stopped Kafka" in out.stdout)  # fmt: skip


def rule_up_down(line: str, ctx: Context) -> Example:
    """`harness up / down`: up on a free port; down once the --api-url example used it."""
    if line.startswith("python -m harness down"):
        return Example(_harness(line), after=("run --api-url",), name="harness down")
    return Example([sys.executable, "-m", "harness", "up", "--port", str(ctx.api_port)],
                   name="harness up",
                   check=lambda out: out.stdout.strip() == f"http://127.0.0.1:{ctx.api_port}")  # fmt: skip


def rule_make(line: str, ctx: Context) -> Example:
    """`make run` / `make test` (dry): what they would run; with an external cluster, no
    Java/Maven step."""
    env_part, _, target = line.rpartition("make ")
    # The user's shell: no cluster of theirs unless the line names one.
    env = {"KAFKA_BOOTSTRAP_SERVERS": "", **dict(v.split("=", 1) for v in env_part.split())}
    stamps = ctx.work / "no-stamps"  # as on a fresh clone: every set-up step shows

    def check(out):
        commands = out.stdout
        if target.strip() == "run":
            assert "-m harness sweep --out results/latest" in commands, commands
            if env.get("KAFKA_BOOTSTRAP_SERVERS"):
                assert "broker_classpath" not in commands and "install-system-deps" not in commands
                assert "harness.cds" not in commands, commands
            else:
                assert "broker_classpath" in commands and "harness.cds" in commands, commands
        else:
            assert "-m pytest" in commands and "install-system-deps" in commands, commands

    return Example(["make", "-n", "-C", str(ROOT), target.strip(), f"STAMPS={stamps}"],
                   env=env, check=check)  # fmt: skip


def rule_compose(line: str, ctx: Context) -> Example:
    """No Docker engine here: the compose file is parsed (tests/test_packaging.py checks it), and
    its stand-in, `harness up`, serves the example that follows it."""
    return Example(None)


def rule_synopsis(line: str, ctx: Context) -> Example:
    """A line with placeholders: each flag it names is one of its command's (in the help the
    command's parser prints, built here rather than in a process of its own: ten synopses took
    ~20 CPU-s as `--help` runs)."""
    words = shlex.split(line.replace("|", " "))
    command = [w for w in words[3:5] if re.fullmatch(r"[a-z]+", w)][:1]
    flags = set(re.findall(r"--[a-z0-9-]+", line))
    missing = [f for f in flags if f not in _help_of(*command)]
    assert not missing, f"{line}: {missing} not in --help"
    return Example(None)


def _help_of(*command: str) -> str:
    """What `python -m harness COMMAND --help` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    return out.getvalue()


RULES: list[tuple[str, Callable[[str, Context], Example | None]]] = [
    (r"^python -m harness run \[", rule_synopsis),
    (r"^python -m harness (sweep|capacity|compare|bench) \[", rule_synopsis),
    (r"^python -m harness (report|compare) [A-Z]", rule_synopsis),
    (r"^python -m harness kafka start\|", rule_synopsis),
    (r"^python -m harness up \[", rule_synopsis),
    (
        r"^python -m harness kafka start \[",
        lambda line, ctx: rule_kafka("python -m harness kafka start", ctx),
    ),
    (r"^python -m harness kafka (status|stop)$", rule_kafka),
    # On hosts of the user's own (`dask ssh`'s scheduler, a load balancer): its flags parse;
    # tests/test_generators.py runs the same against a real `dask scheduler` and its workers.
    (r"^python -m harness run --dask-scheduler tcp://[a-z]", rule_synopsis),
    (r"^python -m harness run ", rule_run),
    (r"^python -m harness capacity --", rule_capacity),
    (r"^python -m harness compare results/", rule_compare),
    (r"^python -m harness sweep --grid grids/(faults|broker-kill)\.yaml", rule_faults_grid),
    (r"^python -m harness sweep --", rule_sweep),
    (r"^python -m harness report results/", rule_report),
    (r"^python -m harness up / down$", rule_up_down),
    (r"^(\S+=\S+ )*make (run|test)$", rule_make),
    (r"^docker compose up -d$", rule_compose),
    (r"^docker compose up -d --scale generator=\d+$", rule_compose),
    (
        r"^docker compose run --rm .* generator python -m harness run --dask-scheduler ",
        rule_compose,
    ),
]


def _classify(line: str, ctx: Context) -> list[Example]:
    for pattern, rule in RULES:
        if re.search(pattern, line):
            if rule is rule_up_down:
                return [rule(line, ctx), rule("python -m harness down", ctx)]
            found = rule(line, ctx)
            return [found] if found else []
    pytest.fail(f"no rule for the documented example {line!r}: add one to {__file__}")


def _in_order(planned: list[Example]) -> list[Example]:
    """Each example after those it waits for (so that no worker thread waits on one that no
    thread has started)."""
    names = {ex.name for ex in planned}
    ordered, placed = [], set()
    while len(ordered) < len(planned):
        ready = [ex for ex in planned if ex.name not in placed
                 and all(a in placed or a not in names for a in ex.after)]  # fmt: skip
        assert ready, f"examples wait on each other: {[ex.name for ex in planned]}"
        ordered += ready
        placed |= {ex.name for ex in ready}
    return ordered


# Each example has a timeout of its own; several run at once. 208 s alone here; beside the busy
# suite on a slow day (2026-12-06) over 600 s, so the whole test has 900.
@pytest.mark.timeout(900)
def test_every_documented_example_runs_as_shown(kafka, tmp_path):
    started = time.monotonic()
    for folder in ("grids", "notebooks", "samples"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "HARNESS_HOME": home_with_classpath(tmp_path / ".harness"), "HARNESS_RESULTS": str(tmp_path / "results"),
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    ctx = Context(tmp_path, kafka.bootstrap_servers, env)
    planned: list[Example] = []
    timings: dict[str, float] = {}
    for _, line in dict.fromkeys(examples()):
        for example in _classify(line, ctx):
            if example.argv is not None:
                example.name = example.name or line
                planned.append(example)
    # The compare example's inputs: two small runs, as a user would have them.
    planned.append(Example([sys.executable, "-c", "pass"], name="compare inputs"))
    # The longest first (sweeps, brokers of their own, searches), so that they set the pace.
    planned.sort(key=lambda ex: not re.search(r"sweep|--fault|capacity --", shlex.join(ex.argv)))
    planned = _in_order(planned)
    names = {ex.name for ex in planned}
    done: set[str] = set()
    failures: list[str] = []

    def run(example: Example) -> None:
        while not all(a in done or a not in names for a in example.after):
            time.sleep(0.2)
        try:
            if example.name == "compare inputs":
                for side in ("before", "after"):
                    subprocess.run([sys.executable, "-m", "harness", "run", *SMALL_RUN, "--out",
                                    f"results/{side}"], cwd=tmp_path, env=env,
                                   capture_output=True, timeout=120, check=True)  # fmt: skip
                return
            began = time.monotonic()
            out = subprocess.run(example.argv, cwd=tmp_path, env={**env, **example.env},
                                 capture_output=True, text=True, timeout=example.timeout)  # fmt: skip
            timings[example.name] = time.monotonic() - began
            if example.code is not None:
                assert out.returncode == example.code, (
                    f"exit {out.returncode}:\n{out.stdout[-1500:]}\n{out.stderr[-3000:]}"
                )
            if example.check:
                example.check(out)
        except Exception as exc:  # every example's failure is reported, not only the first
            failures.append(f"{example.name}\n  {shlex.join(example.argv)}\n  {exc!r}"[:6000])
        finally:
            done.add(example.name)

    try:
        with ThreadPoolExecutor(3) as pool:
            for future in [pool.submit(run, example) for example in planned]:
                future.result()
    finally:  # whatever failed: nothing of the examples may outlive the test
        subprocess.run([sys.executable, "-m", "harness", "down"], cwd=tmp_path, env=env,
                       capture_output=True, timeout=120)  # fmt: skip
        subprocess.run([sys.executable, "-m", "harness", "kafka", "stop"], cwd=tmp_path,
                       env={**env, "KAFKA_BOOTSTRAP_SERVERS": ""}, capture_output=True,
                       timeout=60)  # fmt: skip
    assert not failures, "\n\n".join(failures)
    print(f"{len(planned)} examples in {time.monotonic() - started:.0f} s")
    for name, seconds in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(f"  {seconds:5.1f} s  {name}")


# After the long test above: under xdist a worker takes its next module when one test of its
# module is left (tests/conftest.py), and this one takes no time.
def test_every_documented_example_has_a_rule():
    ctx = Context(Path("/nonexistent"), "127.0.0.1:9", {})
    lines = examples()
    assert len(lines) >= 20, lines  # the extraction still finds the documents' examples
    for _, line in lines:
        _classify(line, ctx)
