"""Per-request measurements of one simulation, in numpy arrays indexed by request id.

Sized for the planned requests; a timed closed loop, whose count is unknown, starts with a block
and doubles it as needed. Times are perf_counter instants until exported (records.py maps them
onto epoch seconds). A generator on Dask hands its part back as Arrow (`to_arrow`, times then in
its own epoch seconds) and the run merges the parts into one log (`merge_arrow`). Kept free of
pandas so that generator processes start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

    from harness.loadgen.clock import Clock

from harness.loadgen.config import SimulatorConfig
from harness.loadgen.responses import EventOutcomes

NOT_SENT = "not sent"
FIRST_BLOCK = 4096  # requests a timed closed loop starts with room for


class RequestLog:
    """Arrays indexed by request id (perf_counter times until exported)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.timed_closed_loop = config.requests is None
        self.capacity = 0
        self.scheduled = self.sent = self.done = np.zeros(0)
        self.status = np.zeros(0, dtype=np.int64)
        self.error = np.zeros(0, dtype=object)
        self.generator = np.zeros(0, dtype=np.int64)  # which generator sent each request
        # per event (by sequence number): the size of its JSON as sent, 0 until it is sent
        self.event_bytes = np.zeros(0, dtype=np.int32)
        self._grow(config.requests or FIRST_BLOCK)
        self.outcomes: dict[int, EventOutcomes] = {}
        self.events_done = 0  # read by the progress bar
        self._batch = config.batch_size
        self._events = config.planned_events or np.iinfo(np.int64).max

    def _grow(self, capacity: int) -> None:
        """Room for request ids below `capacity`; new slots read as not sent."""
        more = capacity - self.capacity
        self.scheduled = np.concatenate([self.scheduled, np.full(more, np.nan)])
        self.sent = np.concatenate([self.sent, np.full(more, np.nan)])
        self.done = np.concatenate([self.done, np.full(more, np.nan)])
        self.status = np.concatenate([self.status, np.zeros(more, dtype=np.int64)])
        self.error = np.concatenate([self.error, np.full(more, NOT_SENT, dtype=object)])
        self.generator = np.concatenate([self.generator, np.zeros(more, dtype=np.int64)])
        batch = self.config.batch_size
        self.event_bytes = np.concatenate([self.event_bytes, np.zeros(more * batch, np.int32)])
        self.capacity = capacity

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
        if request_id >= self.capacity:
            self._grow(max(2 * self.capacity, request_id + 1))
        self.scheduled[request_id] = scheduled
        self.sent[request_id] = sent
        self.done[request_id] = done
        self.status[request_id] = status
        self.error[request_id] = error
        if outcomes is not None:
            self.outcomes[request_id] = outcomes
        size = self._batch
        self.events_done += min(size, self._events - request_id * size)

    def record_bytes(self, request_id: int, sizes: list[int]) -> None:
        """The sizes of the request's events as sent (its body's events, in order)."""
        if request_id >= self.capacity:
            self._grow(max(2 * self.capacity, request_id + 1))
        first = request_id * self._batch
        if len(sizes) == 1:
            self.event_bytes[first] = sizes[0]
        else:
            self.event_bytes[first : first + len(sizes)] = sizes

    def _event_slots(self, ids: np.ndarray) -> np.ndarray:
        """The event-array positions of the requests `ids` (every slot of each request)."""
        return (ids[:, None] * self._batch + np.arange(self._batch)).ravel()

    def to_arrow(self, request_ids: range, clock: Clock) -> pa.Table:
        """The measurements of `request_ids`, one row per request, times in epoch seconds of
        `clock` (this process's): what a generator hands back through Dask."""
        import pyarrow as pa

        ids = np.asarray(request_ids, dtype=np.int64)
        size = self._batch
        sizes = pa.FixedSizeListArray.from_arrays(
            pa.array(self.event_bytes[self._event_slots(ids)], pa.int32()), size
        )
        columns = {
            "request_id": pa.array(ids),
            "scheduled": pa.array(clock.epoch(self.scheduled[ids])),
            "sent": pa.array(clock.epoch(self.sent[ids])),
            "done": pa.array(clock.epoch(self.done[ids])),
            "status": pa.array(self.status[ids]),
            "error": pa.array(self.error[ids].tolist(), pa.string()),
            "event_bytes": sizes,
        }
        outcomes = [self.outcomes.get(i) for i in ids.tolist()] if self.outcomes else None
        for name, kind in (("accepted", pa.bool_()), ("errors", pa.string()),
                           ("failed", pa.bool_())):  # fmt: skip
            values = None if outcomes is None else [o and getattr(o, name) for o in outcomes]
            columns[name] = pa.array(values or [None] * len(ids), pa.list_(kind))
        return pa.table(columns)

    def merge_arrow(self, table: pa.Table, generator: int) -> None:
        """Takes in what `to_arrow` gave in generator `generator` (times stay as they came)."""
        ids = table.column("request_id").to_numpy()
        if len(ids) and ids.max() >= self.capacity:
            self._grow(int(ids.max()) + 1)
        for name in ("scheduled", "sent", "done"):
            getattr(self, name)[ids] = table.column(name).to_numpy(zero_copy_only=False)
        self.status[ids] = table.column("status").to_numpy()
        self.error[ids] = np.array(table.column("error").to_pylist(), dtype=object)
        self.generator[ids] = generator
        sizes = table.column("event_bytes").combine_chunks().flatten().to_numpy()
        self.event_bytes[self._event_slots(ids)] = sizes
        lists = [table.column(n).to_pylist() for n in ("accepted", "errors", "failed")]
        for request_id, accepted, errors, failed in zip(ids.tolist(), *lists, strict=True):
            if accepted is not None:
                self.outcomes[request_id] = EventOutcomes(accepted, errors, failed)
        size = self._batch
        self.events_done += int(np.minimum(size, self._events - ids * size).sum())

    def run_requests(self) -> np.ndarray:
        """The ids of the run's requests, ascending: all planned ones (those never sent read as
        not sent), or in a timed closed loop the ones the senders took before the deadline."""
        if self.timed_closed_loop:
            return np.flatnonzero(~np.isnan(self.sent))
        return np.arange(self.config.requests)

    def answered(self) -> np.ndarray:
        """Requests that got an HTTP answer (any status)."""
        return self.status > 0
