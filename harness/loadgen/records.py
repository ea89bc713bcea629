"""The simulator's records: one row per event in `client_records.parquet`.

The columns and their meaning are harness/rundir.py's RECORD_COLUMNS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.loadgen.clock import Clock
from harness.loadgen.requestlog import RequestLog
from harness.rundir import RECORD_COLUMNS, RECORDS_FILE

COLUMNS = list(RECORD_COLUMNS)


def events_frame(log: RequestLog, clock: Clock) -> pd.DataFrame:
    """One row per event, in sequence order."""
    cfg = log.config
    seq = np.arange(cfg.events)
    req = seq // cfg.batch_size
    status = log.status[req]
    accepted = (status >= 200) & (status < 300)
    error = log.error[req].copy()
    for request_id, outcome in log.outcomes.items():
        seqs = cfg.request_events(request_id)
        rows = slice(seqs.start, seqs.stop)
        accepted[rows] = outcome.accepted
        error[rows] = outcome.errors
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
            "delivery_failed": log.failed_in_batch(),
            "phase": "measured",
        },
        columns=COLUMNS,
    )


def write_records(frame: pd.DataFrame, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RECORDS_FILE
    frame.to_parquet(path, index=False)
    return path
