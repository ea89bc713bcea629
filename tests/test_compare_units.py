"""`harness compare` on run and sweep directories written here with known figures: loading each
layout, matching points by parameters, verdicts, exit codes, compare.html."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.analysis import summarize_sweep
from harness.cli import main
from harness.compare import canonical, load_side, match_points, parse_threshold


def _run(path: Path, tput: float, p99: float, **config) -> Path:
    path.mkdir(parents=True)
    config = {"threads": 50, "server": "gunicorn", "acks": "1", "bootstrap_servers": str(path),
              "topic": f"events-{path.name}", **config}  # fmt: skip
    metrics = {
        "config": config,
        "counts": {"sent": 10, "lost": 0, "duplicates": 0},
        "throughput_eps": tput,
        "latency_ms": {"http": {"p50": p99 / 4, "p99": p99}, "e2e": None, "send_delay": None},
    }
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


def _reps(root: Path, scale: float, n: int = 5, seed: int = 0, **config) -> list[Path]:
    """n repetitions of one setting: throughput 1000*scale, p99 100/scale, 2% noise."""
    rng = np.random.default_rng(seed)
    return [
        _run(root / f"rep-{k}", 1000 * scale * rng.normal(1, 0.02), 100 / scale * rng.normal(1, 0.02),
             **config)
        for k in range(1, n + 1)
    ]  # fmt: skip


def _sweep(root: Path, points: dict[str, tuple[float, dict]], seed: int = 0) -> Path:
    """A sweep directory as harness sweep writes it: runs/<point>/rep-<k>/ and summary.csv."""
    dirs, names = [], []
    for i, (name, (scale, config)) in enumerate(points.items()):
        found = _reps(root / "runs" / name, scale, seed=seed + i, **config)
        dirs += found
        names += [name] * len(found)
    summary = summarize_sweep(dirs)
    summary.insert(1, "point", names)
    summary.insert(2, "label", None)
    summary.insert(3, "repetition", [int(d.name.split("-")[1]) for d in dirs])
    summary.to_csv(root / "summary.csv", index=False)
    return root


def _compare(capsys, base, new, *args) -> tuple[int, str]:
    code = main(["compare", str(base), str(new), *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_parse_threshold():
    assert parse_threshold("5%") == pytest.approx(0.05)
    assert parse_threshold("0.1") == pytest.approx(0.1)
    for bad in ("5", "five", "-3%"):
        with pytest.raises(ValueError, match="--threshold"):
            parse_threshold(bad)


def test_canonical_values_survive_a_csv_round_trip():
    assert canonical(200) == canonical(200.0) == canonical("200") == "200"
    assert canonical("1") == canonical(1) and canonical("all") == "all"
    assert canonical(float("nan")) is None and canonical(None) is None
    assert canonical(True) == "true" and canonical(0.5) == "0.5"


def test_sweeps_are_matched_by_parameters_not_names(tmp_path, capsys):
    base = _sweep(tmp_path / "base", {"01-threads=10": (1.0, {"threads": 10}),
                                      "02-threads=50": (1.0, {"threads": 50}),
                                      "03-threads=200": (1.0, {"threads": 200})})  # fmt: skip
    new = _sweep(tmp_path / "new", {"01-t50": (0.8, {"threads": 50}),  # 20% slower
                                    "02-t10": (1.0, {"threads": 10}),
                                    "03-t400": (1.0, {"threads": 400})}, seed=10)  # fmt: skip
    code, out = _compare(capsys, base, new, "--out", str(tmp_path / "c.html"))
    assert code == 1, out
    assert "02-threads=50 -> 01-t50: slower" in out
    assert "01-threads=10 -> 02-t10: no significant change" in out
    assert "only in BASE (unmatched): 03-threads=200" in out
    assert "only in NEW (unmatched): 03-t400" in out
    assert "REGRESSION beyond 5%: 01-t50 (throughput), 01-t50 (http p99)" in out
    page = (tmp_path / "c.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "03-t400" in page
    # the other way round the change is an improvement: exit 0
    code, out = _compare(capsys, new, base, "--out", str(tmp_path / "c2.html"))
    assert code == 0 and "01-t50 -> 02-threads=50: faster" in out


def test_a_larger_threshold_absorbs_the_change(tmp_path, capsys):
    base = _sweep(tmp_path / "base", {"p": (1.0, {})})
    new = _sweep(tmp_path / "new", {"p": (0.8, {})}, seed=3)
    assert _compare(capsys, base, new, "--threshold", "30%")[0] == 0
    code, out = _compare(capsys, base, new, "--threshold", "10%")
    assert code == 1 and "p: slower" in out


def test_single_points_are_compared_whatever_their_parameters(tmp_path, capsys):
    base = tmp_path / "base"
    _reps(base, 1.0, n=4, server="gunicorn")
    new = tmp_path / "new"
    _reps(new, 0.5, n=4, seed=1, server="werkzeug", delivery="flush")
    code, out = _compare(capsys, base, new)
    assert code == 1, out
    assert "settings that differ: delivery: None -> flush; server: gunicorn -> werkzeug" in out
    assert "base -> new: slower" in out
    assert (new / "compare.html").exists()  # the default place


def test_single_runs_cannot_be_told_apart(tmp_path, capsys):
    base = _run(tmp_path / "base", 1000.0, 100.0)
    new = _run(tmp_path / "new", 500.0, 300.0)
    code, out = _compare(capsys, base, new, "--out", str(tmp_path / "c.html"))
    assert code == 0 and "base -> new: cannot tell" in out
    assert "no test is possible with one" in out and "0.50 [no interval]" in out


def test_a_directory_of_runs_groups_repetitions_by_parameters(tmp_path):
    root = tmp_path / "mixed"
    _reps(root / "a", 1.0, n=3, threads=10)
    _reps(root / "b", 1.0, n=2, threads=20)
    side = load_side(root)
    assert sorted(side.summary["point"].value_counts().items()) == [
        ("threads=10", 3), ("threads=20", 2),
    ]  # fmt: skip
    assert side.params["threads=10"]["threads"] == "10"
    assert "bootstrap_servers" not in side.params["threads=10"]  # where, not what


def test_a_parameter_known_to_one_side_only_does_not_prevent_matching(tmp_path):
    base = _sweep(tmp_path / "base", {"a": (1.0, {"threads": 10}), "b": (1.0, {"threads": 20})})
    new = _sweep(tmp_path / "new", {"a": (1.0, {"threads": 10, "warmup_s": 3.0}),
                                    "b": (1.0, {"threads": 20, "warmup_s": 3.0})})  # fmt: skip
    matching = match_points(load_side(base), load_side(new))
    assert matching.pairs == [("a", "a"), ("b", "b")]
    assert matching.one_sided == ["warmup_s"]


def test_failed_repetitions_are_left_out_and_nothing_to_compare_is_an_error(tmp_path, capsys):
    base = _sweep(tmp_path / "base", {"a": (1.0, {"threads": 10}), "b": (1.0, {"threads": 20})})
    summary = pd.read_csv(base / "summary.csv")
    summary.loc[summary["point"].eq("a"), "status"] = "failed"
    summary.to_csv(base / "summary.csv", index=False)
    new = _sweep(tmp_path / "new", {"a": (1.0, {"threads": 10}), "b": (1.0, {"threads": 20})})
    code, out = _compare(capsys, base, new, "--out", str(tmp_path / "c.html"))
    assert code == 0 and "a: cannot tell" in out and "no successful repetition" in out
    other = _sweep(tmp_path / "other", {"x": (1.0, {"threads": 1}), "y": (1.0, {"threads": 2})})
    code, out = _compare(capsys, base, other, "--out", str(tmp_path / "c.html"))
    assert code == 2 and "nothing was compared" in out


def test_bad_directories_are_clear_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, out = _compare(capsys, tmp_path / "empty", tmp_path / "empty")
    assert code == 2 and "holds no summary.csv, no metrics.json and no run directories" in out
    code, out = _compare(capsys, tmp_path / "missing", tmp_path / "empty")
    assert code == 2 and "is not a directory" in out
    assert "Traceback" not in out
