"""Grid files: expansion into points, naming, validation (pure logic, no Kafka)."""

from __future__ import annotations

import pytest
import yaml

from harness.params import RunConfig
from harness.sweep import DEFAULT_GRID, _varying, expand_grid, load_grid, point_name


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


def test_default_grid_has_the_seed_style_baseline_and_batch_settings():
    grid = yaml.safe_load(DEFAULT_GRID.read_text())
    points = expand_grid(grid)
    seed = [p for p in points if p.get("label") == "seed-style"]
    assert len(seed) == 1 and seed[0]["server"] == "werkzeug" and seed[0]["delivery"] == "flush"
    assert isinstance(grid["threads"], list) and len(grid["threads"]) >= 2
    assert isinstance(grid["linger_ms"], list) or isinstance(grid["batch_size"], list)
    gevent = [p for p in points if p.get("server") == "gunicorn-gevent"]
    assert len(gevent) == 1
    for point in points:  # every point is a valid run (e.g. gevent workers with kafka-python)
        RunConfig.from_dict({k: v for k, v in point.items() if k != "label"})
