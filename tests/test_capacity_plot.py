"""plot_capacity_steps: the hockey-stick chart from a capacity.json dict."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from harness.capacity.plotting import plot_capacity_steps

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _step(rate, p99, verdict="sustainable"):
    return {"rate_eps": rate, "http_p50_ms": p99 / 3, "http_p99_ms": p99, "verdict": verdict}


def _capacity(result="found", bound=1200.0):
    return {
        "result": result,
        "bound_eps": bound,
        "capacity_eps": bound if result == "found" else None,
        "objective": {"p99_ms": 250.0},
        "setting": {"server": "gunicorn", "delivery": "ack"},
        "steps": [  # in the order the search ran them, not by rate
            _step(700, 40),
            _step(1500, 4000, "unsustainable"),
            _step(1200, 120),
            _step(1300, 900, "unsustainable"),
            _step(1800, 200, "generator-bound"),
            _step(1200, 130),
        ],
    }


def test_draws_percentiles_objective_capacity_and_generator_bound_steps_apart(tmp_path):
    fig = plot_capacity_steps(_capacity())
    (ax,) = fig.axes
    p50, p99, objective, capacity = ax.lines
    # The percentile lines join the system's steps by rate; the generator-bound step is not on them.
    assert list(p99.get_xdata()) == [700, 1200, 1200, 1300, 1500]
    assert list(p99.get_ydata()) == [40, 120, 130, 900, 4000]
    assert list(objective.get_ydata()) == [250, 250] and list(capacity.get_xdata()) == [1200, 1200]
    assert capacity.get_linestyle() == "-"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for words in ("http p50", "http p99", "sustainable", "unsustainable", "generator-bound",
                  "p99 objective 250 ms", "capacity 1,200 events/s"):  # fmt: skip
        assert words in labels, labels
    # The generator-bound step is drawn hollow (no face colour), at its own rate.
    hollow = [c for c in ax.collections if len(c.get_offsets()) and not len(c.get_facecolors())]
    assert hollow and all(np.asarray(c.get_offsets())[0][0] == 1800 for c in hollow)
    assert ax.get_yscale() == "log" and "rate" in ax.get_xlabel() and "gunicorn" in ax.get_title()
    fig.savefig(tmp_path / "capacity.png")
    assert (tmp_path / "capacity.png").read_bytes()[:8] == PNG_MAGIC


def test_an_at_least_bound_is_dashed_and_says_so():
    fig = plot_capacity_steps(_capacity(result="at_least", bound=1300.0))
    ax = fig.axes[0]
    assert ax.lines[-1].get_linestyle() == "--"
    assert "at least 1,300 events/s" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_draws_on_a_given_axes_and_copes_with_no_steps():
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_capacity_steps({"steps": [], "bound_eps": None}, ax=ax) is fig
    assert ax.get_xlabel() == "offered rate (events/s)"
