"""`harness compare` on real runs (real broker, API, consumer): a setting against itself slowed
down (same parameters), against the seed-style server, and two sweeps of two points.

The slow-down pauses the API half of the time (SIGSTOP 20 ms, SIGCONT 20 ms, over its whole
process group): its throughput halves and its p99 grows by a pause whatever the machine's cores
and load. CPU hogs, used before, slowed the same runs by 0.69x on this machine and by nothing
measurable on CI's (0.95x, within the noise), so the verdict rested on the machine.

Each side is 5 repetitions on one system, 1.5 s each (0.5 s of them warm-up), and 5 vs 5 lets
Mann-Whitney U call a 2x slow-down even when one repetition of a noisy shared machine lands among
the other side's (see docs/analysis.md, Compare).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.analysis import summarize_sweep
from harness.cli import main
from harness.params import SEED_STYLE, RunConfig
from harness.run import measure, open_system, run_repetitions
from harness.rundir import SUMMARY_FILE

# Alone on the machine under xdist (conftest.py): verdicts on relative speed.
pytestmark = [pytest.mark.kafka, pytest.mark.exclusive]

REPEAT = 5
PAUSE_S = 0.02  # paused, then running as long: half the time


@contextmanager
def paused_half_the_time(pgid: int):
    """The process group `pgid` stopped and continued in turn for as long as the block runs."""
    done = threading.Event()

    def duty_cycle() -> None:
        while not done.is_set():
            os.killpg(pgid, signal.SIGSTOP)
            done.wait(PAUSE_S)
            os.killpg(pgid, signal.SIGCONT)
            done.wait(PAUSE_S)

    thread = threading.Thread(target=duty_cycle, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        os.killpg(pgid, signal.SIGCONT)


@pytest.fixture(scope="module")
def sides(kafka, tmp_path_factory) -> dict[str, Path]:
    """Three repeated runs: the default setting, the same setting slowed down, and the
    seed-style server."""
    root = tmp_path_factory.mktemp("compare")
    common = {"bootstrap_servers": kafka.bootstrap_servers, "threads": 50, "warmup_s": 0.5,
              "duration_s": 1.0, "drain_timeout_s": 60}  # fmt: skip
    run_repetitions(RunConfig(**common), root / "base", REPEAT, progress=False)
    run_repetitions(RunConfig(**common, **SEED_STYLE), root / "seed", REPEAT, progress=False)
    # The pauses start once the system is up (its start is not what is measured); these
    # repetitions leave no summary.csv, so compare reads the directory of run directories.
    cfg = RunConfig(**common)
    with open_system(cfg, root / "slowed", say=lambda msg: None) as system:
        with paused_half_the_time(system.api.pid):  # the API leads its process group
            for k in range(1, REPEAT + 1):
                measure(system, cfg, root / "slowed" / f"rep-{k}", progress=False)
    return {name: root / name for name in ("base", "slowed", "seed")}


def _compare(capsys, base: Path, new: Path, out: Path) -> tuple[int, str]:
    code = main(["compare", str(base), str(new), "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_the_same_setting_slowed_down_is_a_regression(sides, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "compare", str(sides["base"]), str(sides["slowed"]),
         "--out", str(tmp_path / "c.html")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "run -> slowed: slower" in proc.stdout and "settings that differ" not in proc.stdout
    assert "REGRESSION beyond 5%: slowed (throughput" in proc.stderr
    assert "data:image/png;base64," in (tmp_path / "c.html").read_text()


def test_removing_the_slow_down_is_faster_and_exits_0(sides, tmp_path, capsys):
    code, out = _compare(capsys, sides["slowed"], sides["base"], tmp_path / "c.html")
    assert code == 0, out
    assert "slowed -> run: faster" in out


def test_a_single_point_of_the_seed_style_server_is_slower(sides, tmp_path, capsys):
    code, out = _compare(capsys, sides["base"], sides["seed"], tmp_path / "c.html")
    assert code == 1, out
    differ = out.split("settings that differ: ", 1)[1].splitlines()[0]
    for name, value in SEED_STYLE.items():
        assert f"{name}: {getattr(RunConfig, name)} -> {value}" in differ, differ
    assert "run: slower" in out


def _sweep(root: Path, points: dict[str, Path]) -> Path:
    """A sweep directory's summary.csv over existing repetitions, as harness sweep writes it."""
    dirs, names = [], []
    for name, repeated in points.items():
        found = sorted(repeated.glob("rep-*"))
        dirs += found
        names += [name] * len(found)
    summary = summarize_sweep(dirs)
    summary.insert(1, "point", names)
    summary.insert(2, "label", None)
    summary.insert(3, "repetition", [int(d.name.removeprefix("rep-")) for d in dirs])
    root.mkdir()
    summary.to_csv(root / SUMMARY_FILE, index=False)
    return root


def test_two_sweeps_get_a_verdict_per_point(sides, tmp_path, capsys):
    before = _sweep(tmp_path / "before", {"01-default": sides["slowed"],
                                          "02-seed-style": sides["seed"]})  # fmt: skip
    after = _sweep(tmp_path / "after", {"01-gthread": sides["base"],
                                        "02-seed": sides["seed"]})  # fmt: skip
    code, out = _compare(capsys, before, after, tmp_path / "c.html")
    assert code == 0, out
    assert "01-default -> 01-gthread: faster" in out
    assert "02-seed-style -> 02-seed: no significant change" in out
    assert "unmatched" not in out
