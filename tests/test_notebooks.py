"""The notebooks, executed for real (papermill, a real Jupyter kernel, the real broker), and the
HTML report they produce (tests/test_report_browser.py renders it in headless Chromium)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest
from kafka_helpers import BrokerWatch

from harness.analysis.sweep import best_setting
from harness.params import SEED_STYLE, RunConfig
from harness.report import render_report
from harness.report.sweepdata import BASELINE_LABEL

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["experiment", "sweep", "report"]


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)


def _parameters_cell(nb) -> str:
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return cell.source


def _error_outputs(nb) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]  # fmt: skip


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebooks_are_stored_without_outputs(name):
    for cell in _read(name).cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{name}: {cell.source[:60]}"


def test_experiment_parameters_cell_has_every_run_parameter_defaulting_to_the_harness():
    """None means "the harness's default": RunConfig owns the defaults, the notebook repeats none."""
    values = {}
    for node in ast.parse(_parameters_cell(_read("experiment"))).body:
        if isinstance(node, ast.Assign):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    for f in fields(RunConfig):
        assert f.name in values, f"parameters cell lacks {f.name}"
        assert values[f.name] is None, f.name
    assert {"params", "out_dir", "slo"} <= set(values)


@pytest.fixture(scope="module")
def from_notebooks_dir(kafka, tmp_path_factory):
    """The notebooks as JupyterLab runs them: working directory notebooks/, default paths.
    Results go to a temporary HARNESS_RESULTS (the default's root) and the cluster is the
    session's broker through KAFKA_BOOTSTRAP_SERVERS, so only sizes come through parameters.
    The sweep has two good points, the seed-style baseline and a deliberately bad point."""
    results = tmp_path_factory.mktemp("results")
    env = {"HARNESS_RESULTS": str(results), "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    stray = ROOT / "notebooks" / ".harness"
    grid = {"events": 300, "warmup_s": 0, "threads": [5, 20],
            "extra_points": [{"label": "seed-style", **SEED_STYLE}, {"label": "bad", "acks": "most"}]}  # fmt: skip
    try:
        executed = {}
        with BrokerWatch() as watch:
            for name, params in [
                ("sweep", {"grid": grid}),
                ("report", {}),
                ("experiment", {"events": 300, "warmup_s": 0, "threads": 5}),
            ]:
                out = results / f"{name}.ipynb"
                papermill.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out),
                                           parameters=params, cwd=str(ROOT / "notebooks"),
                                           progress_bar=False)  # fmt: skip
                executed[name] = nbformat.read(out, as_version=4)
        yield results, executed, stray.exists(), watch.new, kafka.bootstrap_servers
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.kafka
@pytest.mark.notebooks
def test_sweep_notebook_runs_every_point_and_records_the_bad_one(from_notebooks_dir, sweep_dir):
    assert not _error_outputs(from_notebooks_dir[1]["sweep"])
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert list(summary["point"]) == ["01-threads=5", "02-threads=20", "03-seed-style", "04-bad"]
    assert list(summary["status"]) == ["ok", "ok", "ok", "failed"]
    assert "acks must be one of" in summary.loc[3, "error"]
    ok = summary[summary["status"] == "ok"]
    assert (ok["counts.lost"] == 0).all() and (ok["counts.unique_consumed"] == 300).all()
    assert {"sweep.git_commit", "sweep.kafka_version", "sweep.hostname", "sweep.cpu_count"} <= set(
        summary.columns
    )
    for point in ok["point"]:
        run = nbformat.read(sweep_dir / "runs" / point / "experiment.ipynb", as_version=4)
        assert not _error_outputs(run), point
        images = [
            o for c in run.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
        ]
        assert len(images) == 3, point  # the time series, the timeline and the percentiles
    bad = nbformat.read(sweep_dir / "runs" / "04-bad" / "experiment.ipynb", as_version=4)
    (error,) = _error_outputs(bad)
    assert "acks must be one of" in error["evalue"]
    failure = json.loads((sweep_dir / "runs" / "04-bad" / "failure.json").read_text())
    assert "acks must be one of" in failure["error"]


@pytest.fixture(scope="module")
def sweep_dir(from_notebooks_dir) -> Path:
    """The sweep the notebooks' test ran: where `make run` writes, under HARNESS_RESULTS."""
    return from_notebooks_dir[0] / "latest"


@pytest.fixture(scope="module")
def report_html(sweep_dir) -> Path:
    return render_report(sweep_dir, p99_objective_ms=10_000)


@pytest.mark.kafka
@pytest.mark.notebooks
def test_report_html_is_standalone_without_code(report_html, sweep_dir):
    executed = nbformat.read(sweep_dir / "report.ipynb", as_version=4)
    assert not _error_outputs(executed)
    html = report_html.read_text()
    assert html.count('src="data:image/png;base64,') >= 4
    assert "Kafka ingestion benchmark report" in html
    assert "The best setting under the objective" in html
    # The comparison the data calls for: in this tiny sweep (300 events a point, < 1 s each) the
    # seed-style point can come out best by noise, and the report must then say so.
    best = best_setting(pd.read_csv(sweep_dir / "summary.csv"), p99_ms_max=10_000)
    if best is not None and best["label"] == BASELINE_LABEL:
        assert "The seed-style baseline is itself the best setting" in html
    else:
        assert "the throughput</b> of the seed-style baseline" in html
    assert "04-bad" in html and "acks must be one of" in html
    assert "run_sweep(" not in html and "plots.throughput_vs_threads" not in html  # no code cells


@pytest.mark.kafka
@pytest.mark.notebooks
def test_notebooks_run_from_the_notebooks_folder_with_their_defaults(from_notebooks_dir):
    results, executed, stray_home, new_brokers, bootstrap = from_notebooks_dir
    for name, nb in executed.items():
        assert not _error_outputs(nb), name
    latest = results / "latest"
    summary = pd.read_csv(latest / "summary.csv")  # the sweep wrote where `make run` writes
    assert list(summary["status"]) == ["ok", "ok", "ok", "failed"]
    # KAFKA_BOOTSTRAP_SERVERS named the session's broker: the sweep started none of its own.
    assert new_brokers == set()
    ok = summary[summary["status"] == "ok"]
    assert (ok["config.bootstrap_servers"] == bootstrap).all()
    assert (latest / "points.csv").exists()
    report_images = [o for c in executed["report"].cells for o in c.get("outputs", [])
                     if "image/png" in o.get("data", {})]  # fmt: skip
    assert len(report_images) >= 3  # the report notebook opened results/latest and drew it
    metrics = json.loads((results / "notebook-run" / "metrics.json").read_text())
    assert metrics["counts"]["lost"] == 0 and metrics["counts"]["sent"] == 300
    assert not stray_home, "a notebook made a second .harness/ in notebooks/"


def test_running_notebooks_skips_jsonschemas_iri_parsers():
    """harness/kernels.py keeps nbformat's jsonschema from building rfc3987_syntax's parsers
    (1.2 CPU-s in every process that runs a notebook), in a process of the harness's own."""
    code = ("import sys, harness.sweep, harness.report.render, papermill, nbconvert; "
            "print(sys.modules.get('rfc3987_syntax', 'never imported'))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)  # fmt: skip
    assert out.stdout.strip() == "None", out.stdout
