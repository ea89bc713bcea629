"""harness.plots on the figure objects: legends outside the plotting areas, at most MAX_SERIES
series per axes (more become panels), settings as categories, intervals as error bars, the best
and the baseline in their colours, and every figure saves as a PNG."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def grid_points(with_intervals: bool = True) -> pd.DataFrame:
    """threads x linger_ms x batch_size (3 x 4 x 2 points) and a labelled seed-style point."""
    rows = []
    for threads, linger, batch in itertools.product((200, 10, 50), (0, 5, 10, 50), (16384, 262144)):
        tput = threads * 10.0 + linger * 3 + batch / 16384
        rows.append({
            "point": f"t{threads}-l{linger}-b{batch}", "label": None, "status": "ok",
            "config.threads": threads, "config.linger_ms": linger, "config.batch_size": batch,
            "config.server": "gunicorn", "throughput_eps": tput,
            "latency_ms.http.p99": 1000.0 / (linger + 1) + threads,
        })  # fmt: skip
    rows.append({
        "point": "seed", "label": "seed-style", "status": "ok", "config.threads": 50,
        "config.linger_ms": 0, "config.batch_size": 16384, "config.server": "werkzeug",
        "throughput_eps": 300.0, "latency_ms.http.p99": 400.0,
    })  # fmt: skip
    rows.append({"point": "bad", "label": "bad", "status": "failed", "config.threads": 5})
    points = pd.DataFrame(rows)
    if with_intervals:
        for figure in ("throughput_eps", "latency_ms.http.p99"):
            points[f"{figure}.ci_lo"] = points[figure] * 0.9
            points[f"{figure}.ci_hi"] = points[figure] * 1.1
    return points


def names(points: pd.DataFrame) -> pd.Series:
    return points["label"].fillna(points["point"])


def draw(fig: Figure) -> None:
    FigureCanvasAgg(fig).draw()


def plotting_areas(fig: Figure) -> list:
    """The axes that hold data (a colorbar's axes is a legend of its own)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def legends(fig: Figure) -> list:
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]


def assert_legends_outside(fig: Figure) -> None:
    """No legend box overlaps a plotting area (window extents after a draw)."""
    draw(fig)
    renderer = fig.canvas.get_renderer()
    for legend in legends(fig):
        box = legend.get_window_extent(renderer)
        for ax in plotting_areas(fig):
            assert not box.overlaps(ax.get_window_extent(renderer)), (
                f"legend {[t.get_text() for t in legend.get_texts()]} overlaps {ax.get_title()!r}"
            )


def series_per_axes(fig: Figure) -> list[int]:
    """Labelled lines and error-bar series per plotting area: what a reader tells apart."""
    return [len(set(ax.get_legend_handles_labels()[1])) for ax in plotting_areas(fig)]


def saves_png(fig: Figure, path) -> None:
    fig.savefig(path)
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_facet_lines_draws_categories_panels_and_intervals(tmp_path):
    points = grid_points()
    fig = plots.facet_lines(
        points, x="config.threads", y="throughput_eps", series="config.batch_size",
        facet="config.linger_ms",
    )  # fmt: skip
    panels = plotting_areas(fig)
    assert len(panels) == 4  # one per linger_ms value
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["10", "50", "200"]
    assert list(panels[0].get_xticks()) == [0, 1, 2]  # categories, evenly spaced
    assert series_per_axes(fig) == [2, 2, 2, 2]
    assert panels[0].containers and all(c.has_yerr for c in panels[0].containers)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["16Ki", "256Ki"]
    assert "(events/s)" in panels[0].get_ylabel() and "threads" in panels[0].get_xlabel()
    assert_legends_outside(fig)
    saves_png(fig, tmp_path / "lines.png")


def test_facet_lines_never_draws_more_than_eight_series_per_axes():
    rows = [
        {"status": "ok", "config.threads": t, "config.acks": f"a{k}", "throughput_eps": t * k}
        for t in (1, 2) for k in range(12)
    ]  # fmt: skip
    fig = plots.facet_lines(pd.DataFrame(rows), x="config.threads", y="throughput_eps",
                            series="config.acks")  # fmt: skip
    assert max(series_per_axes(fig)) <= plots.MAX_SERIES
    assert "4 more values" in fig.get_suptitle()
    assert_legends_outside(fig)


def test_setting_bars_rank_every_point_and_mark_the_best_and_the_baseline(tmp_path):
    points = grid_points()
    best = points["throughput_eps"].idxmax()
    baseline = points.index[points["label"].eq("seed-style")][0]
    fig = plots.setting_bars(points, names(points), best, baseline, p99_objective_ms=250)
    tput_ax, lat_ax = plotting_areas(fig)
    bars = tput_ax.patches
    assert len(bars) == len(points) - 1  # the failed point has no bar
    widths = [b.get_width() for b in bars]
    assert widths == sorted(widths)  # highest throughput on top
    colors = {tuple(np.round(b.get_facecolor()[:3], 3)) for b in bars}
    assert len(colors) == 3  # best, baseline, the rest
    labels = [t.get_text() for t in tput_ax.get_yticklabels()]
    assert labels[-1].endswith("(best)") and "seed-style" in labels
    assert any(getattr(c, "has_xerr", False) for c in tput_ax.containers)  # the intervals
    assert any(line.get_linestyle() == "--" for line in lat_ax.lines)  # the objective
    assert_legends_outside(fig)
    saves_png(fig, tmp_path / "bars.png")


