"""Latency samples (milliseconds) of one run and their percentile summary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.matching import EventMatch, match_events
from harness.analysis.records import MEASURED, normalize_records

PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
STAT_KEYS = ("mean", *PERCENTILES, "max")


def is_open_loop(records: pd.DataFrame) -> bool:
    """Open loop = the simulator scheduled requests at a rate (scheduled_at is set)."""
    return bool(records["scheduled_at"].notna().any())


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def requests(records: pd.DataFrame) -> pd.DataFrame:
    """One row per HTTP request (a batch request carries several events)."""
    return records.drop_duplicates("request_id")


def http_ms(records: pd.DataFrame) -> np.ndarray:
    """Per request: done_at minus the intended start (scheduled_at in open loop, else sent_at),
    so that in open loop the time a request waited for a free sender counts (no coordinated
    omission). Failed and rejected requests count too: their answer took that long as well."""
    req = requests(records)
    start = req["scheduled_at"].fillna(req["sent_at"])
    return _finite((req["done_at"] - start).to_numpy() * 1000.0)


def send_delay_ms(records: pd.DataFrame) -> np.ndarray | None:
    """Per request: how late it left against its schedule (open loop only, else None)."""
    if not is_open_loop(records):
        return None
    req = requests(records)
    return _finite((req["sent_at"] - req["scheduled_at"]).to_numpy() * 1000.0)


def e2e_ms(match: EventMatch, among: np.ndarray | None = None) -> np.ndarray:
    """Per consumed event (of those `among` marks, per event of `match`, when given): its first
    consumption minus when the client sent it."""
    sent_at = match.events["sent_at"].to_numpy(dtype=float)
    e2e = (match.first_consumed_at - sent_at) * 1000.0
    return _finite(e2e if among is None else e2e[among])


def summarize(values: np.ndarray | None) -> dict[str, float | None] | None:
    """mean, p50, p95, p99, p999, max (numpy's linear percentiles); None values when empty."""
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    if not len(values):
        return dict.fromkeys(STAT_KEYS)
    points = np.percentile(values, list(PERCENTILES.values()))
    stats = {"mean": float(values.mean())}
    stats.update({key: float(v) for key, v in zip(PERCENTILES, points, strict=True)})
    stats["max"] = float(values.max())
    return stats


def latency_samples(records_df: pd.DataFrame, log_df: pd.DataFrame) -> dict[str, np.ndarray | None]:
    """The raw samples (ms) behind metrics' latency_ms, for distribution plots: the measured
    phase only, as there."""
    records = normalize_records(records_df)
    match = match_events(records, log_df)
    measured = records[records["phase"] == MEASURED]
    return {
        "http": http_ms(measured),
        "e2e": e2e_ms(match, (match.events["phase"] == MEASURED).to_numpy()),
        "send_delay": send_delay_ms(measured),
    }
