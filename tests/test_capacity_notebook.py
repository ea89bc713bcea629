"""notebooks/capacity.ipynb: stored without outputs, every run parameter and the objective as
papermill parameters; the tables it shows come from harness.capacity.tables."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import nbformat

from harness.capacity.tables import steps_frame, summary_fields
from harness.params import RunConfig

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "capacity.ipynb"


def _parameters() -> dict:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign)
    }


def test_stored_without_outputs():
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, cell.source[:60]


def test_parameters_are_every_run_parameter_and_the_objective():
    values = _parameters()
    for f in fields(RunConfig):
        assert values.get(f.name, "missing") is None, f"parameters cell: {f.name}"
    assert values["p99_objective_ms"] == 250.0 and values["e2e_p99_objective_ms"] is None
    assert {"params", "out_dir", "precision", "max_steps", "step_s", "slo"} <= set(values)


CAPACITY = {
    "result": "found",
    "capacity_eps": 950.0,
    "bound_eps": 950.0,
    "reason": "latency",
    "steps": [
        {"index": 1, "role": "grow", "rate_eps": 700.0, "http_p99_ms": 40.0,
         "verdict": "sustainable", "reason": None, "reasons": []},
        {"index": 2, "role": "grow", "rate_eps": 1000.0, "http_p99_ms": 900.0,
         "verdict": "unsustainable", "reason": "latency",
         "reasons": ["http p99 900 ms > objective 250 ms", "achieved 900 < 98%"]},
    ],
}  # fmt: skip


def test_steps_frame_has_a_row_per_step_with_every_reason_in_words():
    frame = steps_frame(CAPACITY)
    assert list(frame.index) == [1, 2]
    assert frame.loc[2, "rate (events/s)"] == 1000 and frame.loc[2, "http p99 (ms)"] == 900
    assert frame.loc[2, "reason"] == "http p99 900 ms > objective 250 ms; achieved 900 < 98%"
    assert frame.loc[1, "reason"] == ""


def test_summary_fields_name_the_capacity_and_why_it_stopped():
    assert summary_fields(CAPACITY) == {
        "capacity_eps": 950.0,
        "capacity_reason": "latency",
        "capacity_result": "found",
        "capacity_bound_eps": 950.0,
        "capacity_sustainable_eps": CAPACITY.get("sustainable_eps"),
        "capacity_failing_eps": CAPACITY.get("failing_eps"),
    }
