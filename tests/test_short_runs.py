"""Short runs, as a new user makes them first, give figures; a run that really measured nothing
says so everywhere its figures would be (the run's line, the tables, compare, the report). (The
README's first example, 10,000 events from 200 senders, runs as shown in test_docs_examples.py,
which checks its figures; a sweep of 4 points of 2,000 events each is test_report_browser.py's.)

On the session's broker (KAFKA_BOOTSTRAP_SERVERS), through the command line, as the README shows
them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[1]


def harness(kafka, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def test_five_repetitions_of_4000_events_each_give_figures(kafka, tmp_path):
    out = harness(kafka, "run", "--events", "4000", "--threads", "100", "--repeat", "5",
                  "--out", str(tmp_path))  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stderr.splitlines() if line.startswith("rep ")]
    assert len(lines) == 5 and all("events/s" in line for line in lines), out.stderr
    points = pd.read_csv(tmp_path / "points.csv")
    assert points.loc[0, "status"] == "ok" and points.loc[0, "throughput_eps"] > 0
    # Five repetitions: the interval is their range, and says so.
    assert points.loc[0, "interval"] == "range"
    assert points.loc[0, "throughput_eps.ci_coverage"] == pytest.approx(0.9375)
    assert "range" in out.stdout and "94% coverage" in out.stdout


def test_a_run_with_no_measured_window_says_so_in_every_place(kafka, tmp_path):
    """Forced: a warm-up of 60 s over 100 events sent in well under a second."""
    runs = []
    for name in ("a", "b"):
        out = harness(kafka, "run", "--warmup-s", "60", "--events", "100", "--threads", "10",
                      "--quiet", "--out", str(tmp_path / name))  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.startswith("NO MEASURED WINDOW, no figures"), out.stdout
        runs.append(tmp_path / name)
    compared = harness(kafka, "compare", str(runs[0]), str(runs[1]))
    assert "no measured window on BASE and NEW" in compared.stdout, compared.stdout
    assert "no successful repetition" not in compared.stdout
    sweep = tmp_path / "sweep"
    out = harness(kafka, "sweep", "--set", "warmup_s=60", "--set", "events=100",
                  "--set", "threads=10", "--out", str(sweep))  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "NO MEASURED WINDOW" in out.stderr and "had no measured window" in out.stderr
    assert pd.read_csv(sweep / "summary.csv").loc[0, "status"] == "no-window"
    assert pd.read_csv(sweep / "points.csv").loc[0, "status"] == "no-window"
    html = (sweep / "report.html").read_text()
    assert "No run had a measured window" in html and "NO MEASURED WINDOW" in html
    assert 'src="data:image/png' not in html  # no chart at all, not an empty one
    assert "No loss, no failed point" not in html


def test_the_result_line_says_what_was_not_measured_instead_of_failing():
    """Every event refused (a wrong API key): no e2e latency; nothing measured: no figures."""
    from harness.analysis import compute_metrics, read_events_log
    from harness.run import summary_line

    now = 1_700_000_000.0
    records = pd.DataFrame({
        "event_id": [f"r-{i}" for i in range(20)], "request_id": range(20),
        "sent_at": [now + i / 10 for i in range(20)], "done_at": [now + i / 10 + 0.01 for i in range(20)],
        "status": 401, "accepted": False, "phase": "measured",
    })  # fmt: skip
    refused = compute_metrics(records, read_events_log([]), {"warmup_s": 0}, {})
    line = summary_line(refused)
    assert "e2e p99 -;" in line and "rejected" not in line and "sent 20 accepted 0" in line
    empty = compute_metrics(
        records.assign(phase="warmup"), read_events_log([]), {"warmup_s": 9}, {}
    )
    assert summary_line(empty).startswith("NO MEASURED WINDOW, no figures")
