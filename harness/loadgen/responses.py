"""Reading per-event outcomes from the batch endpoint's answer, defensively.

The API answers e.g. `{"accepted": n, "rejected": m, "results": [{"index": i, "event_id": ...,
"status": "accepted"|"rejected", "error": ...}]}`. A 2xx without per-event results means every
event was accepted; a non-2xx means none was (the caller handles that case from the status alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

MISSING = "missing from the response's results"


@dataclass(frozen=True)
class EventOutcomes:
    accepted: list[bool]
    errors: list[str]
    # Marked "failed" (the API could not deliver it, e.g. Kafka did not acknowledge): a server
    # failure, not a verdict on the event, though the request as a whole got a 2xx.
    failed: list[bool]


class EventIds(Sequence[str]):
    """The event ids of one request, made only if an answer names events by id, not index."""

    def __init__(self, run_id: str, seqs: range) -> None:
        self.run_id, self.seqs = run_id, seqs

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, i):
        return f"{self.run_id}-{self.seqs[i]}"


def _results(body: bytes) -> list | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    results = doc.get("results") if isinstance(doc, dict) else None
    return results if isinstance(results, list) and results else None


def _fallback_slot(entry: dict, position: int, by_id: dict[str, int], n: int) -> int | None:
    """An entry without a usable index: its `event_id`, else its position."""
    eid = entry.get("event_id")
    if isinstance(eid, str) and eid in by_id:
        return by_id[eid]
    return position if position < n else None


def batch_outcomes(body: bytes, event_ids: Sequence[str]) -> EventOutcomes | None:
    """Per-event outcomes of a 2xx batch answer; None when every event was accepted, or the
    answer carries no per-event results, which means the same (and keeps big runs light).

    An entry speaks of the event at its `index`, else of the one with its `event_id`, else of
    the one at its position. An event the results do not mention counts as not accepted: only
    an explicit answer is a promise that the event will reach Kafka.
    """
    results = _results(body)
    if results is None:
        return None
    n = len(event_ids)
    accepted = [False] * n
    errors = [MISSING] * n
    failed = [False] * n
    by_id: dict[str, int] | None = None
    # One tight loop, no call per entry: this runs for every event of every batch.
    for position, entry in enumerate(results):
        if type(entry) is not dict:
            continue
        slot = entry.get("index")
        if type(slot) is not int or not 0 <= slot < n:  # type(): a bool is not an index
            if by_id is None:
                by_id = {eid: i for i, eid in enumerate(event_ids)}
            slot = _fallback_slot(entry, position, by_id, n)
            if slot is None:
                continue
        status = entry.get("status")
        if status == "accepted":
            ok = True
        elif isinstance(status, str):
            ok = status.lower() == "accepted"
        else:
            ok = entry.get("accepted") is True
        accepted[slot] = ok
        if ok:
            errors[slot] = ""
        else:
            errors[slot] = str(entry.get("error") or status or "rejected")
            failed[slot] = status == "failed"
    if all(accepted):
        return None
    return EventOutcomes(accepted, errors, failed)
