"""The report's logic on written tables: the summary sentences and warnings, the parts that say what
is missing, the "All points" table, the charts chosen for a grid, and how to reproduce."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from harness import plots
from harness.paths import PROJECT_ROOT
from harness.report import charts, sections, summary, sweepdata, tables
from harness.report.sweepdata import ReportError, Sweep

OBJECTIVE = 250.0


def points(intervals: bool = True, **extra_columns) -> pd.DataFrame:
    """threads x linger_ms (2 x 3) on gunicorn, and the seed-style baseline on werkzeug."""
    rows = []
    for threads, linger in itertools.product((50, 200), (0, 10, 50)):
        rows.append({
            "point": f"p-{threads}-{linger}", "label": None, "status": "ok", "repeats": 3,
            "config.threads": threads, "config.linger_ms": linger, "config.server": "gunicorn",
            "config.acks": "all", "config.bootstrap_servers": f"127.0.0.1:{9000 + threads}",
            "throughput_eps": 1000.0 + threads * 2 + linger, "latency_ms.http.p50": 10.0,
            "latency_ms.http.p99": 100.0 + threads / 2, "latency_ms.e2e.p99": 150.0,
            "counts.lost": 0, "counts.duplicates": 0,
        })  # fmt: skip
    rows.append({
        "point": "seed", "label": "seed-style", "status": "ok", "repeats": 3,
        "config.threads": 200, "config.linger_ms": 0, "config.server": "werkzeug",
        "config.acks": "all", "throughput_eps": 500.0, "latency_ms.http.p50": 20.0,
        "latency_ms.http.p99": 200.0, "latency_ms.e2e.p99": 300.0, "counts.lost": 0,
        "counts.duplicates": 0,
    })  # fmt: skip
    table = pd.DataFrame(rows)
    if intervals:
        for figure in ("throughput_eps", "latency_ms.http.p99"):
            table[f"{figure}.ci_lo"] = table[figure] * 0.95
            table[f"{figure}.ci_hi"] = table[figure] * 1.05
    for column, values in extra_columns.items():
        table[column] = values
    return table


def sweep_of(table: pd.DataFrame, meta: dict | None = None) -> Sweep:
    runs = table.loc[table.index.repeat(3)].reset_index(drop=True)  # three repetitions each
    return Sweep(PROJECT_ROOT / "results" / "x", runs, table, meta or {})


def text(html: str) -> str:
    return " ".join(html.replace("<b>", "").replace("</b>", "").split())


def test_the_summary_names_the_best_setting_its_intervals_and_the_baseline():
    sweep = sweep_of(points())
    sentences = [text(s) for s in summary.summary_sentences(sweep, OBJECTIVE)]
    best = sentences[0]
    # threads=200 linger_ms=50: the highest throughput (1,450) with p99 200 ms < 250 ms
    # Three repetitions: the interval is their range, and says its coverage, never "95% CI".
    assert "threads=200 linger_ms=50" in best
    assert "1,450 events/s (range 1,378–1,522, 75% coverage)" in best
    assert "http p99 200.0 ms (range 190.0–210.0, 75% coverage)" in best
    assert "95% CI" not in " ".join(sentences)
    assert "2.9× the throughput of the seed-style baseline (500 events/s)" in sentences[1]
    assert "ran 3 times" in sentences[-1] and "the range of the 3 repetitions" in sentences[-1]
    assert "only 75% of the time" in sentences[-1]
    assert not any("Capacity" in s for s in sentences)  # no capacity column: no sentence
    assert 3 <= len(sentences) <= 5


def test_one_repetition_says_there_are_no_intervals():
    table = points(intervals=False)
    table["repeats"] = 1
    sentences = [text(s) for s in summary.summary_sentences(sweep_of(table), OBJECTIVE)]
    assert "CI" not in sentences[0]
    assert "ran once" in sentences[-1] and "no figure has an interval" in sentences[-1]


def test_no_setting_under_the_objective_and_no_baseline_are_said_plainly():
    table = points()
    table = table[table["label"].isna()]
    sentences = [text(s) for s in summary.summary_sentences(sweep_of(table), 50.0)]
    assert sentences[0].startswith("No setting kept http p99 below the objective of 50 ms")
    assert "lowest was 125.0 ms (threads=50 linger_ms=0" in sentences[0]
    assert "no seed-style baseline" in sentences[1]


def with_searches(n: int = 1) -> pd.DataFrame:
    """The grid of `points()` and two capacity search points (the default and the seed-style
    setup), each searched `n` times; the second's generator was the limit."""
    table = points()
    searches = pd.DataFrame([
        {"point": "cap-default", "label": "capacity of the default", "status": "ok",
         "repeats": n, "config.threads": 200, "config.linger_ms": 10, "config.server": "gunicorn",
         "config.acks": "all", "throughput_eps": 1900.0, "latency_ms.http.p99": 11.5,
         "capacity_eps": 1840.0, "capacity_eps.min": 1700.0 if n > 1 else 1840.0,
         "capacity_eps.max": 1900.0 if n > 1 else 1840.0, "capacity_searches": n,
         "capacity_found": n, "capacity_result": "found", "capacity_reason": "latency",
         "capacity_bound_eps": 1840.0, "capacity_sustainable_eps": 1840.0,
         "capacity_failing_eps": 1930.0, "counts.lost": 0},
        {"point": "cap-seed", "label": "capacity of seed-style", "status": "ok", "repeats": n,
         "config.threads": 200, "config.linger_ms": 0, "config.server": "werkzeug",
         "config.delivery": "flush", "config.acks": "all", "capacity_eps": None,
         "capacity_searches": n, "capacity_found": 0, "capacity_result": "at_least",
         "capacity_reason": "generator", "capacity_bound_eps": 420.0, "counts.lost": 0},
    ])  # fmt: skip
    return pd.concat([table, searches], ignore_index=True)


