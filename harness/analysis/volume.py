"""Bytes and partitions: how big the events were at each stage, how many MB/s got through, and how
the records spread over the topic's partitions (docs/analysis.md, "Bytes and partitions").

- `bytes.event`: the event's JSON as the simulator sent it (the records' `bytes`), every event
  sent; `bytes.record`: the Kafka record's value (the event plus the API's `received_at`), and
  `bytes.line`: the consumer's log line (newline included), over the run's log lines (duplicates
  included) as the log reader measured them (harness/analysis/logs.py), the records' from Kafka
  itself when the run read its topic; each a mean and a max, null when unknown (`line` when the
  run counted from the topic itself).
- `throughput_mbps`: the measured events' bytes as sent, of those consumed at least once, per
  second of the measured window, in MB (10^6 bytes): throughput_eps in bytes.
- `partitions`: records per partition and the imbalance, the largest count over the mean (1.0 is
  perfectly even; with P partitions and one hot key it tends to P). From the topic's end offsets
  before and after the run when the harness owns the topic (every record appended, duplicates
  included); else from the records the log or the topic audit holds (distinct partition and
  offset).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.matching import EventMatch

MB = 1e6
END_OFFSETS = "end offsets"
FROM_RECORDS = "records read"


def _mean_max(values: np.ndarray) -> dict:
    values = values[np.isfinite(values)]
    if not len(values):
        return {"mean": None, "max": None}
    return {"mean": float(values.mean()), "max": float(values.max())}


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def byte_sizes(records: pd.DataFrame, log: pd.DataFrame, match: EventMatch,
               kafka: pd.DataFrame | None = None) -> dict:  # fmt: skip
    """metrics.json's `bytes`: mean and max per stage (records: the sent ones). `kafka`: the
    run's records as read from the topic (harness.audit), whose value sizes are Kafka's own:
    used for `record` when the run read its topic."""
    sent = _column(records, "bytes")
    lines = log[match.in_run]
    values = lines if kafka is None else kafka
    return {
        "event": _mean_max(np.where(sent > 0, sent, np.nan)),
        "record": _mean_max(_column(values, "record_bytes")),
        "line": _mean_max(_column(lines, "line_bytes")),
    }


def throughput_mbps(match: EventMatch, measured: np.ndarray, duration_s: float | None):
    """MB/s of the measured events consumed at least once, as sent; None when their sizes are
    unknown (records written before the column existed) or there is no window."""
    if not duration_s:
        return None
    sizes = _column(match.events, "bytes")[measured & match.consumed]
    if not len(sizes) or np.isnan(sizes).any():
        return None
    return float(sizes.sum()) / duration_s / MB


def partition_spread(log: pd.DataFrame, match: EventMatch, partitions: int | None,
                     end_offsets: list[int] | None = None) -> dict:  # fmt: skip
    """metrics.json's `partitions`: `records` per partition (index = partition), `imbalance`
    (max / mean, null without records) and where the counts come from."""
    if end_offsets is not None:
        counts = np.asarray(end_offsets, dtype=np.int64)
        source = END_OFFSETS
    else:
        lines = log[match.in_run]
        placed = pd.DataFrame({"partition": _column(lines, "partition"),
                               "offset": _column(lines, "offset")}).dropna().drop_duplicates()  # fmt: skip
        found = placed["partition"].to_numpy(dtype=np.int64)
        size = max(partitions or 0, int(found.max()) + 1 if len(found) else 0)
        counts = np.bincount(found, minlength=size) if size else np.zeros(0, dtype=np.int64)
        source = FROM_RECORDS
    total = int(counts.sum())
    imbalance = float(counts.max() / counts.mean()) if total else None
    return {"records": counts.tolist(), "imbalance": imbalance, "source": source}
