"""Synthetic runs for the analysis tests: consumer log lines in the exact format, client records."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd


def log_prefix(epoch: float) -> str:
    """`YYYY-MM-DD HH:MM:SS,mmm - ` in local time, as Python logging's default asctime."""
    when = datetime.fromtimestamp(epoch)
    return when.strftime("%Y-%m-%d %H:%M:%S") + f",{when.microsecond // 1000:03d} - "


def log_line(event: dict, logged_at: float | None = None) -> str:
    when = event.get("consumed_at", 1.75e9) if logged_at is None else logged_at
    return log_prefix(when) + json.dumps(event)


def event(event_id: str, sent_at: float, consumed_at: float, partition: int = 0, offset: int = 0):
    """One logged event as the consumer writes it (client fields + the harness's fields)."""
    return {
        "event": "purchase",
        "user_id": 1432,
        "event_id": event_id,
        "sent_at": sent_at,
        "received_at": sent_at + 0.001,
        "consumed_at": consumed_at,
        "partition": partition,
        "offset": offset,
    }


def write_lines(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    return path


def records(
    event_ids: list[str],
    sent_at: np.ndarray,
    done_at: np.ndarray,
    status: list[int] | None = None,
    request_id: list[int] | None = None,
    scheduled_at: np.ndarray | None = None,
    accepted: list[bool] | None = None,
    phase: list[str] | None = None,
) -> pd.DataFrame:
    """Client records (docs/ARCHITECTURE.md columns); by default one accepted request per event,
    all of the measured phase."""
    n = len(event_ids)
    status = [200] * n if status is None else status
    frame = pd.DataFrame(
        {
            "event_id": event_ids,
            "request_id": list(range(n)) if request_id is None else request_id,
            "scheduled_at": np.full(n, np.nan) if scheduled_at is None else scheduled_at,
            "sent_at": np.asarray(sent_at, dtype=float),
            "done_at": np.asarray(done_at, dtype=float),
            "status": status,
            "accepted": [200 <= s < 300 for s in status] if accepted is None else accepted,
            "error": ["" if 200 <= s < 500 else f"status {s}" for s in status],
        }
    )
    if phase is not None:
        frame["phase"] = phase
    return frame
