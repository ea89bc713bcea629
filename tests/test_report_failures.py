"""The report's "Failures" and "Load over time" sections on a written sweep directory (no server):
a fault point's figures pooled over the instants of its repetitions, its timeline chart, and
nothing at all for a sweep without faults or stages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from harness.analysis.recovery import fault_figures
from harness.analysis.timeline import request_frame, timeline
from harness.report import fault_points as failures
from harness.report import sections
from harness.report.sweepdata import Sweep
from harness.rundir import METRICS_FILE, TIMELINE_FILE

T0 = 1_800_000_000.0


def run(run_dir, outage: tuple[float, float] | None, rate: int = 100, seconds: int = 20) -> None:
    """An open loop at `rate`/s; requests due during `outage` (start, end) answered 503."""
    n = rate * seconds
    due = T0 + np.arange(n) / rate
    down = np.zeros(n, bool) if outage is None else (due >= outage[0]) & (due < outage[1])
    records = pd.DataFrame({
        "event_id": [f"r-{i}" for i in range(n)], "request_id": range(n), "scheduled_at": due,
        "sent_at": due, "done_at": due + 0.01, "status": np.where(down, 503, 202),
        "accepted": ~down, "error": np.where(down, "unavailable", ""), "delivery_failed": False,
        "phase": "measured", "bytes": 90.0,
    })  # fmt: skip
    log = pd.DataFrame({"event_id": records["event_id"][~down],
                        "consumed_at": due[~down] + 0.02})  # fmt: skip
    tl = timeline(records, log, 1.0)
    run_dir.mkdir(parents=True)
    tl.to_parquet(run_dir / TIMELINE_FILE)
    reports = [] if outage is None else [{"fault": "kafka-outage", "target": "every broker",
                                          "cycle": 1, "at": outage[0], "end": outage[1]}]  # fmt: skip
    figures = fault_figures(tl, request_frame(records), reports, "kafka-outage", 250.0,
                            float(due.max()), 1) if outage else None  # fmt: skip
    metrics = {"counts": {"lost": 0, "duplicates": 0}, "config": {"rate": rate},
               "faults": figures or {"kind": "none", "instants": []}}  # fmt: skip
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics))


def sweep(tmp_path, with_fault: bool = True, stages: bool = False) -> Sweep:
    runs, points = [], []
    if with_fault:
        for k, outage in enumerate([(T0 + 5.0, T0 + 8.0), (T0 + 5.5, T0 + 10.5)], 1):
            run(tmp_path / "runs" / "02-outage" / f"rep-{k}", outage)
            runs.append({"point": "02-outage", "status": "ok",
                         "run_dir": str(tmp_path / "runs" / "02-outage" / f"rep-{k}")})  # fmt: skip
        points.append({"point": "02-outage", "label": "outage", "status": "ok",
                       "config.fault": "kafka-outage", "config.stages": None})  # fmt: skip
    run(tmp_path / "runs" / "01-base", None)
    runs.append({"point": "01-base", "status": "ok", "run_dir": str(tmp_path / "runs" / "01-base")})
    points.insert(0, {"point": "01-base", "label": "base", "status": "ok", "config.fault": "none",
                      "config.stages": "0:100,20:100" if stages else None})  # fmt: skip
    return Sweep(tmp_path, pd.DataFrame(runs), pd.DataFrame(points), {})


def test_the_failures_table_pools_every_instant_of_every_repetition(tmp_path):
    table = failures.failures_table(sweep(tmp_path))
    (row,) = table.to_dict("records")
    # outages of 3 s and 5 s starting mid-bin: unavailable from the fault to the first good bin
    # (8 and 11): 3.0 and 5.5 s
    assert (row["setting"], row["fault"], row["instants"]) == ("outage", "kafka-outage", 2)
    assert (row["unavailable median (s)"], row["unavailable max (s)"]) == ("4.2", "5.5")
    assert row["errors"] == "503 800" and row["lost"] == 0 and row["rate (events/s)"] == "100"
    assert row["recovery median (s)"] and row["pMax (ms)"] == "10"


def test_the_failures_section_has_its_table_and_a_timeline_per_fault_point(tmp_path):
    found = sections.failures(sweep(tmp_path), 250.0)
    assert "## Failures" in found[0].data
    assert "kafka-outage" in found[1].data and "not seen" not in found[1].data
    charts = [item for item in found if isinstance(item, Figure)]
    assert len(charts) == 1
    axes = charts[0].axes
    assert len(axes) == 3 and any(line.get_linestyle() == "--" for line in axes[0].lines)


def test_a_span_not_seen_to_end_says_so(tmp_path):
    s = sweep(tmp_path)
    path = tmp_path / "runs" / "02-outage" / "rep-2" / METRICS_FILE
    metrics = json.loads(path.read_text())
    metrics["faults"]["instants"][0]["unavailability_s"] = None
    path.write_text(json.dumps(metrics))
    (row,) = failures.failures_table(s).to_dict("records")
    assert row["unavailable median (s)"] == row["unavailable max (s)"] == "not seen"


def test_no_fault_and_no_stages_no_section(tmp_path):
    plain = sweep(tmp_path, with_fault=False)
    assert sections.failures(plain, 250.0) == [] and sections.over_time(plain, 250.0) == []


def test_a_stage_point_gets_its_load_over_time(tmp_path):
    found = sections.over_time(sweep(tmp_path, with_fault=False, stages=True), 250.0)
    assert "## Load over time" in found[0].data and isinstance(found[1], Figure)


def test_a_fault_point_whose_runs_all_failed_shows_no_figures(tmp_path):
    """A failed run (e.g. FAULT MISSED THE LOAD) is in no table of figures: its row says so,
    with no zeros for errors or loss that nobody measured."""
    found = sweep(tmp_path)
    found.points.loc[found.points["point"] == "02-outage", "status"] = "failed"
    found.runs.loc[found.runs["point"] == "02-outage", "status"] = "failed"
    (row,) = failures.failures_table(found).to_dict("records")
    assert row["instants"] == failures.RUN_FAILED
    assert row["lost"] == row["errors"] == row["unavailable median (s)"] == ""