def test_capacity_joins_the_summary_with_its_bracket_or_the_range_of_its_searches():
    sentences = [text(s) for s in summary.summary_sentences(sweep_of(with_searches(1)), OBJECTIVE)]
    (capacity,) = [s for s in sentences if s.startswith("Capacity")]
    assert ("1,840 events/s (one search: sustainable at 1,840, failed at 1,930; stopped by "
            "latency) for capacity of the default") in capacity  # fmt: skip
    assert "at least 420 events/s" in capacity and "the load generator was the limit" in capacity
    sentences = [text(s) for s in summary.summary_sentences(sweep_of(with_searches(3)), OBJECTIVE)]
    (capacity,) = [s for s in sentences if s.startswith("Capacity")]
    assert (
        "1,840 events/s (median of 3 searches, range 1,700–1,900; stopped by latency)" in capacity
    )
    assert charts.capacity_note(sweep_of(with_searches())) == ""
    assert "capacity: true" in charts.capacity_note(sweep_of(points()))


def test_capacity_searches_are_never_settings_among_the_runs():
    sweep = sweep_of(with_searches(3))
    shown = tables.all_points_table(sweep)
    assert len(shown) == 7 and not shown["label"].str.startswith("capacity").any()
    # The best run is a run, whatever the search's figures (p99 11.5 ms at 1,900 events/s).
    best = sweepdata.best_index(sweep.points, OBJECTIVE)
    assert sweep.points.loc[best, "point"] == "p-200-50"
    assert "capacity" not in " ".join(charts.setting_chart(sweep, OBJECTIVE).axes[0].get_yticklabels()[i].get_text() for i in range(7))  # fmt: skip
    capacity = tables.capacity_table(sweep)
    assert list(capacity["setting"]) == ["capacity of the default", "capacity of seed-style"]
    assert capacity.loc[0, "capacity ev/s"] == "1,840" and capacity.loc[0, "searches"] == "3"
    assert capacity.loc[0, "range of the searches"] == "1,700–1,900"
    assert capacity.loc[0, "bracket (sustainable–failing)"] == "1,840–1,930"
    assert capacity.loc[1, "result"] == "at_least"


def test_warnings_cannot_be_missed_and_name_the_points():
    table = points(client_bound=[True, False, False, False, False, False, False],
                   steady=[True, False, True, True, True, True, True])  # fmt: skip
    table.loc[2, "counts.lost"] = 12
    table.loc[3, ["status", "throughput_eps"]] = ["failed", np.nan]
    found = summary.warnings(sweep_of(table))
    assert len(found) == 4
    assert "1 point(s) failed: threads=200 linger_ms=0" in found[0]
    assert "12 accepted event(s) were LOST" in found[1] and "threads=50 linger_ms=50" in found[1]
    assert "client-bound" in found[2] and "threads=50 linger_ms=0" in found[2]
    assert "unsteady" in found[3] and "threads=50 linger_ms=10" in found[3]
    html = summary.summary_html(sweep_of(table), OBJECTIVE)
    assert 'class="report-summary"' in html and 'role="alert"' in html


