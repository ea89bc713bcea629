"""Match the consumer's log lines to the events the client sent (by `event_id`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class EventMatch:
    """The client's events (one row per distinct event_id) and what the log says about each."""

    events: pd.DataFrame  # the records, first row per event_id, in their original order
    log_position: np.ndarray  # per log line: row of `events` it belongs to, -1 if never sent
    times_logged: np.ndarray  # per event: how many log lines carry its id
    first_consumed_at: np.ndarray  # per event: earliest consumed_at (NaN if never consumed)

    @property
    def in_run(self) -> np.ndarray:
        """Per log line: does it belong to this run's events?"""
        return self.log_position >= 0

    @property
    def consumed(self) -> np.ndarray:
        """Per event: was it logged at least once?"""
        return self.times_logged > 0


def match_events(records: pd.DataFrame, log: pd.DataFrame) -> EventMatch:
    """Hash-join the log's event ids onto the records' (one pass each, then integer arrays)."""
    events = records.drop_duplicates("event_id").reset_index(drop=True)
    ids = pd.Index(events["event_id"])
    position = ids.get_indexer(log["event_id"]) if len(log) else np.zeros(0, dtype=np.intp)
    position = np.where(log["event_id"].isna().to_numpy(), -1, position) if len(log) else position
    mine = position >= 0
    times_logged = np.bincount(position[mine], minlength=len(events))
    first = np.full(len(events), np.inf)
    consumed_at = log["consumed_at"].to_numpy(dtype=float, na_value=np.nan)[mine]
    timed = ~np.isnan(consumed_at)
    np.minimum.at(first, position[mine][timed], consumed_at[timed])
    first[np.isinf(first)] = np.nan
    return EventMatch(events, position, times_logged, first)
