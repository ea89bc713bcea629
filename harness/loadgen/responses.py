"""Reading per-event outcomes from the batch endpoint's answer, defensively.

The API answers e.g. `{"accepted": n, "rejected": m, "results": [{"index": i, "event_id": ...,
"status": "accepted"|"rejected", "error": ...}]}`. A 2xx without per-event results means every
event was accepted; a non-2xx means none was (the caller handles that case from the status alone).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

MISSING = "missing from the response's results"


@dataclass(frozen=True)
class EventOutcomes:
    accepted: list[bool]
    errors: list[str]


def _entry_accepted(entry: dict) -> bool:
    status = entry.get("status")
    if isinstance(status, str):
        return status.lower() == "accepted"
    return entry.get("accepted") is True


def _entry_error(entry: dict, accepted: bool) -> str:
    if accepted:
        return ""
    error = entry.get("error")
    return str(error) if error else "rejected"


def _results(body: bytes) -> list | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    results = doc.get("results") if isinstance(doc, dict) else None
    return results if isinstance(results, list) and results else None


def _slot(entry: dict, position: int, event_ids: list[str], by_id: dict[str, int]) -> int | None:
    """Which event an entry speaks of: its `index`, else its `event_id`, else its position."""
    index = entry.get("index")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(event_ids):
        return index
    eid = entry.get("event_id")
    if isinstance(eid, str) and eid in by_id:
        return by_id[eid]
    return position if position < len(event_ids) else None


def batch_outcomes(body: bytes, event_ids: list[str]) -> EventOutcomes | None:
    """Per-event outcomes of a 2xx batch answer; None when it carries no per-event results.

    An event the results do not mention counts as not accepted: only an explicit answer is a
    promise that the event will reach Kafka.
    """
    results = _results(body)
    if results is None:
        return None
    accepted = [False] * len(event_ids)
    errors = [MISSING] * len(event_ids)
    by_id = {eid: i for i, eid in enumerate(event_ids)}
    for position, entry in enumerate(results):
        if not isinstance(entry, dict):
            continue
        slot = _slot(entry, position, event_ids, by_id)
        if slot is None:
            continue
        accepted[slot] = _entry_accepted(entry)
        errors[slot] = _entry_error(entry, accepted[slot])
    return EventOutcomes(accepted, errors)
