"""harness.analysis.stats on synthetic samples with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analysis import stats


@pytest.mark.parametrize("n", [3, 6, 10, 25])
def test_an_interval_covers_the_true_median_as_often_as_it_says(n):
    """Seeded trials on a skewed distribution (like latencies): the share of intervals holding
    the true median matches the stated coverage (exact for order statistics), 75% at n=3."""
    rng = np.random.default_rng(n)
    true_median = 1.0  # of lognormal(0, sigma): exp(0)
    trials = 2000
    found = [stats.median_interval(rng.lognormal(0.0, 0.5, size=n)) for _ in range(trials)]
    covered = np.mean([i.lo <= true_median <= i.hi for i in found])
    stated = found[0].coverage
    assert abs(covered - stated) < 0.03, (covered, stated)


def test_fewer_than_6_repetitions_give_a_range_and_from_6_a_95_percent_ci():
    three = stats.median_interval([3.0, 1.0, 2.0])
    assert (three.lo, three.hi, three.label) == (1.0, 3.0, stats.RANGE_LABEL)
    assert three.coverage == pytest.approx(0.75)
    assert three.text(",.0f") == "range 1–3, 75% coverage"
    assert "95% CI" not in three.text()
    five = stats.median_interval([5.0, 1.0, 2.0, 4.0, 3.0])
    assert (five.lo, five.hi, five.label) == (1.0, 5.0, stats.RANGE_LABEL)
    assert five.coverage == pytest.approx(0.9375)
    ten = stats.median_interval(np.arange(10.0))
    assert ten.label == stats.CI_LABEL == "95% CI"
    assert (ten.lo, ten.hi) == (1.0, 8.0)  # the 2nd and 9th of 10: 97.9% coverage
    assert ten.coverage == pytest.approx(0.9785, abs=1e-4)
    assert ten.text(",.0f").startswith("95% CI 1–8")


def test_the_interval_is_scipys_distribution_free_one():
    from scipy.stats import quantile_test

    rng = np.random.default_rng(7)
    for n in range(6, 40):
        x = rng.normal(size=n)
        mine = stats.median_interval(x)
        theirs = quantile_test(x, q=0.0, p=0.5).confidence_interval(0.95)
        assert (mine.lo, mine.hi) == (theirs.low, theirs.high), n


def test_one_value_gives_no_interval():
    assert all(math.isnan(v) for v in stats.median_ci([7.0]))
    assert all(math.isnan(v) for v in stats.median_ci([]))
    assert stats.median_interval([7.0]).text() == ""
    assert stats.median_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert stats.median_ci([1.0, None, float("nan"), 3.0, 2.0]) == (1.0, 3.0)


def test_cv_and_median():
    assert stats.cv([1.0, 2.0, 3.0]) == pytest.approx(0.5)  # sd 1 (ddof=1), mean 2
    assert math.isnan(stats.cv([4.0]))
    assert stats.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert math.isnan(stats.median([]))


def test_ratio_of_medians_of_three_against_three_spans_the_extremes():
    ratio, lo, hi = stats.ratio_of_medians([100.0, 110.0, 90.0], [80.0, 85.0, 75.0])
    assert ratio == pytest.approx(80 / 100)
    assert lo == pytest.approx(75 / 110) and hi == pytest.approx(85 / 90)
    ratio, lo, hi = stats.ratio_of_medians([100.0], [80.0, 85.0])
    assert ratio == pytest.approx(0.825) and math.isnan(lo) and math.isnan(hi)


def test_smallest_mann_whitney_p_values():
    assert stats.smallest_p(3, 3) == pytest.approx(0.1)
    assert stats.smallest_p(4, 4) == pytest.approx(2 / 70)
    assert stats.smallest_p(5, 5) == pytest.approx(2 / 252)


def _throughput(rng, n, scale=1.0, cv=0.05):
    return rng.normal(1000.0 * scale, 1000.0 * scale * cv, size=n)


def test_two_samples_of_one_distribution_show_no_significant_change():
    rng = np.random.default_rng(1)
    verdicts = [
        stats.compare_samples(
            _throughput(rng, 5), _throughput(rng, 5), higher_is_better=True
        ).verdict
        for _ in range(200)
    ]
    assert set(verdicts) <= {stats.NO_CHANGE, stats.FASTER, stats.SLOWER}
    assert verdicts.count(stats.NO_CHANGE) / len(verdicts) >= 0.95
    one = stats.compare_samples([1000, 1010, 990, 1005, 995], [1002, 998, 1008, 992, 1001], True)
    assert one.verdict == stats.NO_CHANGE and one.test == stats.TEST_MANN_WHITNEY


def test_a_planted_15_percent_regression_is_slower():
    rng = np.random.default_rng(2)
    verdicts = [
        stats.compare_samples(_throughput(rng, 5), _throughput(rng, 5, 0.85), True).verdict
        for _ in range(200)
    ]
    assert verdicts.count(stats.SLOWER) / len(verdicts) >= 0.9
    assert stats.FASTER not in verdicts
    # latency: a 15% higher p99 is slower too; 15% lower is faster
    base = rng.normal(200.0, 5.0, size=6)
    slower = stats.compare_samples(base, base * 1.15, higher_is_better=False)
    assert slower.verdict == stats.SLOWER and slower.ratio == pytest.approx(1.15)
    assert stats.compare_samples(base, base / 1.15, higher_is_better=False).verdict == stats.FASTER


def test_a_significant_change_below_the_threshold_is_not_called():
    base = np.array([1000.0, 1001, 1002, 1003, 1004])
    new = base * 0.97  # always lower (p = 0.008) but only by 3%
    c = stats.compare_samples(base, new, higher_is_better=True)
    assert c.p_value < 0.05 and c.verdict == stats.NO_CHANGE
    assert stats.compare_samples(base, new, True, threshold=0.02).verdict == stats.SLOWER


def test_three_against_three_is_called_only_when_the_interval_clears_the_threshold():
    base = [1000.0, 1040.0, 980.0]
    separated = stats.compare_samples(base, [800.0, 850.0, 820.0], higher_is_better=True)
    assert separated.test == stats.TEST_BOOTSTRAP and separated.verdict == stats.SLOWER
    assert "cannot reach p < 0.05" in separated.note
    overlapping = stats.compare_samples(base, [800.0, 850.0, 1050.0], higher_is_better=True)
    assert overlapping.verdict == stats.NO_CHANGE
    # separated (every NEW below every BASE), but by less than the 5% threshold
    close = stats.compare_samples(base, [960.0, 970.0, 975.0], higher_is_better=True)
    assert close.verdict == stats.NO_CHANGE


def test_one_repetition_cannot_tell():
    c = stats.compare_samples([1000.0], [500.0], higher_is_better=True)
    assert c.verdict == stats.CANNOT_TELL and c.test == stats.TEST_NONE
    assert c.ratio == pytest.approx(0.5) and math.isnan(c.ratio_ci_lo) and math.isnan(c.p_value)
    assert stats.compare_samples([], [1.0, 2.0], True).verdict == stats.CANNOT_TELL
    with pytest.raises(ValueError, match="threshold"):
        stats.compare_samples([1.0, 2.0], [1.0, 2.0], True, threshold=-0.1)


def test_overall_verdict():
    assert stats.overall_verdict([stats.FASTER, stats.SLOWER]) == stats.SLOWER
    assert stats.overall_verdict([stats.FASTER, stats.NO_CHANGE]) == stats.FASTER
    assert stats.overall_verdict([stats.CANNOT_TELL, stats.NO_CHANGE]) == stats.CANNOT_TELL
    assert stats.overall_verdict([stats.NO_CHANGE, stats.NO_CHANGE]) == stats.NO_CHANGE
