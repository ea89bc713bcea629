"""Grid files: expansion into points, naming, validation (pure logic, no Kafka)."""

from __future__ import annotations

import pytest
import yaml

from harness.params import SEED_STYLE, RunConfig
from harness.paths import DEFAULT_GRID
from harness.sweep import (
    _varying,
    expand_grid,
    grid_file_or_default,
    grid_repeat,
    grid_slos,
    is_capacity,
    load_grid,
    point_name,
    run_params,
    schedule,
    validate_grid,
)


def test_grid_is_the_cartesian_product_of_lists_plus_extra_points():
    grid = {
        "events": 100,
        "threads": [10, 50],
        "linger_ms": [0, 5, 20],
        "extra_points": [{"label": "seed-style", "server": "werkzeug", "delivery": "flush"}],
    }
    points = expand_grid(grid)
    assert len(points) == 2 * 3 + 1
    assert {(p["threads"], p["linger_ms"]) for p in points[:6]} == {
        (t, li) for t in (10, 50) for li in (0, 5, 20)
    }
    assert all(p["events"] == 100 for p in points)
    assert points[-1] == {"events": 100, "label": "seed-style", "server": "werkzeug",
                          "delivery": "flush"}  # fmt: skip


def test_point_names_show_the_varying_parameters_or_the_label():
    grid = {"threads": [10, 50], "acks": "all", "extra_points": [{"label": "seed style!"}]}
    points = expand_grid(grid)
    names = [point_name(i, p, _varying(grid)) for i, p in enumerate(points, 1)]
    assert names == ["01-threads=10", "02-threads=50", "03-seed_style_"]


def test_misspelled_parameter_fails_before_any_run():
    with pytest.raises(ValueError, match=r"unknown run parameter\(s\) \['treads'\]"):
        expand_grid({"treads": [1, 2]})


def test_inline_entries_win_over_the_file(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("threads: [1, 2]\nacks: all\n")
    assert load_grid(path, {"acks": "1"}) == {"threads": [1, 2], "acks": "1"}
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        load_grid(path)


def test_default_grid_has_the_default_the_baseline_repetitions_and_capacity():
    grid = yaml.safe_load(DEFAULT_GRID.read_text())
    points = expand_grid(grid)
    seed = [p for p in points if p.get("label") == "seed-style"]
    assert len(seed) == 1 and SEED_STYLE.items() <= seed[0].items()
    assert RunConfig().server in grid["server"]  # the API's default setting is a point
    assert grid_repeat(grid) >= 3 and grid["warmup_s"] > 0
    searches = [p for p in points if is_capacity(p)]
    assert {p["server"] for p in searches} == {RunConfig().server, "werkzeug"}
    for point in points:  # every point is a valid run
        RunConfig.from_dict(run_params(point))


def test_repetitions_are_interleaved_capacity_searches_too_unless_a_point_says_otherwise():
    points = [{"threads": 1}, {"threads": 2}, {"capacity": True, "p99_objective_ms": 9}]
    assert schedule(points, 3) == [(0, 1), (1, 1), (2, 1), (0, 2), (1, 2), (2, 2),
                                   (0, 3), (1, 3), (2, 3)]  # fmt: skip
    points[2]["repeat"] = 1  # an extra point's own repeat: e.g. one search in make run
    assert schedule(points, 3) == [(0, 1), (1, 1), (2, 1), (0, 2), (1, 2), (0, 3), (1, 3)]
    points[0]["repeat"] = 4
    assert schedule(points, 2)[-1] == (0, 4)
    assert "repeat" not in run_params(points[0])  # how often, not how: not a run parameter


@pytest.mark.parametrize(
    "grid, words",
    [
        ({"repeat": 0}, "repeat must be a whole number >= 1"),
        ({"repeat": "3x"}, "repeat must be a whole number >= 1"),
        ({"capacity": True}, "needs p99_objective_ms"),
        ({"capacity": True, "p99_objective_ms": 0}, "p99 objective must be a number"),
        ({"capacity": True, "p99_objective_ms": 9, "capacity_precision": 2}, "precision"),
        ({"slo": ["latency_ms.http.p99 <"]}, "is not KEY OP NUMBER"),
        ({"acks": ["1", "most"]}, "point 02-acks=most: acks must be one of"),
        (
            {"bootstrap_servers": "h:9092", "extra_points": [{"label": "three", "brokers": 3}]},
            "point 02-three: brokers=3 asks for an embedded cluster",
        ),  # fmt: skip
        ({"bootstrap_servers": "h:9092", "fault": "kafka-outage"}, "needs the embedded cluster"),
    ],
)
def test_bad_sweep_keys_fail_before_any_run(grid, words):
    with pytest.raises(ValueError, match=words):
        validate_grid(grid)


def test_reserved_keys_are_not_run_parameters_and_not_product_axes():
    grid = {"threads": [1, 2], "repeat": 2, "slo": ["counts.lost == 0", "throughput_eps > 1"]}
    points = expand_grid(grid)
    assert points == [{"threads": 1}, {"threads": 2}]  # slo's list is not an axis
    assert grid_slos(grid, ["counts.failed == 0"]) == [
        "counts.lost == 0", "throughput_eps > 1", "counts.failed == 0"
    ]  # fmt: skip


def test_the_default_grid_is_used_unless_inline_entries_make_the_grid(tmp_path):
    assert grid_file_or_default(None, {}) == str(DEFAULT_GRID)
    assert grid_file_or_default(None, {"threads": [1]}) is None
    assert grid_file_or_default(tmp_path / "g.yaml", {"threads": [1]}) == str(tmp_path / "g.yaml")
