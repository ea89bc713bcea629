"""Per-request measurements of one simulation, in numpy arrays indexed by request id.

Sized for the planned requests; a timed closed loop, whose count is unknown, starts with a block
and doubles it as needed. Times are perf_counter instants until exported (records.py maps them
onto epoch seconds). Kept free of pandas so that client worker processes start fast.
"""

from __future__ import annotations

import json

import numpy as np

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

    def export(self, request_ids: range) -> dict[str, np.ndarray]:
        """The measurements of `request_ids`, as arrays (a worker process hands them back)."""
        ids = np.asarray(request_ids, dtype=np.int64)
        outcomes = {str(i): [o.accepted, o.errors, o.failed] for i, o in self.outcomes.items()}
        return {
            "ids": ids,
            "scheduled": self.scheduled[ids],
            "sent": self.sent[ids],
            "done": self.done[ids],
            "status": self.status[ids],
            "error": np.array(self.error[ids].tolist(), dtype=str),
            "outcomes": np.array(json.dumps(outcomes)),
        }

    def merge(self, part: dict[str, np.ndarray]) -> None:
        """Takes in what `export` gave in another process."""
        ids = part["ids"]
        if len(ids) and ids.max() >= self.capacity:
            self._grow(int(ids.max()) + 1)
        self.scheduled[ids] = part["scheduled"]
        self.sent[ids] = part["sent"]
        self.done[ids] = part["done"]
        self.status[ids] = part["status"]
        self.error[ids] = part["error"].astype(object)
        for key, (accepted, errors, failed) in json.loads(str(part["outcomes"])).items():
            self.outcomes[int(key)] = EventOutcomes(accepted, errors, failed)
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
