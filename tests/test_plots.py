"""harness.plots: each function returns a Figure with the expected lines/axes and saves to PNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from harness import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _summary() -> pd.DataFrame:
    rows = []
    for endpoint, per_request in (("single", 1), ("batch", 10)):
        for threads in (50, 10, 200):  # unsorted on purpose
            rows.append(
                {
                    "status": "ok",
                    "config.endpoint": endpoint,
                    "config.events_per_request": per_request,
                    "config.threads": threads,
                    "throughput_eps": threads * 10.0 * per_request,
                    "latency_ms.http.p50": threads / 10,
                    "latency_ms.http.p99": threads / 2,
                }
            )
    rows.append({"status": "failed", "config.endpoint": "grpc", "config.threads": 5})
    return pd.DataFrame(rows)


def _saves_png(fig: Figure, path) -> None:
    fig.savefig(path)
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_throughput_vs_threads_draws_one_sorted_line_per_group(tmp_path):
    fig = plots.throughput_vs_threads(_summary())
    (ax,) = fig.axes
    assert len(ax.lines) == 2  # the failed run's group is not drawn
    assert list(ax.lines[0].get_xdata()) == [10, 50, 200]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "endpoint=batch, events_per_request=10",
        "endpoint=single, events_per_request=1",
    ]
    assert "events/s" in ax.get_ylabel() and "threads" in ax.get_xlabel() and ax.get_title()
    _saves_png(fig, tmp_path / "throughput.png")


def test_group_by_columns_absent_from_the_table_are_ignored():
    fig = plots.throughput_vs_threads(_summary(), group_by=["config.endpoint", "config.acks"])
    assert len(fig.axes[0].lines) == 2
    fig = plots.throughput_vs_threads(_summary(), group_by=[])
    assert len(fig.axes[0].lines) == 1


def test_latency_vs_threads_draws_p50_and_p99_per_group(tmp_path):
    fig = plots.latency_vs_threads(_summary())
    (ax,) = fig.axes
    assert len(ax.lines) == 4
    assert list(ax.lines[0].get_ydata()) == [5.0, 25.0, 100.0]  # p99 of the first group
    assert ax.lines[1].get_linestyle() == "--"
    assert ax.get_ylabel() == "http latency (ms)"
    _saves_png(fig, tmp_path / "latency.png")


def test_latency_vs_throughput_is_one_curve_per_group(tmp_path):
    fig = plots.latency_vs_throughput(_summary())
    (ax,) = fig.axes
    assert len(ax.lines) == 2
    assert list(ax.lines[1].get_xdata()) == [100.0, 500.0, 2000.0]  # in load order
    assert "events/s" in ax.get_xlabel() and ax.get_ylabel() == "http p99 latency (ms)"
    _saves_png(fig, tmp_path / "saturation.png")


def test_percentile_distribution_uses_the_inverse_tail_axis(tmp_path):
    rng = np.random.default_rng(1)
    runs = {"a": rng.exponential(5.0, 100_000), "b": rng.exponential(2.0, 50), "none": None}
    fig = plots.percentile_distribution(runs)
    (ax,) = fig.axes
    assert len(ax.lines) == 2 and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "90", "99", "99.9", "99.99"]
    x, y = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    assert x[0] == pytest.approx(1.0) and x[-1] == pytest.approx(10_000.0)
    assert y[-1] == pytest.approx(np.percentile(runs["a"], 99.99))
    assert np.all(np.diff(y) >= 0)
    # 50 samples support percentiles up to 98 only: the curve stops there
    assert ax.lines[1].get_xdata()[-1] == pytest.approx(50.0)
    _saves_png(fig, tmp_path / "percentiles.png")


def test_run_timeseries_has_two_panels(tmp_path):
    series = pd.DataFrame(
        {
            "second": [0, 1, 2],
            "sent_eps": [3, 0, 2],
            "accepted_eps": [2, 0, 2],
            "consumed_eps": [0, 3, 3],
            "e2e_p50_ms": [np.nan, 1000.0, 550.0],
            "e2e_p99_ms": [np.nan, 1098.0, 697.0],
        }
    )
    fig = plots.run_timeseries(series)
    rate_ax, lat_ax = fig.axes
    assert len(rate_ax.lines) == 3 and len(lat_ax.lines) == 2
    assert rate_ax.get_ylabel() == "events/s" and "ms" in lat_ax.get_ylabel()
    assert "(s)" in lat_ax.get_xlabel()
    _saves_png(fig, tmp_path / "timeseries.png")