def test_a_clean_sweep_says_so_and_text_columns_after_a_csv_round_trip_count(tmp_path):
    table = points(client_bound="False", steady="True")
    assert summary.warnings(sweep_of(table)) == []
    assert "No loss, no failed point" in summary.summary_html(sweep_of(table), OBJECTIVE)
    table = points(client_bound=["True"] + ["False"] * 6)
    assert "client-bound" in summary.warnings(sweep_of(table))[0]


def test_all_points_shows_only_what_varies_sorted_stably_failed_last():
    table = points()
    table.loc[1, "throughput_eps"] = table.loc[0, "throughput_eps"]  # a tie keeps point order
    table.loc[5, ["status", "throughput_eps"]] = ["failed", np.nan]
    shown = tables.all_points_table(sweep_of(table))
    assert list(shown.columns[:4]) == ["label", "threads", "linger ms", "server"]
    assert "acks" not in shown.columns and "bootstrap servers" not in shown.columns
    tput = "events/s [range]"  # three repetitions: a range, and the heading says so
    assert shown.loc[0, tput] == "1,410 [1,340–1,480]"  # 200 threads, linger 10
    ranked = [float(v.split(" ")[0].replace(",", "")) for v in shown[tput] if v]
    assert ranked == sorted(ranked, reverse=True)
    tie = shown[shown[tput].str.startswith("1,100 ")]
    assert list(tie["linger ms"]) == ["0", "10"]
    assert shown.iloc[-1]["flags"] == "FAILED"
    assert tables.fixed_line(sweep_of(table)) == "Same for every point: acks=all."


def test_the_table_html_fits_numbers_right_intervals_below():
    html = tables.table_html(tables.all_points_table(sweep_of(points())))
    assert "1,400<br><span" in html and "[1,330–1,470]" in html
    assert "text-align:right;white-space:nowrap" in html


def test_charts_follow_the_grid_and_the_percentile_chart_keeps_the_best_and_the_baseline():
    sweep = sweep_of(points())
    layout = charts.grid_layout(sweep)
    assert layout["x"] == "config.threads" and layout["series"] == "config.linger_ms"
    assert (layout["row"], layout["col"]) == ("config.threads", "config.linger_ms")
    chosen = charts.percentile_choice(sweep, OBJECTIVE, others=2)
    best, baseline = sweepdata.best_index(sweep.points, OBJECTIVE), 6
    assert chosen[:2] == [best, baseline] and len(chosen) == 4
    assert charts.percentile_choice(sweep, OBJECTIVE, others=0) == [best, baseline]


def test_reproduce_has_the_command_the_grid_the_commit_and_the_versions():
    meta = {
        "grid": {"threads": [50, 200], "linger_ms": [0, 10]},
        "command": "python -m harness sweep --set 'threads=[50, 200]' --out results/x",
        "repeat": 3,
        "environment": {"git_commit": "abc1234", "python_version": "3.11.7",
                        "kafka_version": "4.1.1", "platform": "Linux"},
    }  # fmt: skip
    html = tables.reproduce_html(sweep_of(points(), meta))
    assert "python -m harness sweep --set &#x27;threads=[50, 200]&#x27; --out results/x" in html
    assert "threads:\n- 50\n- 200" in html
    assert "abc1234" in html and "3.11.7" in html and "4.1.1" in html and ">3<" in html
    libraries = {"confluent-kafka": "2.12.0", "kafka-python": "3.0.12", "granian": "2.8.1",
                 "gunicorn": "23.0.0", "werkzeug": "3.1.3", "flask": "3.1.2"}  # fmt: skip
    meta["environment"]["libraries"] = libraries
    html = tables.reproduce_html(sweep_of(points(), meta))
    for name, version in libraries.items():  # every library that shapes the figures
        assert f"{name}: <code>{version}</code>" in html
    from harness.environment import LIBRARIES, library_versions

    assert set(libraries) <= set(LIBRARIES) and library_versions()["granian"]
    older = tables.reproduce_html(sweep_of(points(), {"grid": meta["grid"]}))
    assert "was not recorded" in older and "--grid grid.yaml" in older
    assert "unknown" in tables.reproduce_html(sweep_of(points()))


def test_a_directory_without_a_sweep_is_a_clear_error(tmp_path):
    with pytest.raises(ReportError, match="has no summary.csv.*python -m harness sweep"):
        sweepdata.load_sweep(tmp_path)
    (tmp_path / "summary.csv").write_text("")
    with pytest.raises(ReportError, match="not a readable table"):
        sweepdata.load_sweep(tmp_path)


