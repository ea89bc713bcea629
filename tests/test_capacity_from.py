"""A rate taken from a measured capacity (`capacity_from`, `rate_fraction`), in a run and in a
grid (`capacity_from: label:NAME`), and the shipped grids/faults.yaml (pure logic, no Kafka)."""

from __future__ import annotations

import json

import pytest

from harness.params import FAULTS, RunConfig
from harness.paths import PROJECT_ROOT
from harness.sweep import (
    checkable_params,
    expand_grid,
    is_capacity,
    load_grid,
    referenced_points,
    run_params,
    schedule,
    validate_grid,
)


def write_capacity(folder, doc: dict):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "capacity.json").write_text(json.dumps(doc))
    return folder


def test_the_rate_is_a_share_of_the_capacity_of_either_shape_of_capacity_json(tmp_path):
    search = write_capacity(tmp_path / "search", {"result": "found", "capacity_eps": 4150,
                                                  "summary": "capacity 4,150 events/s"})  # fmt: skip
    cfg = RunConfig(capacity_from=str(search), rate_fraction=0.8, duration_s=5)
    assert cfg.rate == 3320.0 and cfg.capacity_from == str(search / "capacity.json")
    # a point searched several times: its own capacity.json, the median of its searches
    point = write_capacity(tmp_path / "point", {"searches": [{}, {}, {}], "capacity_eps": 2001,
                                                "found": 3})  # fmt: skip
    assert RunConfig(capacity_from=str(point / "capacity.json"), rate_fraction=0.5).rate == 1000.5
    assert RunConfig(capacity_from=str(point)).rate == 2001  # rate_fraction defaults to 1
    # replacing other fields keeps the rate: it is resolved again, to the same value
    from dataclasses import replace

    assert replace(cfg, fault="none", broker_warmup_s=0).rate == 3320.0
    from harness.run import rate_source

    assert rate_source(cfg) == {"file": str(search / "capacity.json"), "capacity_eps": 4150.0,
                                "shape": "search", "summary": "capacity 4,150 events/s",
                                "rate_fraction": 0.8, "rate": 3320.0}  # fmt: skip


@pytest.mark.parametrize(
    "doc, given, words",
    [
        (None, {}, "no capacity.json there"),
        ({"result": "below", "capacity_eps": None, "summary": "below 500 events/s"}, {},
         "holds no capacity \\(below 500 events/s\\)"),
        ({"capacity_eps": 1000}, {"rate": 300}, "rate=300 and capacity_from both set the rate"),
        ({"capacity_eps": 1000}, {"stages": "5:100"}, "leave rate, duration_s and capacity_from"),
        ({"capacity_eps": 1000}, {"rate_fraction": 0}, "rate_fraction must be > 0"),
    ],
)  # fmt: skip
def test_a_capacity_that_cannot_give_a_rate_is_refused(tmp_path, doc, given, words):
    folder = tmp_path / "c"
    if doc is not None:
        write_capacity(folder, doc)
    with pytest.raises(ValueError, match=words):
        RunConfig(capacity_from=str(folder), **given)


def test_a_label_reference_is_for_grids_and_names_a_capacity_point():
    with pytest.raises(ValueError, match="names a capacity point of the same grid"):
        RunConfig(capacity_from="label:cap")
    grid = {"rate_fraction": 0.8, "duration_s": 5, "extra_points": [
        {"label": "cap", "capacity": True, "p99_objective_ms": 250},
        {"label": "run", "capacity_from": "label:cap"}]}  # fmt: skip
    points = validate_grid(grid)
    assert referenced_points(points) == {2: 1}
    assert checkable_params(points[2])["rate"] > 0 and "capacity_from" not in checkable_params(
        points[2])  # fmt: skip
    # the capacity point runs first (every repetition), then the rest round-robin
    assert schedule(points, 2) == [(1, 1), (1, 2), (0, 1), (2, 1), (0, 2), (2, 2)]
    bad = {**grid, "extra_points": [grid["extra_points"][1]]}
    with pytest.raises(ValueError, match="label:cap names no capacity point"):
        validate_grid(bad)
    on_a_run = {"extra_points": [{"label": "cap", "threads": 5},
                                 {"label": "run", "capacity_from": "label:cap"}]}  # fmt: skip
    with pytest.raises(ValueError, match="names no capacity point"):
        validate_grid(on_a_run)
    searched = {"extra_points": [{"label": "cap", "capacity": True, "p99_objective_ms": 250,
                                  "stages": "5:100"}]}  # fmt: skip
    with pytest.raises(ValueError, match="a capacity search finds the rate itself"):
        validate_grid(searched)


def test_the_faults_grid_runs_every_fault_kind_at_80_percent_of_the_capacity_it_finds_first():
    grid = load_grid(PROJECT_ROOT / "grids" / "faults.yaml")
    points = validate_grid(grid)
    (capacity,) = [i for i, p in enumerate(points) if is_capacity(p)]
    refs = referenced_points(points)
    assert set(refs.values()) == {capacity} and len(refs) == len(points) - 1
    assert schedule(points, 1)[0] == (capacity, 1)
    kinds = []
    for i, point in enumerate(points):
        cfg = RunConfig.from_dict(checkable_params(point))
        assert (cfg.brokers, cfg.replication_factor, cfg.isr(), cfg.acks) == (3, 3, 2, "all")
        assert (cfg.server, cfg.client, cfg.delivery) == (RunConfig.server, RunConfig.client,
                                                          RunConfig.delivery)  # fmt: skip
        if i == capacity:
            assert run_params(point).get("capacity_from") is None
            continue
        assert point["rate_fraction"] == 0.8 and cfg.rate is not None
        kinds.append(cfg.fault)
        if cfg.fault != "none":
            # in time, inside the measured window, every point a cluster of its own
            assert cfg.fault_at_s is not None and cfg.fault_at_s < cfg.measured_s()
            assert cfg.needs_own_cluster()
    assert sorted(kinds) == sorted(set(FAULTS) - {"kill-broker-twice"})
    assert expand_grid(grid)[0]["label"] == "no-fault"


def test_the_broker_kill_grid_compares_settings_at_one_rate_from_the_capacity_it_finds_first():
    """grids/broker-kill.yaml: the default against kafka-python and acks=1, each killing a broker
    3 times in time on 3 brokers (RF 3, min ISR 2), all at 80% of the default's capacity."""
    points = validate_grid(load_grid(PROJECT_ROOT / "grids" / "broker-kill.yaml"))
    (capacity,) = [i for i, p in enumerate(points) if is_capacity(p)]
    assert schedule(points, 1)[0] == (capacity, 1)
    assert set(referenced_points(points)) == set(range(len(points))) - {capacity}
    settings = {}
    for i, point in enumerate(points):
        cfg = RunConfig.from_dict(checkable_params(point))
        assert (cfg.brokers, cfg.replication_factor, cfg.isr()) == (3, 3, 2)
        if i == capacity:
            assert (cfg.acks, cfg.client, cfg.fault) == (RunConfig.acks, RunConfig.client, "none")
            continue
        assert point["rate_fraction"] == 0.8 and cfg.fault == "kill-broker"
        assert (cfg.fault_cycles, cfg.fault_at_s) == (3, 3) and cfg.needs_own_cluster()
        settings[point["label"]] = (cfg.client, cfg.acks)
    assert settings == {"default": (RunConfig.client, RunConfig.acks),
                        "kafka-python": ("kafka-python", RunConfig.acks),
                        "acks-1": (RunConfig.client, "1")}  # fmt: skip
