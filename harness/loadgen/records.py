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


def phases(origin: np.ndarray, start: float, warmup_s: float) -> np.ndarray:
    """Per request: "warmup" when its origin (the instant it was due in open loop, else the one
    it left) falls within the first `warmup_s` seconds after `start`, else "measured"."""
    return np.where(origin < start + warmup_s, WARMUP, MEASURED)


def events_frame(log: RequestLog, clock: Clock, start: float) -> pd.DataFrame:
    """One row per event of the run's requests, in sequence order; `start` is the perf_counter
    instant the senders started (the warm-up counts from it)."""
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
    origin = log.scheduled[req] if cfg.open_loop else log.sent[req]
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
            "phase": phases(origin, start, cfg.warmup_s),
        },
        columns=COLUMNS,
    )


def write_records(frame: pd.DataFrame, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RECORDS_FILE
    frame.to_parquet(path, index=False)
    return path