def test_an_older_sweep_without_points_csv_or_sweep_json_still_loads(tmp_path):
    runs = points(intervals=False).drop(columns=["repeats"])
    runs.to_csv(tmp_path / "summary.csv", index=False)
    (tmp_path / "sweep.json").write_text("{not json")
    sweep = sweepdata.load_sweep(tmp_path)
    assert len(sweep.points) == 7 and (sweep.points["repeats"] == 1).all()
    assert any("points.csv is missing" in n for n in sweep.notes)
    assert any("sweep.json is missing or unreadable" in n for n in sweep.notes)
    assert "environment unknown" in summary.context_line(sweep)


def test_the_notebook_default_finds_results_latest_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    latest = (PROJECT_ROOT / "results" / "latest").resolve()
    monkeypatch.setattr(sweepdata, "RESULTS", PROJECT_ROOT / "results")
    assert sweepdata.resolve_sweep_dir("../results/latest") == latest
    monkeypatch.setattr(sweepdata, "RESULTS", tmp_path / "elsewhere")  # HARNESS_RESULTS
    assert sweepdata.resolve_sweep_dir("../results/latest") == tmp_path / "elsewhere" / "latest"
    assert sweepdata.resolve_sweep_dir(tmp_path) == tmp_path
    (tmp_path / "mine").mkdir()
    assert sweepdata.resolve_sweep_dir("mine") == tmp_path / "mine"


def test_the_objective_comes_from_the_flag_then_the_grid_then_the_default():
    sweep = sweep_of(points(), {"grid": {"p99_objective_ms": 80}})
    assert sweepdata.objective_ms(sweep, 120) == 120
    assert sweepdata.objective_ms(sweep) == 80
    assert sweepdata.objective_ms(sweep_of(points())) == sweepdata.DEFAULT_P99_OBJECTIVE_MS


def test_ten_repetitions_give_a_95_percent_ci_in_every_place_that_shows_one():
    table = points()
    table["repeats"] = table["repeats_ok"] = 10
    for figure in ("throughput_eps", "latency_ms.http.p99"):
        table[f"{figure}.ci_coverage"] = 0.9785
    sweep = sweep_of(table)
    best = text(summary.summary_sentences(sweep, OBJECTIVE)[0])
    assert "1,450 events/s (95% CI 1,378–1,522)" in best and "coverage" not in best
    assert "events/s [95% CI]" in tables.all_points_table(sweep).columns
    assert "95% CIs of the median" in text(summary.summary_sentences(sweep, OBJECTIVE)[-1])


def test_a_sweep_without_a_measured_window_says_so_once_and_draws_nothing():
    table = points(intervals=False)
    for column in ("throughput_eps", "latency_ms.http.p50", "latency_ms.http.p99",
                   "latency_ms.e2e.p99"):  # fmt: skip
        table[column] = np.nan
    table["status"] = "no-window"
    table["counts.sent"] = 300
    sweep = sweep_of(table)
    sentences = [text(s) for s in summary.summary_sentences(sweep, OBJECTIVE)]
    assert sentences[0].startswith("No run had a measured window")
    assert not any("seed-style baseline" in s for s in sentences)
    (warning,) = summary.warnings(sweep)
    assert "7 point(s) had NO MEASURED WINDOW" in warning
    assert "No loss, no failed point" not in summary.summary_html(sweep, OBJECTIVE)
    for section in (sections.settings, sections.grid, sections.latency, sections.best_over_time):
        assert section(sweep, OBJECTIVE) == []  # no heading over an empty chart
    shown = tables.all_points_table(sweep)
    assert set(shown["flags"]) == {"NO MEASURED WINDOW"} and set(shown["sent"]) == {"300"}
    assert "events/s" not in " ".join(shown.columns)
    assert tables.failures(sweep.points).empty  # not failed: measured nothing


def test_settings_without_an_order_are_points_never_lines():
    table = points()
    table["config.server"] = ["granian", "gunicorn", "gunicorn-gevent"] * 2 + ["werkzeug"]
    table["config.threads"] = 200
    table["config.linger_ms"] = [0, 0, 0, 10, 10, 10, 0]
    figure = plots.facet_lines(table.iloc[:6], x="config.server", y="throughput_eps",
                               series="config.linger_ms")  # fmt: skip
    for line in figure.axes[0].get_lines():
        assert line.get_linestyle() == "None"
    ordered = plots.facet_lines(points(), x="config.threads", y="throughput_eps",
                                series="config.linger_ms")  # fmt: skip
    assert any(line.get_linestyle() == "-" for line in ordered.axes[0].get_lines())
