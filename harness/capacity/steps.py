"""Step runners: what runs the load of one capacity-search step against a running system.

A step runner has one method, `measure(cfg, run_dir) -> metrics` (the metrics.json dict, also
written to run_dir): one load phase of `cfg` (a timed open loop at the step's rate, or the closed
loop of the probe) against a system that stays up between steps. Two kinds:

- `SystemSteps`: the harness's own system (`system_steps(cfg, out_dir)` starts it with
  run.open_system); each step waits until the system is idle (`settle`), then is run.measure, so
  it ends drained (every accepted event logged or the drain timed out) and audited: loss, e2e
  latency and the steadiness of consumption count.
- `HttpSteps`: any HTTP endpoint speaking the API's protocol, without Kafka accounting: the
  simulator's records only. Loss, e2e latency and consumption are null, so the search judges
  rate, http latency, errors and the generator alone. Its `simulator_overrides` reach the
  simulator's settings (e.g. `max_in_flight`).

Both take `slos` (harness/slo.py expressions): each step's metrics.json then carries their
verdicts, and a step that fails one is not sustainable.

`answer_rate_eps` is the achieved rate the search judges a step by, `send_rate_eps` the rate at
which the generator sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import pandas as pd

from harness.analysis import compute_metrics, read_client_records, read_events_log
from harness.analysis.records import MEASURED
from harness.environment import environment
from harness.loadgen.config import new_run_id
from harness.params import RunConfig
from harness.rundir import CONFIG_FILE, METRICS_FILE, LogCounter, write_json
from harness.services import http_get

# Before each step: the consumers' logs still for QUIET_S, and a health check answered within
# HEALTHY_S; given up after SETTLE_TIMEOUT_S (the step then notes it).
QUIET_S = 1.0
HEALTHY_S = 0.1
SETTLE_TIMEOUT_S = 60.0


class StepRunner(Protocol):
    def measure(self, cfg: RunConfig, run_dir: Path) -> dict: ...


class SystemSteps:
    """Steps against a running run.System, each a run.measure (drained and audited) that starts
    once the system is quiet (`settle`)."""

    def __init__(self, system, simulator_overrides: dict | None = None, slos=()) -> None:
        self.system = system
        self.overrides = dict(simulator_overrides or {})
        self.slos = list(slos)
        self.logs = LogCounter(system.log_paths)

    def measure(self, cfg: RunConfig, run_dir: Path) -> dict:
        from harness.run import measure

        settled = settle(self.logs, self.system.api_url)
        metrics = measure(self.system, cfg, run_dir, progress=False, slos=self.slos,
                          simulator_overrides=self.overrides)  # fmt: skip
        metrics.setdefault("run", {})["settle"] = settled
        write_json(Path(run_dir) / METRICS_FILE, metrics)
        return metrics


def settle(
    logs: LogCounter, api_url: str, quiet_s: float = QUIET_S, timeout_s: float = SETTLE_TIMEOUT_S
) -> dict:
    """Waits until the system is idle: its consumers' logs did not grow for `quiet_s` and the
    API answers GET /healthz within HEALTHY_S. An overloaded step leaves work behind (requests
    the client gave up on are still served and their events still consumed), and the next step
    must not measure it. Any HTTP answer counts: an API of someone else's may have no /healthz.
    Returns {"waited_s", "quiet"} (quiet false: gave up after timeout_s)."""
    start = time.monotonic()
    lines, changed = logs.poll(), start
    while (now := time.monotonic()) - start < timeout_s:
        if logs.poll() != lines:
            lines, changed = logs.lines, now
        elif now - changed >= quiet_s:
            status, _ = http_get(api_url.rstrip("/") + "/healthz", timeout=quiet_s)
            if status and time.monotonic() - now <= HEALTHY_S:
                return {"waited_s": round(time.monotonic() - start, 2), "quiet": True}
        time.sleep(0.1)
    return {"waited_s": round(time.monotonic() - start, 2), "quiet": False}


@contextmanager
def system_steps(
    cfg: RunConfig,
    out_dir: Path,
    say: Callable[[str], None] = print,
    simulator_overrides: dict | None = None,
    slos=(),
) -> Iterator[SystemSteps]:
    """Starts (or attaches to) the system of `cfg`, its services' logs in out_dir; stops it on
    exit, also on failure and Ctrl-C."""
    from harness.run import open_system

    with open_system(cfg, Path(out_dir), say) as system:
        yield SystemSteps(system, simulator_overrides, slos)


class HttpSteps:
    """Steps against the HTTP endpoint at `url`, judged from the client's records alone."""

    def __init__(self, url: str, simulator_overrides: dict | None = None, slos=()) -> None:
        self.url = url
        self.overrides = dict(simulator_overrides or {})
        self.slos = list(slos)

    def measure(self, cfg: RunConfig, run_dir: Path) -> dict:
        from harness.run import outside_event_loop
        from harness.simulator import simulate

        run_dir = Path(run_dir).resolve()
        run_dir.mkdir(parents=True, exist_ok=True)
        run_id = new_run_id()
        write_json(run_dir / CONFIG_FILE, {"run_id": run_id, **cfg.to_dict(), "url": self.url})
        sim = cfg.simulator_config(self.url, run_id, **self.overrides)
        result = outside_event_loop(simulate, sim, run_dir, progress=False)
        records = read_client_records(run_dir)
        metrics = compute_metrics(records, read_events_log([]), cfg.to_dict(), environment(),
                                  simulator_busy=result.busy,
                                  generators=result.generators)  # fmt: skip
        metrics = without_kafka_accounting(metrics)
        metrics["run"] = {"run_id": run_id, "http_only": True, "simulator": result.to_dict()}
        if self.slos:
            from harness.slo import evaluate_slos

            metrics["slo"] = evaluate_slos(self.slos, metrics)
        write_json(run_dir / METRICS_FILE, metrics)
        return metrics


