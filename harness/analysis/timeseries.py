"""A run as a time series: one row per second since the client's first send."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.matching import EventMatch, match_events
from harness.analysis.records import normalize_records

SERIES_COLUMNS = [
    "second",
    "sent_eps",
    "accepted_eps",
    "consumed_eps",
    "e2e_p50_ms",
    "e2e_p99_ms",
]


def _per_bin_counts(times: np.ndarray, t0: float, n_bins: int, bin_s: float) -> np.ndarray:
    times = times[np.isfinite(times)]
    bins = np.clip(np.floor((times - t0) / bin_s).astype(np.int64), 0, n_bins - 1)
    return np.bincount(bins, minlength=n_bins)


def per_second(records_df: pd.DataFrame, log_df: pd.DataFrame, bin_s: float = 1.0) -> pd.DataFrame:
    """Per second of the run (second 0 starts at the first sent_at): events sent, accepted (by
    the time of their answer), consumed (log lines of this run, duplicates included, by
    consumed_at) and the p50/p99 end-to-end latency of the events first consumed in that second
    (NaN in a second with none). Every second up to the last event is present.

    `bin_s` < 1 gives finer bins (e.g. 0.25 for a short run): `second` is then each bin's start
    and the counts are still rates per second."""
    if not bin_s > 0:
        raise ValueError(f"bin_s must be a positive number of seconds, not {bin_s!r}")
    records = normalize_records(records_df)
    match = match_events(records, log_df)
    if not len(records):
        return pd.DataFrame({c: pd.Series(dtype=float) for c in SERIES_COLUMNS})
    t0 = float(records["sent_at"].min())
    consumed_at = log_df["consumed_at"].to_numpy(dtype=float, na_value=np.nan)[match.in_run]
    last = np.nanmax(np.concatenate([records["done_at"].to_numpy(float), consumed_at, [t0]]))
    n_bins = int(np.floor((last - t0) / bin_s)) + 1
    accepted_done = records.loc[records["accepted"], "done_at"].to_numpy(dtype=float)

    def rate(times: np.ndarray) -> np.ndarray:
        counts = _per_bin_counts(times, t0, n_bins, bin_s)
        return counts if bin_s == 1 else counts / bin_s

    frame = pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "sent_eps": rate(records["sent_at"].to_numpy(float)),
            "accepted_eps": rate(accepted_done),
            "consumed_eps": rate(consumed_at),
        }
    )
    frame = frame.join(_e2e_per_bin(match, t0, bin_s), on="bin")
    second = frame.pop("bin")
    frame.insert(0, "second", second if bin_s == 1 else second * bin_s)
    return frame


def _e2e_per_bin(match: EventMatch, t0: float, bin_s: float) -> pd.DataFrame:
    """p50/p99 of e2e latency (ms) grouped by the bin of first consumption."""
    first = match.first_consumed_at
    e2e = pd.DataFrame(
        {
            "second": np.floor((first - t0) / bin_s),
            "e2e": (first - match.events["sent_at"].to_numpy(float)) * 1000.0,
        }
    ).dropna()
    if e2e.empty:
        return pd.DataFrame(columns=["e2e_p50_ms", "e2e_p99_ms"], dtype=float)
    quantiles = e2e.groupby(e2e["second"].astype(np.int64))["e2e"].quantile([0.5, 0.99]).unstack()
    quantiles.columns = ["e2e_p50_ms", "e2e_p99_ms"]
    return quantiles.reindex(columns=["e2e_p50_ms", "e2e_p99_ms"])
