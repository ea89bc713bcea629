"""The steadiness test on synthetic per-second series with known answers (seeded noise)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.steadiness import MIN_SECONDS, steadiness, trend, window_series


def flat(rng, seconds: int, level: float, noise: float) -> np.ndarray:
    return level + rng.normal(0.0, noise * level, seconds)


def test_planted_linear_growth_of_latency_is_flagged():
    rng = np.random.default_rng(1)
    e2e = 100.0 + 5.0 * np.arange(20) + rng.normal(0, 10, 20)  # +95% across 20 s
    verdict = steadiness(flat(rng, 20, 1000.0, 0.05), e2e)
    assert verdict["steady"] is False
    assert verdict["e2e"]["trend"] is True and verdict["throughput"]["trend"] is False
    lo, hi = verdict["e2e"]["ci_pct_per_s"]
    assert 0 < lo < verdict["e2e"]["slope_pct_per_s"] < hi
    assert verdict["reasons"] == [
        f"e2e grows {verdict['e2e']['slope_pct_per_s']:.1f}% of its mean per second"
    ]


def test_falling_throughput_is_flagged():
    rng = np.random.default_rng(2)
    throughput = np.linspace(1200.0, 800.0, 15) + rng.normal(0, 20, 15)
    verdict = steadiness(throughput, flat(rng, 15, 50.0, 0.1))
    assert verdict["steady"] is False and verdict["throughput"]["slope_pct_per_s"] < 0
    assert verdict["reasons"][0].startswith("throughput falls")


def test_flat_noisy_series_pass():
    rng = np.random.default_rng(4)
    verdict = steadiness(flat(rng, 10, 1000.0, 0.10), flat(rng, 10, 80.0, 0.20))
    assert verdict["steady"] is True and verdict["reasons"] == []


def test_flat_noisy_windows_are_flagged_at_most_5_percent_of_the_time():
    rng = np.random.default_rng(5)
    # Noisy enough that the practical-size condition rarely saves the verdict: the interval must.
    flagged = [
        steadiness(flat(rng, 10, 1000.0, 0.25), flat(rng, 10, 80.0, 0.25))["steady"] is False
        for _ in range(500)
    ]
    assert np.mean(flagged) <= 0.05 + 0.03  # ~3 binomial standard errors of slack


def test_tiny_but_significant_slope_of_a_long_run_is_not_a_trend():
    rng = np.random.default_rng(3)
    seconds = 600
    e2e = 100.0 * (1 + 0.0002 * np.arange(seconds)) + rng.normal(0, 1, seconds)  # +12% in 10 min
    result = trend(e2e)
    lo, _ = result["ci_pct_per_s"]
    assert lo > 0  # significant...
    assert result["trend"] is False  # ...but smaller than the practical change


def test_constant_series_has_no_trend():
    assert trend(np.full(8, 500.0)) == {
        "slope_pct_per_s": 0.0,
        "ci_pct_per_s": [0.0, 0.0],
        "trend": False,
    }


def test_too_short_a_window_is_not_judged():
    short = np.full(MIN_SECONDS - 1, 100.0)
    verdict = steadiness(short, short)
    assert verdict["steady"] is None
    assert verdict["throughput"] == {"slope_pct_per_s": None, "ci_pct_per_s": None, "trend": None}
    assert any("seconds with a value, fewer than 5" in r for r in verdict["reasons"])


def test_seconds_without_latency_are_left_out_and_nothing_consumed_is_not_judged():
    e2e = np.array([100.0, np.nan, 101.0, 99.0, np.nan, 100.0, 100.5, 99.5])
    assert trend(e2e)["trend"] is False
    verdict = steadiness(np.zeros(8), np.full(8, np.nan))
    assert verdict["steady"] is None and len(verdict["reasons"]) == 2


def test_window_series_counts_whole_seconds_of_the_measured_sends():
    # One event every 0.1 s from t=100 for 6 s; consumed 50 ms later; warm-up before t=101.
    sent = 100.0 + np.arange(60) * 0.1
    consumed = sent + 0.05
    consumed[7] = np.nan  # never consumed
    consumed[25] = consumed[24]  # two consumed at once: still counted per event
    measured = np.arange(60) >= 10
    throughput, e2e = window_series(sent, consumed, measured, start=sent[10], last_send=sent[-1])
    # measured sends span 101.0 .. 105.9: 4 whole seconds (the partial fifth is dropped)
    assert list(throughput) == [10, 10, 10, 10]
    assert e2e == pytest.approx([50.0, 50.0, 50.0, 50.0])


@pytest.mark.parametrize("seconds", [MIN_SECONDS, 9, 120])
def test_the_slope_and_its_interval_are_scipys_linregress_and_t(seconds):
    """The fit is written out (scipy.stats is slow to import); it must be linregress's."""
    from scipy import stats

    from harness.analysis.steadiness import LEVEL

    rng = np.random.default_rng(seconds)
    y = flat(rng, seconds, 500.0, 0.2) + 3.0 * np.arange(seconds)
    fit = stats.linregress(np.arange(seconds), y)
    half = stats.t.ppf(0.5 + LEVEL / 2, seconds - 2) * fit.stderr
    result = trend(y)
    mean = y.mean()
    assert result["slope_pct_per_s"] == pytest.approx(100 * fit.slope / mean, rel=1e-9)
    assert result["ci_pct_per_s"] == pytest.approx(
        [100 * (fit.slope - half) / mean, 100 * (fit.slope + half) / mean], rel=1e-9
    )


def test_a_run_does_not_import_scipy_stats():
    """~1 CPU-s of every `harness run` (scipy.stats is for compare and sweeps' intervals)."""
    import subprocess
    import sys

    code = "import sys, harness.run, harness.cli; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