def without_kafka_accounting(metrics: dict) -> dict:
    """An HTTP-only step's metrics: what only a consumer's log could tell is null (not judged)."""
    counts = metrics["counts"]
    for key in ("consumed", "unique_consumed", "lost", "duplicates"):
        counts[key] = None
    metrics["latency_ms"]["e2e"] = None
    metrics["throughput_eps"] = None
    metrics["steadiness"] = {
        "steady": None,
        "reasons": ["not judged: an HTTP-only step has no consumer log"],
    }
    return metrics


def send_rate_eps(records: pd.DataFrame) -> float | None:
    """Events per second at which the measured requests left the generator: n requests span
    n - 1 intervals of the schedule. Below the target rate, the generator fell behind."""
    measured = records[records["phase"] == MEASURED]
    sends = measured.groupby("request_id")["sent_at"].first()
    if len(sends) < 2:
        return None
    span = float(sends.max() - sends.min())
    if not span > 0:
        return None
    events_per_request = len(measured) / len(sends)
    return (len(sends) - 1) * events_per_request / span


def answer_rate_eps(records: pd.DataFrame) -> float | None:
    """Accepted events answered per second while the measured events were sent.

    The span runs from the first to the last measured send; answers to warm-up events that land
    in it count. In a steady state this is the rate the system takes, whatever its latency (a rate
    over the span to the last answer would shrink by latency/duration, a few percent for a step of
    seconds); when the system falls behind, answers fall short of the rate. None when the span is
    empty.
    """
    measured = records.loc[records["phase"] == MEASURED, "sent_at"]
    if len(measured) < 2:
        return None
    start, end = float(measured.min()), float(measured.max())
    if not end > start:
        return None
    done = records["done_at"]
    answered = records["accepted"] & (done >= start) & (done <= end)
    return float(answered.sum()) / (end - start)
