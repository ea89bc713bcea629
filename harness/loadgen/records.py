"""Per-request measurements, expanded to one row per event for `client_records.parquet`.

Columns as docs/ARCHITECTURE.md fixes them: event_id, request_id, scheduled_at (NaN in closed loop),
sent_at, done_at (epoch s), status (HTTP status; 0 = transport error / timeout), accepted, error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.loadgen.clock import Clock
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.responses import EventOutcomes

RECORDS_FILE = "client_records.parquet"
COLUMNS = [
    "event_id",
    "request_id",
    "scheduled_at",
    "sent_at",
    "done_at",
    "status",
    "accepted",
    "error",
]
NOT_SENT = "not sent"


class RequestLog:
    """Fixed-size arrays indexed by request id (perf_counter times until exported)."""

    def __init__(self, config: SimulatorConfig) -> None:
        n = config.requests
        self.config = config
        self.scheduled = np.full(n, np.nan)
        self.sent = np.full(n, np.nan)
        self.done = np.full(n, np.nan)
        self.status = np.zeros(n, dtype=np.int64)
        self.error = np.full(n, NOT_SENT, dtype=object)
        self.outcomes: dict[int, EventOutcomes] = {}
        self.events_done = 0  # read by the progress bar

    def record(
        self,
        request_id: int,
        scheduled: float,
        sent: float,
        done: float,
        status: int,
        error: str,
        outcomes: EventOutcomes | None = None,
    ) -> None:
        self.scheduled[request_id] = scheduled
        self.sent[request_id] = sent
        self.done[request_id] = done
        self.status[request_id] = status
        self.error[request_id] = error
        if outcomes is not None:
            self.outcomes[request_id] = outcomes
        size = self.config.batch_size
        self.events_done += min(size, self.config.events - request_id * size)

    def answered(self) -> np.ndarray:
        """Requests that got an HTTP answer (any status)."""
        return self.status > 0

    def events_frame(self, clock: Clock) -> pd.DataFrame:
        """One row per event, in sequence order."""
        cfg = self.config
        seq = np.arange(cfg.events)
        req = seq // cfg.batch_size
        status = self.status[req]
        accepted = (status >= 200) & (status < 300)
        error = self.error[req].copy()
        for request_id, outcome in self.outcomes.items():
            rows = slice(*_bounds(cfg.request_events(request_id)))
            accepted[rows] = outcome.accepted
            error[rows] = outcome.errors
        return pd.DataFrame(
            {
                "event_id": (cfg.run_id + "-") + pd.Series(seq).astype(str),
                "request_id": req.astype(np.int64),
                "scheduled_at": clock.epoch(self.scheduled[req]),
                "sent_at": clock.epoch(self.sent[req]),
                "done_at": clock.epoch(self.done[req]),
                "status": status,
                "accepted": accepted,
                "error": pd.Series(error, dtype=str),
            },
            columns=COLUMNS,
        )


def _bounds(seqs: range) -> tuple[int, int]:
    return seqs.start, seqs.stop


def write_records(frame: pd.DataFrame, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RECORDS_FILE
    frame.to_parquet(path, index=False)
    return path