def test_grid_heatmap_writes_each_cell_with_its_interval_one_panel_per_facet(tmp_path):
    points = grid_points()
    grid = points[points["label"].isna()]
    fig = plots.grid_heatmap(grid, row="config.linger_ms", col="config.batch_size",
                             facet="config.threads")  # fmt: skip
    panels = plotting_areas(fig)
    assert len(panels) == 3
    cell = grid[(grid["config.threads"] == 10) & (grid["config.linger_ms"] == 5)
                & (grid["config.batch_size"] == 16384)].iloc[0]  # fmt: skip
    texts = [t.get_text() for t in panels[0].texts]
    assert f"{cell['throughput_eps']:,.0f}\n[{cell['throughput_eps.ci_lo']:,.0f}–" in "|".join(
        texts
    )
    assert len(texts) == 8  # 4 linger values x 2 batch sizes
    assert [t.get_text() for t in panels[0].get_xticklabels()] == ["16Ki", "256Ki"]
    saves_png(fig, tmp_path / "heatmap.png")


def test_percentile_distribution_pins_colours_keeps_the_legend_outside(tmp_path):
    rng = np.random.default_rng(1)
    runs = {f"point {i}": rng.exponential(5.0 + i, 20_000) for i in range(10)}
    runs["none"] = None
    colors = {"point 0": plots.BEST_COLOR, "point 1": plots.BASELINE_COLOR}
    fig = plots.percentile_distribution(runs, colors=colors)
    (ax,) = plotting_areas(fig)
    assert len(ax.lines) == plots.MAX_SERIES and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "90", "99", "99.9", "99.99"]
    assert ax.lines[0].get_color() == plots.BEST_COLOR
    assert ax.lines[1].get_color() == plots.BASELINE_COLOR
    assert ax.lines[0].get_linewidth() > ax.lines[2].get_linewidth()
    x, y = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()
    assert x[-1] == pytest.approx(10_000.0)
    assert y[-1] == pytest.approx(np.percentile(runs["point 0"], 99.99))
    assert_legends_outside(fig)
    saves_png(fig, tmp_path / "percentiles.png")


def test_percentile_curve_stops_where_the_sample_stops():
    fig = plots.percentile_distribution({"small": np.arange(50.0)})
    assert plotting_areas(fig)[0].lines[0].get_xdata()[-1] == pytest.approx(50.0)


def test_run_timeseries_names_its_bin_width_and_shades_the_warmup(tmp_path):
    seconds = np.arange(0, 5, 0.25)
    series = pd.DataFrame({
        "second": seconds, "sent_eps": 100.0, "accepted_eps": 100.0, "consumed_eps": 90.0,
        "e2e_p50_ms": 5.0, "e2e_p99_ms": 20.0,
    })  # fmt: skip
    series.attrs["warmup_s"] = 1.0
    fig = plots.run_timeseries(series)
    rate_ax, lat_ax = plotting_areas(fig)
    assert len(rate_ax.lines) == 3 and len(lat_ax.lines) == 2
    assert "250 ms bins" in lat_ax.get_xlabel() and "(s)" in lat_ax.get_xlabel()
    assert rate_ax.get_ylabel() == "events/s" and "(ms)" in lat_ax.get_ylabel()
    assert any(p.get_label() == "warm-up" for p in rate_ax.patches)
    assert_legends_outside(fig)
    saves_png(fig, tmp_path / "timeseries.png")


def test_capacity_bars_mark_generator_bound_searches_as_at_least(tmp_path):
    points = pd.DataFrame({
        "point": ["a", "b", "seed"], "label": [None, None, "seed-style"],
        "capacity_eps": [900.0, 1200.0, 300.0],
        "capacity_reason": ["latency", "generator", "latency"],
    })  # fmt: skip
    fig = plots.capacity_bars(points, names(points), best=0, baseline=2)
    (ax,) = plotting_areas(fig)
    hatched = [b for b in ax.patches if b.get_hatch()]
    assert [b.get_width() for b in hatched] == [1200.0]
    assert any(t.get_text().startswith(" ≥ 1,200") for t in ax.texts)
    assert "seed-style" in [t.get_text() for t in ax.get_yticklabels()]
    assert "(events/s)" in ax.get_xlabel()
    saves_png(fig, tmp_path / "capacity.png")


@pytest.mark.parametrize(
    ("value", "label"),
    [(262144, "256Ki"), (16384.0, "16Ki"), (1048576, "1Mi"), (50, "50"), (0.5, "0.5"),
     ("all", "all"), (True, "true")],
)  # fmt: skip
def test_value_label(value, label):
    assert plots.value_label(value) == label


def test_the_overlap_check_catches_a_legend_inside_the_plot():
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], label="a line")
    ax.legend(loc="upper left")
    with pytest.raises(AssertionError, match="overlaps"):
        assert_legends_outside(fig)
