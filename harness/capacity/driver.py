"""One capacity search on one setting: probe, steps, verdicts, capacity.json.

    result = search_capacity(RunConfig(server="gunicorn"), "results/cap", Objective(p99_ms=250))
    result["capacity_eps"], result["reason"], result["summary"]

Layout of the output directory:
    DIR/capacity.json               the answer and every step (docs/capacity.md)
    DIR/system/                     the services' own logs and the consumers' events logs
    DIR/steps/00-probe/             the closed-loop probe that gave the estimate
    DIR/steps/NN-rate=R/            each step's run directory (metrics.json, client records)

The probe is `probe_s` seconds of the setting's closed loop (`threads` senders) after a warm-up of
a second; its answer rate is the estimate the search starts from. A setting with `rate` set
skips the probe and starts from that rate. Every step runs `warmup_s + step_s` seconds at its rate
on the same running system, and is measured (drained, audited) before the next one starts.
capacity.json is rewritten after each step, so an interrupted search (Ctrl-C) keeps the steps
already measured.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from harness.analysis import read_client_records
from harness.analysis.jsonable import to_jsonable
from harness.capacity.criteria import Objective, Step, judge
from harness.capacity.search import CapacitySearch, SearchSettings
from harness.capacity.steps import StepRunner, answer_rate_eps, send_rate_eps, system_steps
from harness.environment import environment
from harness.params import RunConfig
from harness.rundir import CAPACITY_FILE

STEPS_DIR = "steps"
SYSTEM_DIR = "system"
PROBE_DIR = "00-probe"
STEP_S = 6.0  # measured seconds per step: steadiness needs 5 whole seconds to judge a window
PROBE_S = 3.0
PROBE_WARMUP_S = 1.0
# A step's requests give up after this many times the p99 objective (at least the minimum): an
# answer that late fails the step anyway, and an overloaded step then ends seconds after its
# schedule instead of after the simulator's own 30 s timeout.
TIMEOUT_OBJECTIVES = 20
MIN_TIMEOUT_S = 5.0

Say = Callable[[str], None]


def step_dir_name(index: int, rate: float) -> str:
    return f"{index:02d}-rate={rate:g}"


def search_capacity(
    cfg: RunConfig,
    out_dir: str | Path,
    objective: Objective | float,
    settings: SearchSettings | None = None,
    step_s: float | None = None,
    runner: StepRunner | None = None,
    progress: bool = True,
    probe_s: float = PROBE_S,
    slos=(),
) -> dict:
    """Runs the search into `out_dir`; returns the capacity.json dict (written there too).

    `objective` is an Objective or a p99 objective in ms. `step_s` defaults to the setting's
    duration_s, else STEP_S. `runner` drives a system already running (e.g. steps.HttpSteps);
    by default the setting's own system is started and stopped here. `slos` (harness/slo.py
    expressions) are further criteria of every step of that system (a given runner has its
    own). Bad settings raise ValueError before anything starts.
    """
    objective = objective if isinstance(objective, Objective) else Objective(p99_ms=objective)
    settings = settings or SearchSettings()
    problem = search_conflict(cfg)
    if problem:
        raise ValueError(problem)
    step_s = step_s if step_s is not None else (cfg.duration_s or STEP_S)
    if slos:
        from harness.slo import parse_slos

        slos = parse_slos(slos)  # a malformed objective fails here
    if not step_s > 0 or not probe_s > 0:
        raise ValueError(f"step and probe durations must be > 0 s, not {step_s!r} / {probe_s!r}")
    out_dir = Path(out_dir).resolve()
    (out_dir / STEPS_DIR).mkdir(parents=True, exist_ok=True)
    say = _printer(progress)
    session = _Session(cfg, out_dir, objective, settings, step_s, probe_s, say, slos)
    with ExitStack() as stack:
        if runner is None:
            overrides = {"timeout_s": request_timeout_s(objective)}
            runner = stack.enter_context(
                system_steps(cfg, out_dir / SYSTEM_DIR, say, overrides, slos)
            )
        return session.run(runner)


def search_conflict(cfg: RunConfig) -> str | None:
    """Why `cfg` cannot be searched (its steps are steady open loops of rates the search
    chooses, without faults), else None."""
    given = [name for name, value in (("stages", cfg.stages), ("capacity_from", cfg.capacity_from),
             ("fault_at_s", cfg.fault_at_s)) if value is not None]  # fmt: skip
    if given:
        return (f"{', '.join(given)}: a capacity search runs steady open-loop steps at rates of "
                "its own choosing, without faults; drop them")  # fmt: skip
    return None


def request_timeout_s(objective: Objective) -> float:
    return max(MIN_TIMEOUT_S, TIMEOUT_OBJECTIVES * objective.p99_ms / 1000)


class _Session:
    """The state of one search while it runs, and its capacity.json."""

    def __init__(self, cfg, out_dir, objective, settings, step_s, probe_s, say, slos) -> None:
        self.cfg, self.out_dir, self.objective, self.slos = cfg, out_dir, objective, slos
        self.settings, self.step_s, self.probe_s, self.say = settings, step_s, probe_s, say
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.probe: dict = {}
        self.search: CapacitySearch | None = None
        self.environment = environment(cfg.client)

    def run(self, runner: StepRunner) -> dict:
        interrupted = False
        try:
            self.search = CapacitySearch(self._estimate(runner), self.settings)
            while (planned := self.search.next()) is not None:
                step = self._step(runner, len(self.search.steps) + 1, *planned)
                self.search.record(step)
                self.say(step_line(step, self.settings.max_steps))
                self._write()
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            doc = self._write(interrupted=interrupted)
            if doc.get("summary"):
                self.say(doc["summary"])
        return doc

    def _estimate(self, runner: StepRunner) -> float:
        if self.cfg.rate is not None:
            self.probe = {"given_rate_eps": self.cfg.rate}
            return self.cfg.rate
        probe = replace(self.cfg, rate=None, warmup_s=PROBE_WARMUP_S, duration_s=self.probe_s)
        run_dir = self.out_dir / STEPS_DIR / PROBE_DIR
        self.say(f"probe: {self.probe_s:g} s of closed loop ({self.cfg.threads} senders)")
        metrics = runner.measure(probe, run_dir)
        estimate = answer_rate_eps(read_client_records(run_dir)) or 0.0
        http = (metrics.get("latency_ms") or {}).get("http") or {}
        self.probe = {
            "estimate_eps": estimate,
            "http_p99_ms": http.get("p99"),
            "error_rate": metrics.get("error_rate"),
            "run_dir": _relative(run_dir, self.out_dir),
        }
        self.say(f"probe: {estimate:,.0f} events/s answered (closed loop, http p99 "
                 f"{http.get('p99') or float('nan'):.0f} ms)")  # fmt: skip
        return estimate

    def _step(self, runner: StepRunner, index: int, rate: float, role: str) -> Step:
        cfg = replace(self.cfg, rate=rate, duration_s=self.step_s)
        run_dir = self.out_dir / STEPS_DIR / step_dir_name(index, rate)
        started = time.monotonic()
        metrics = runner.measure(cfg, run_dir)
        records = read_client_records(run_dir)
        step = judge(
            metrics, rate, self.objective, answer_rate_eps(records), send_rate_eps(records)
        )
        step.role, step.index = role, index
        settled = (metrics.get("run") or {}).get("settle") or {}
        if settled and not settled.get("quiet"):
            step.notes.append(f"the system was still busy after {settled['waited_s']:g} s")
        step.run_dir = _relative(run_dir, self.out_dir)
        step.seconds = round(time.monotonic() - started, 1)
        return step

    def _write(self, interrupted: bool = False) -> dict:
        search = self.search
        doc = {
            "setting": self.cfg.to_dict(),
            "objective": self.objective.to_dict(),
            "slo": [slo.expr for slo in self.slos],
            "step_s": self.step_s,
            "warmup_s": self.cfg.warmup_s,
            "probe": self.probe,
            **(search.outcome(interrupted=interrupted) if search and search.steps else {}),
            "steps": [s.to_dict() for s in search.steps] if search else [],
            "interrupted": interrupted,
            "started_at": self.started_at,
            "seconds": round(time.monotonic() - self.started, 1),
            "environment": self.environment,
        }
        if not doc.get("result"):
            doc.update(result=None, capacity_eps=None, bound_eps=None, reason=None,
                       summary="no step measured")  # fmt: skip
        write_capacity(self.out_dir, doc)
        return doc


def write_capacity(out_dir: Path, doc: dict) -> Path:
    """Writes capacity.json whole or not at all (a reader never sees half a file)."""
    path = Path(out_dir) / CAPACITY_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(to_jsonable(doc), indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def read_capacity(path: str | Path) -> dict:
    """capacity.json of a search directory (or the file itself)."""
    path = Path(path)
    return json.loads((path / CAPACITY_FILE if path.is_dir() else path).read_text())


def _relative(path: Path, root: Path) -> str:
    return str(Path(path).relative_to(root))


def _printer(progress: bool) -> Say:
    if not progress:
        return lambda msg: None
    return lambda msg: print(f"[capacity] {msg}", file=sys.stdout, flush=True)


def _ms(value) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def step_line(step: Step, max_steps: int) -> str:
    """One terminal line per finished step."""
    achieved = "-" if step.achieved_eps is None else f"{step.achieved_eps:,.0f}"
    verdict = step.verdict + (f": {step.reasons[0]}" if step.reasons else "")
    return (
        f"step {step.index}/{max_steps} "
        f"{step.role:<8} {step.rate_eps:>9,.0f} events/s  achieved {achieved}  "
        f"p50 {_ms(step.http_p50_ms)}  p99 {_ms(step.http_p99_ms)}  "
        f"send delay p99 {_ms(step.send_delay_p99_ms)}  -> {verdict}"
    )
