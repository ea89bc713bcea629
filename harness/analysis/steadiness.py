"""Was a run's measured window steady? A trend test on its per-second throughput and e2e latency.

The test, for each series (one value per whole second of the window):
- fit value = a + b * second by ordinary least squares and take the 97.5% confidence interval
  of the slope b from its standard error and Student's t with n - 2 degrees of freedom (two
  series, Bonferroni: under the assumptions below a steady window is flagged at most 5% of the
  time);
- express b and its interval in percent of the series' mean per second;
- the series has a trend when the interval excludes 0 AND the fitted change across the window,
  |b| x n seconds, is more than PRACTICAL_CHANGE (20%) of the mean. The second condition keeps a
  tiny but significant slope of a long run from flagging it: only a change a person would act
  on counts.
The window is steady when neither series has a trend. It is not judged (steady is None) when
either series has fewer than MIN_SECONDS values or a mean that is not positive.

Assumptions: the residuals around the line are independent with a constant spread. Per-second
figures of a busy machine are autocorrelated (a slow second is often followed by another), which
makes the interval narrower than it should be; the practical-size condition is what keeps that
from flagging noise. A slope finds a drift, not a step or an oscillation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

METHOD = (
    "OLS slope of per-second throughput and median e2e: a trend when the slope's 97.5% CI "
    "excludes 0 and the change across the window exceeds 20% of the mean"
)
SERIES = ("throughput", "e2e")
WINDOW_LEVEL = 0.95  # for the verdict on the window: both series together
LEVEL = 1 - (1 - WINDOW_LEVEL) / len(SERIES)  # per series (Bonferroni)
PRACTICAL_CHANGE = 0.20  # of the mean, across the whole window
MIN_SECONDS = 5  # fewer per-second values cannot tell a trend from noise


def trend(values: np.ndarray) -> dict:
    """The slope test of one per-second series (NaN seconds are left out).

    Returns {"slope_pct_per_s", "ci_pct_per_s": [lo, hi], "trend": bool}, or the same keys with
    None (and a "reason") when the series cannot be judged.
    """
    y = np.asarray(values, dtype=float)
    x = np.arange(len(y), dtype=float)
    kept = np.isfinite(y)
    x, y = x[kept], y[kept]
    if len(y) < MIN_SECONDS:
        return _unjudged(f"{len(y)} whole seconds with a value, fewer than {MIN_SECONDS}")
    mean = float(y.mean())
    if not mean > 0:
        return _unjudged("its mean is not positive")
    if np.ptp(y) == 0:  # constant: there is no trend
        return {"slope_pct_per_s": 0.0, "ci_pct_per_s": [0.0, 0.0], "trend": False}
    slope, stderr = _ols_slope(x, y)
    half = _t_quantile(0.5 + LEVEL / 2, len(y) - 2) * stderr
    lo, hi = slope - half, slope + half
    significant = lo > 0 or hi < 0
    span_s = x[-1] - x[0] + 1
    large = abs(slope) * span_s > PRACTICAL_CHANGE * mean
    return {
        "slope_pct_per_s": 100.0 * slope / mean,
        "ci_pct_per_s": [100.0 * lo / mean, 100.0 * hi / mean],
        "trend": bool(significant and large),
    }


def _ols_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The least-squares slope of y on x and its standard error (what scipy.stats.linregress
    gives as slope and stderr; written out because scipy.stats takes ~1 CPU-s to import, a
    good part of a short `harness run`'s own CPU)."""
    dx, dy = x - x.mean(), y - y.mean()
    sxx = float(dx @ dx)
    slope = float(dx @ dy) / sxx
    residual = dy - slope * dx
    return slope, math.sqrt(float(residual @ residual) / (len(x) - 2) / sxx)


def _t_quantile(p: float, df: int) -> float:
    """Student's t quantile (scipy.special is a fraction of scipy.stats' import)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, p))


def _unjudged(reason: str) -> dict:
    return {"slope_pct_per_s": None, "ci_pct_per_s": None, "trend": None, "reason": reason}


def steadiness(throughput_per_s: np.ndarray, e2e_per_s: np.ndarray) -> dict:
    """metrics.json's "steadiness": {"steady", "method", "throughput", "e2e", "reasons"}.

    `throughput_per_s`: events per second through the window; `e2e_per_s`: a typical e2e latency
    per second (e.g. the median), NaN for a second without one. `reasons` says why the window is
    unsteady or not judged (empty when steady).
    """
    results = dict(zip(SERIES, (trend(throughput_per_s), trend(e2e_per_s)), strict=True))
    reasons = []
    for name, result in results.items():
        if result["trend"] is None:
            reasons.append(f"{name}: not judged, {result.pop('reason')}")
        elif result["trend"]:
            slope = result["slope_pct_per_s"]
            direction = "grows" if slope > 0 else "falls"
            reasons.append(f"{name} {direction} {abs(slope):.1f}% of its mean per second")
    verdicts = [r["trend"] for r in results.values()]
    steady = None if None in verdicts else not any(verdicts)
    return {"steady": steady, "method": METHOD, **results, "reasons": reasons}


def window_series(
    sent_at: np.ndarray,
    first_consumed_at: np.ndarray,
    measured: np.ndarray,
    start: float,
    last_send: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The two series `steadiness` takes, one value per whole second from `start` (the first
    measured send) to `last_send` (the last one; a last partial second is dropped):
    - throughput: events of the run (either phase) first consumed in that second;
    - e2e: the median e2e latency (ms) of the measured events sent in that second.
    Arrays are per event: when it was sent, first consumed (NaN: never), and whether measured.
    """
    span = last_send - start
    if not span >= 1:  # also NaN: no measured send
        return np.zeros(0), np.zeros(0)
    n_seconds = int(np.floor(span))
    consumed = first_consumed_at[np.isfinite(first_consumed_at)]
    edges = start + np.arange(n_seconds + 1)
    throughput = np.histogram(consumed, bins=edges)[0].astype(float)
    e2e = pd.DataFrame(
        {
            "second": np.floor(sent_at[measured] - start),
            "e2e": (first_consumed_at[measured] - sent_at[measured]) * 1000.0,
        }
    ).dropna()
    medians = e2e.groupby("second")["e2e"].median()
    return throughput, medians.reindex(np.arange(n_seconds, dtype=float)).to_numpy()
