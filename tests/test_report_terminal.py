"""What the terminal shows: one result line per point (figures, flags, FAILED) and one progress
bar over the points."""

from __future__ import annotations

import io

from harness.progress import CLIENT_BOUND, UNSTEADY, PointProgress, result_line


def metrics(tput: float, p99: float, lost: int = 0, bound=False, steady=True) -> dict:
    return {
        "throughput_eps": tput,
        "latency_ms": {"http": {"p99": p99}},
        "counts": {"lost": lost},
        "client_bound": bound,
        "steadiness": {"steady": steady},
    }


def test_a_result_line_has_the_figures_and_the_flags():
    line = result_line(
        "03-threads=50", metrics(12345.6, 42.25, bound=True, steady=False), elapsed_s=18.2
    )
    assert line.split()[0] == "03-threads=50"
    assert "12,346 events/s" in line and "http p99    42.2 ms" in line and "lost 0" in line
    assert CLIENT_BOUND in line and UNSTEADY in line and line.endswith("(18 s)")


def test_loss_and_failure_stand_out():
    assert "LOST 7" in result_line("p", metrics(10, 1, lost=7))
    failed = result_line("04-bad", None, error="acks must be one of 0, 1, all", elapsed_s=3)
    assert "FAILED: acks must be one of 0, 1, all" in failed


def test_repetitions_give_medians_summed_loss_and_any_flag():
    runs = [metrics(100, 10), metrics(300, 30, lost=1, bound=True), metrics(200, 20, lost=2)]
    line = result_line("p", runs)
    assert "200 events/s" in line and "http p99    20.0 ms" in line and "LOST 3" in line
    assert "median of 3 reps" in line and CLIENT_BOUND in line and UNSTEADY not in line


def test_a_metrics_dict_without_some_figures_gives_a_shorter_line():
    assert result_line("p", {"counts": {"lost": 0}}) == "p  lost 0"
    assert UNSTEADY not in result_line("p", {"steadiness": {"steady": None}})


def test_the_progress_bar_counts_points_and_prints_lines_above_it(monkeypatch):
    monkeypatch.setenv("HARNESS_PROGRESS", "bar")  # as on a terminal
    out = io.StringIO()
    with PointProgress(2, file=out) as progress:
        progress.start("01-a")
        progress.done("01-a  100 events/s")
        progress.start("02-b")
        progress.done("02-b  FAILED: boom")
    text = out.getvalue()
    assert "01-a  100 events/s\n" in text and "02-b  FAILED: boom\n" in text
    assert "2/2" in text and "left" in text  # the bar with its estimate of the time left
    quiet = io.StringIO()
    with PointProgress(1, enabled=False, file=quiet) as progress:
        progress.done("x")
    assert quiet.getvalue() == ""


def test_progress_written_to_a_log_is_a_plain_line_every_few_seconds(monkeypatch):
    from harness import progress as progress_module

    monkeypatch.setenv("HARNESS_PROGRESS", "plain")
    clock = iter(range(0, 1000, 2))  # two seconds pass between calls
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: float(next(clock)))
    out = io.StringIO()
    with PointProgress(6, file=out) as bar:
        for k in range(6):
            bar.start(f"0{k}")
            bar.done(f"0{k}  done")
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [line for line in lines if line.endswith("  done")] == [f"0{k}  done" for k in range(6)]
    status = [line for line in lines if line.startswith("points:")]
    assert 1 < len(status) < 6  # not one per update: one every PLAIN_EVERY_S (5 s)
    assert status[-1].startswith("points: 6/6 points (100%)")
    assert "left" in status[0]
