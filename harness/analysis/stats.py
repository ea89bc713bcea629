"""Statistics of repeated runs: pure functions on small samples, one value per repetition.

What every function assumes: the repetitions of one setting are independent draws from one
distribution (interleaving the repetitions of different settings spreads a shared machine's drift
over all of them), and nothing about its shape (no normality). NaN and None values are dropped.
With fewer than two values no interval or test exists: the functions return NaN, never zero.
Resampling uses a fixed seed, so the same runs always give the same table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cache

import numpy as np

CONFIDENCE = 0.95
ALPHA = 0.05  # significance level of the Mann-Whitney U test
DEFAULT_THRESHOLD = 0.05  # a change smaller than 5% is never called
N_RESAMPLES = 9999
SEED = 20_241_125

FASTER = "faster"
SLOWER = "slower"
NO_CHANGE = "no significant change"
CANNOT_TELL = "cannot tell"
VERDICTS = (FASTER, SLOWER, NO_CHANGE, CANNOT_TELL)

TEST_MANN_WHITNEY = "mann-whitney-u"
TEST_BOOTSTRAP = "bootstrap-ci"  # too few repetitions for U to reach ALPHA
TEST_NONE = "none"

NAN = float("nan")


def clean(sample) -> np.ndarray:
    """The finite values of `sample` as a float array (None, NaN and inf dropped)."""
    values = np.asarray([np.nan if v is None else v for v in np.ravel(sample)], dtype=float)
    return values[np.isfinite(values)]


def median(sample) -> float:
    """The median (the mean of the middle two for an even count); NaN for no values."""
    values = clean(sample)
    return float(np.median(values)) if len(values) else NAN


def cv(sample) -> float:
    """Coefficient of variation: sample standard deviation (ddof=1) over the mean, as a fraction.

    Assumes positive figures (throughput, latency). NaN with fewer than two values or a zero mean.
    """
    values = clean(sample)
    if len(values) < 2 or np.mean(values) == 0:
        return NAN
    return float(np.std(values, ddof=1) / abs(np.mean(values)))


def _rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def _median_stat(x, axis=-1):
    return np.median(x, axis=axis)


# What an interval of the median is called: a distribution-free confidence interval when its
# coverage reaches CONFIDENCE (from 6 repetitions), else the range of the repetitions, whose
# coverage (75% at 3) is stated beside it.
CI_LABEL = f"{CONFIDENCE:.0%} CI"
RANGE_LABEL = "range"


@dataclass(frozen=True)
class Interval:
    """An interval of the median of a few repetitions: [lo, hi], the probability that it covers
    the true median (`coverage`), and what it may be called (`label`: CI_LABEL or RANGE_LABEL)."""

    lo: float
    hi: float
    coverage: float
    label: str

    def text(self, fmt: str = ",.0f") -> str:
        """`95% CI 1,100–1,300`, or `range 1,100–1,300, 75% coverage` (the share of the time such
        a range holds the true median)."""
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            return ""
        span = f"{format(self.lo, fmt)}–{format(self.hi, fmt)}"
        if self.label == CI_LABEL:
            return f"{CI_LABEL} {span}"
        return f"{RANGE_LABEL} {span}, {self.coverage:.0%} coverage"


NO_INTERVAL = Interval(NAN, NAN, NAN, "")


def order_coverage(n: int, k: int) -> float:
    """The probability that [x_(k), x_(n+1-k)] (1-based order statistics of n independent values
    of a continuous distribution) covers its median: 1 - 2 P(Binomial(n, 1/2) <= k - 1)."""
    return float(1 - 2 * _scipy_stats().binom.cdf(k - 1, n, 0.5))


def interval_rank(n: int, confidence: float = CONFIDENCE) -> int:
    """k of the narrowest [x_(k), x_(n+1-k)] reaching `confidence` (1, the range, when none does)."""
    k = 1
    while k + 1 <= n // 2 and order_coverage(n, k + 1) >= confidence:
        k += 1
    return k


def interval_kind(n: int, confidence: float = CONFIDENCE) -> tuple[float, str]:
    """(coverage, label) of the interval of the median of n values (NaN, "" below 2)."""
    if n < 2:
        return NAN, ""
    coverage = order_coverage(n, interval_rank(n, confidence))
    return coverage, CI_LABEL if coverage >= confidence else RANGE_LABEL


def median_interval(sample, confidence: float = CONFIDENCE) -> Interval:
    """The distribution-free interval of the median from order statistics (as
    `scipy.stats.quantile_test(...).confidence_interval` gives it): the narrowest
    [x_(k), x_(n+1-k)] whose coverage reaches `confidence`. It exists from 6 values (the range
    then covers 96.9%). With 2 to 5 values no interval reaches 95%: the range [min, max] is
    returned, labelled a range, with its coverage 1 - 2**(1-n) (50% at 2, 75% at 3, 87.5% at 4,
    93.75% at 5). NO_INTERVAL (NaN) below 2 values. Exact whatever the distribution's shape; it
    assumes only independent repetitions."""
    values = np.sort(clean(sample))
    n = len(values)
    if n < 2:
        return NO_INTERVAL
    k = interval_rank(n, confidence)
    coverage, label = interval_kind(n, confidence)
    return Interval(float(values[k - 1]), float(values[n - k]), coverage, label)


def median_ci(sample, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """(lo, hi) of `median_interval` (a range below 6 values: see its label)."""
    found = median_interval(sample, confidence)
    return found.lo, found.hi


def ratio_of_medians(
    base, new, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES
) -> tuple[float, float, float]:
    """(median(new) / median(base), lo, hi): the ratio and its percentile-bootstrap interval.

    The two samples are resampled independently (unpaired: repetition i of BASE has nothing to do
    with repetition i of NEW). With n <= 5 per side the interval is about
    [min(new)/max(base), max(new)/min(base)]. The interval is (NaN, NaN) when a side has fewer
    than two values; everything is NaN when a side is empty or its median is zero.
    """
    b, n = clean(base), clean(new)
    if not len(b) or not len(n) or np.median(b) == 0:
        return NAN, NAN, NAN
    ratio = float(np.median(n) / np.median(b))
    if len(b) < 2 or len(n) < 2:
        return ratio, NAN, NAN
    if np.ptp(b) == 0 and np.ptp(n) == 0:
        return ratio, ratio, ratio
    if np.any(b <= 0):
        return ratio, NAN, NAN  # a resampled median of zero has no ratio

    def statistic(x, y, axis=-1):
        return np.median(y, axis=axis) / np.median(x, axis=axis)

    result = _scipy_stats().bootstrap(
        (b, n), statistic, n_resamples=n_resamples, confidence_level=confidence,
        method="percentile", vectorized=True, paired=False, rng=_rng(),
    )  # fmt: skip
    ci = result.confidence_interval
    return ratio, float(ci.low), float(ci.high)


@cache
def smallest_p(n_base: int, n_new: int) -> float:
    """The smallest two-sided p-value the Mann-Whitney U test can give for these sample sizes
    (complete separation): 0.10 for 3 vs 3, 0.057 for 3 vs 4, 0.029 for 4 vs 4, 0.008 for 5 vs 5."""
    return float(
        _scipy_stats().mannwhitneyu(np.arange(n_base), np.arange(n_base, n_base + n_new)).pvalue
    )


@dataclass(frozen=True)
class Comparison:
    """One figure of BASE against NEW. `ratio` = median(new) / median(base), with its interval;
    `verdict` is one of VERDICTS, `test` says which rule decided it, `note` why in words."""

    n_base: int
    n_new: int
    median_base: float
    median_new: float
    ratio: float
    ratio_ci_lo: float
    ratio_ci_hi: float
    p_value: float
    test: str
    verdict: str
    note: str

    def to_dict(self) -> dict:
        return asdict(self)


def compare_samples(
    base,
    new,
    higher_is_better: bool,
    threshold: float = DEFAULT_THRESHOLD,
    alpha: float = ALPHA,
) -> Comparison:
    """Did NEW get faster, slower, or neither, than BASE? In the spirit of asv's `compare`.

    A change counts only when it is both larger than the factor `threshold` and significant.
    "Slower" means a throughput (higher_is_better) ratio below 1/(1+threshold), or a latency ratio
    above 1+threshold (the factor is symmetric on a log scale); "faster" the opposite.
    Significance, by the number of repetitions:
    - enough for the two-sided Mann-Whitney U test to reach `alpha` (4 vs 4, 3 vs 5, or more):
      U's p-value < alpha, and the ratio of medians beyond the threshold;
    - fewer (3 vs 3: U's smallest p is 0.10, so U alone could never call a change): the whole
      bootstrap interval of the ratio must lie beyond the threshold. For 3 vs 3 that means every
      NEW repetition is beyond every BASE repetition by more than the threshold, an event of
      probability 1/20 per direction when nothing changed (weaker than U at 4 vs 4);
    - one repetition on a side: no test is possible, the verdict is CANNOT_TELL.
    """
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, not {threshold}")
    b, n = clean(base), clean(new)
    ratio, lo, hi = ratio_of_medians(b, n)
    fields = {
        "n_base": len(b), "n_new": len(n), "median_base": median(b), "median_new": median(n),
        "ratio": ratio, "ratio_ci_lo": lo, "ratio_ci_hi": hi,
    }  # fmt: skip
    if len(b) < 2 or len(n) < 2 or math.isnan(ratio):
        why = (
            "no successful repetition on a side"
            if not len(b) or not len(n)
            else "zero median: no ratio"
            if math.isnan(ratio)
            else f"{len(b)} vs {len(n)} repetition(s): no test is possible with one, so no "
            "change can be called (repeat the runs: --repeat, or `repeat:` in a grid)"
        )
        return Comparison(**fields, p_value=NAN, test=TEST_NONE, verdict=CANNOT_TELL, note=why)

    def slowdown(r: float) -> float:  # > 1 means slower, whatever the figure
        return 1 / r if higher_is_better else r

    p = float(_scipy_stats().mannwhitneyu(b, n, alternative="two-sided").pvalue)
    slow, fast = 1 + threshold, 1 / (1 + threshold)
    if smallest_p(len(b), len(n)) < alpha:
        test, significant = TEST_MANN_WHITNEY, p < alpha
        s = slowdown(ratio)
        verdict = (
            (SLOWER if s > slow else FASTER if s < fast else NO_CHANGE)
            if significant
            else NO_CHANGE
        )
        note = f"Mann-Whitney U p={p:.3g} ({'<' if significant else '>='} {alpha})"
    else:
        test = TEST_BOOTSTRAP
        s_lo, s_hi = sorted((slowdown(lo), slowdown(hi)))
        verdict = SLOWER if s_lo > slow else FASTER if s_hi < fast else NO_CHANGE
        note = (
            f"{len(b)} vs {len(n)} repetitions: Mann-Whitney U cannot reach p < {alpha} "
            f"(smallest p {smallest_p(len(b), len(n)):.2f}); called only when the whole "
            f"{CONFIDENCE:.0%} interval of the ratio is beyond the threshold"
        )
    return Comparison(**fields, p_value=p, test=test, verdict=verdict, note=note)


def overall_verdict(verdicts) -> str:
    """One verdict for several figures: slower if any figure got slower (a regression on one
    figure is a regression), else faster if any got faster, else cannot tell if any could not be
    told, else no significant change."""
    verdicts = list(verdicts)
    for verdict in (SLOWER, FASTER, CANNOT_TELL):
        if verdict in verdicts:
            return verdict
    return NO_CHANGE


def _scipy_stats():
    """scipy.stats, imported when first used: its import takes ~1 CPU-s, and most processes that
    load this module (a run's own CLI) never call it."""
    from scipy import stats

    return stats
