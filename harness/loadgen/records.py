"""The simulator's records: one row per event in `client_records.parquet`.

The columns and their meaning are harness/rundir.py's RECORD_COLUMNS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.loadgen.clock import Clock
from harness.loadgen.requestlog import RequestLog
from harness.rundir import PHASES, RECORD_COLUMNS, RECORDS_FILE

COLUMNS = list(RECORD_COLUMNS)
WARMUP, MEASURED = PHASES  # the values of the `phase` column


def warmup_end(
    origins: np.ndarray, start: float, warmup_s: float, share: float | None = None
) -> float:
    """The instant the warm-up ends: `warmup_s` after `start`, or earlier when `share` caps it
    at the origin of the request that comes after the first `share` of `origins` (one per
    request: the instant it was due in open loop, else the one it left)."""
    end = start + warmup_s
    if share is not None:
        ordered = np.sort(origins[np.isfinite(origins)])
        cap = int(share * len(ordered))
        if cap < len(ordered):
            end = min(end, float(ordered[cap]))
    return end


def phases(origin: np.ndarray, end: float) -> np.ndarray:
    """Per event: "warmup" when its request's origin came before the warm-up's `end`, else
    "measured"."""
    return np.where(origin < end, WARMUP, MEASURED)


def events_frame(log: RequestLog, clock: Clock, start: float | np.ndarray) -> pd.DataFrame:
    """One row per event of the run's requests, in sequence order; `start` is the instant the
    senders started (the warm-up counts from it), in the log's time: one for all, or per request
    id the start of the generator that sent it, in that generator's own clock (its times are)."""
    cfg = log.config
    ids = log.run_requests()
    size = cfg.batch_size
    seq = (ids[:, None] * size + np.arange(size)).ravel()
    if cfg.planned_events is not None:
        seq = seq[seq < cfg.planned_events]  # the last request may carry fewer
    req = seq // size
    status = log.status[req]
    accepted = (status >= 200) & (status < 300)
    error = log.error[req].copy()
    failed = np.zeros(len(seq), dtype=bool)
    for request_id, outcome in log.outcomes.items():
        first = int(np.searchsorted(ids, request_id)) * size  # every earlier request is full
        rows = slice(first, first + len(outcome.accepted))
        accepted[rows] = outcome.accepted
        error[rows] = outcome.errors
        failed[rows] = outcome.failed
    origins = log.scheduled[ids] if cfg.open_loop else log.sent[ids]
    origin = log.scheduled[req] if cfg.open_loop else log.sent[req]
    if np.ndim(start):  # several clocks: the warm-up counts from each generator's own start
        origins, origin, start = origins - start[ids], origin - start[req], 0.0
    end = warmup_end(origins, start, cfg.warmup_s, cfg.warmup_share)
    return pd.DataFrame(
        {
            "event_id": (cfg.run_id + "-") + pd.Series(seq).astype(str),
            "request_id": req.astype(np.int64),
            "scheduled_at": clock.epoch(log.scheduled[req]),
            "sent_at": clock.epoch(log.sent[req]),
            "done_at": clock.epoch(log.done[req]),
            "status": status,
            "accepted": accepted,
            "error": pd.Series(error, dtype=str),
            "delivery_failed": failed,
            "phase": phases(origin, end),
            "bytes": log.event_bytes[seq].astype(np.int64),
            "generator": log.generator[req],
        },
        columns=COLUMNS,
    )


def write_records(frame: pd.DataFrame, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RECORDS_FILE
    frame.to_parquet(path, index=False)
    return path
