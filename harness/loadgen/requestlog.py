"""Per-request measurements of one simulation, in fixed-size numpy arrays indexed by request id.

Times are perf_counter instants until exported (records.py maps them onto epoch seconds). Kept free
of pandas so that client worker processes start fast.
"""

from __future__ import annotations

import json

import numpy as np

from harness.loadgen.config import SimulatorConfig
from harness.loadgen.responses import EventOutcomes

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
        self.scheduled[ids] = part["scheduled"]
        self.sent[ids] = part["sent"]
        self.done[ids] = part["done"]
        self.status[ids] = part["status"]
        self.error[ids] = part["error"].astype(object)
        for key, (accepted, errors, failed) in json.loads(str(part["outcomes"])).items():
            self.outcomes[int(key)] = EventOutcomes(accepted, errors, failed)
        size = self.config.batch_size
        self.events_done += int(np.minimum(size, self.config.events - ids * size).sum())

    def failed_in_batch(self) -> np.ndarray:
        """Per event: marked "failed" inside a 2xx batch answer (the records cannot tell)."""
        failed = np.zeros(self.config.events, dtype=bool)
        for request_id, outcome in self.outcomes.items():
            seqs = self.config.request_events(request_id)
            failed[seqs.start : seqs.stop] = outcome.failed
        return failed

    def answered(self) -> np.ndarray:
        """Requests that got an HTTP answer (any status)."""
        return self.status > 0
