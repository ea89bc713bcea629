"""Match the consumer's log lines to the events the client sent (by `event_id`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


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


def _arrow_ids(ids: pd.Series) -> pa.ChunkedArray:
    """Event ids as Arrow chunks (zero-copy for pandas' Arrow-backed strings)."""
    arr = pa.array(ids, from_pandas=True)
    return arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr], type=arr.type)


def _large(arr: pa.ChunkedArray) -> pa.Array:
    """One contiguous large_string array: one string type for both sides of the join."""
    arr = arr.combine_chunks()
    return arr if arr.type == pa.large_string() else arr.cast(pa.large_string())


def _buffers_key(arr: pa.ChunkedArray) -> tuple:
    """Where each chunk's memory is: equal keys, same bytes (Arrow buffers are immutable)."""
    return tuple(
        (c.offset, len(c), *(b.address if b is not None else 0 for b in c.buffers()))
        for c in arr.chunks
    )


class _LookupCache:
    """The last id lookup, keyed by the Arrow buffers of both id columns.

    compute_metrics and per_second each match the same run (1M events: ~0.5 CPU-s of hashing,
    the largest part of summarizing, per the analysis profile in docs/BENCHMARKS.md). Arrow
    buffers are immutable and the cache holds the arrays, so their memory cannot be reused
    while cached: equal buffer addresses mean equal ids. Ids that pandas keeps as Python
    objects are converted afresh on each call and simply miss.
    """

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.arrays: tuple[pa.ChunkedArray, pa.ChunkedArray] | None = None
        self.value: np.ndarray | None = None

    def get(self, record_ids: pa.ChunkedArray, log_ids: pa.ChunkedArray) -> np.ndarray | None:
        key = (_buffers_key(record_ids), _buffers_key(log_ids))
        return self.value if key == self.key else None

    def put(self, record_ids: pa.ChunkedArray, log_ids: pa.ChunkedArray, value: np.ndarray) -> None:
        value.flags.writeable = False  # shared between callers
        self.key = (_buffers_key(record_ids), _buffers_key(log_ids))
        self.arrays, self.value = (record_ids, log_ids), value


_lookups = _LookupCache()


def _first_rows(record_ids: pa.ChunkedArray, log_ids: pa.ChunkedArray) -> np.ndarray:
    """Per record id, then per log id: the first record row with that id (-1: none)."""
    cached = _lookups.get(record_ids, log_ids)
    if cached is not None:
        return cached
    value_set = _large(record_ids)
    both = pa.concat_arrays([value_set, _large(log_ids)])
    # one hash table of the records' ids, looked up by the records themselves (to find repeated
    # ids: their first row is not their own) and by the log lines
    first_row = pc.index_in(both, value_set=value_set).fill_null(-1)
    first_row = first_row.to_numpy(zero_copy_only=False).astype(np.int64)
    _lookups.put(record_ids, log_ids, first_row)
    return first_row


def match_events(records: pd.DataFrame, log: pd.DataFrame) -> EventMatch:
    """Join the log's event ids onto the records' with Arrow's hash lookup (index_in), then work
    on integer arrays. A record id that repeats (a retried event) keeps its first row."""
    first_row = _first_rows(_arrow_ids(records["event_id"]), _arrow_ids(log["event_id"]))
    own, first_row = first_row[: len(records)], first_row[len(records) :]
    repeated = own != np.arange(len(records))
    if repeated.any():
        events = records[~repeated].reset_index(drop=True)
        event_of_row = np.cumsum(~repeated) - 1
        position = np.where(first_row >= 0, event_of_row[np.maximum(first_row, 0)], -1)
    else:
        events = records.reset_index(drop=True)
        position = first_row
    position = np.where(log["event_id"].isna().to_numpy(), -1, position)  # no id: not ours
    mine = position >= 0
    times_logged = np.bincount(position[mine], minlength=len(events))
    first = np.full(len(events), np.inf)
    consumed_at = log["consumed_at"].to_numpy(dtype=float, na_value=np.nan)[mine]
    timed = ~np.isnan(consumed_at)
    np.minimum.at(first, position[mine][timed], consumed_at[timed])
    first[np.isinf(first)] = np.nan
    return EventMatch(events, position, times_logged, first)
