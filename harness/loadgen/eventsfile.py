"""The user's own sample events (`events_file`): a JSON Lines file, checked whole before a run.

Each non-blank line is one event, a JSON object the API would accept: `event` present, within the
API's depth limit, and small enough for its body limit once the simulator has set the two fields
the harness needs for its accounting, `event_id` and `sent_at` (a line's own values for them are
replaced). Fields that the API or the consumer set themselves (`received_at`, `consumed_at`,
`partition`, `offset`) are refused: they could not reach the log as sent. With a record key
(`key`), every event must carry that field.

A bad file is an `EventsFileError` naming the file and the line, raised before anything starts.
The events are kept serialized (orjson, as the API re-serializes them: the same bytes), each
without its closing brace, so the simulator only appends the id and the time.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from app.eventlog import ADDED_FIELDS
from app.settings import NO_KEY, STAMPED_FIELDS
from app.validation import event_error

# The fields the simulator sets on every event (the harness's accounting needs them).
SIMULATOR_FIELDS = ("event_id", "sent_at")
# Fields set downstream: a sample event carrying one would not reach the log as sent.
DOWNSTREAM_FIELDS = (*STAMPED_FIELDS, *ADDED_FIELDS)
# Room for `,"event_id":"<run id>-<seq>","sent_at":<time>` when checking a line against the
# API's body limit (a 64-character run id, 10 digits of sequence, 18 characters of time).
ID_AND_TIME_BYTES = 128


class EventsFileError(ValueError):
    """The events file cannot be used; the message names the file and, when it is one, the line."""


@dataclass(frozen=True)
class SampleEvents:
    path: str
    # Per event: its JSON without the simulator's fields and without the closing brace, ending
    # with a comma when it has fields of its own (`{"event":"x",`), ready for `"event_id":...`.
    prefixes: tuple[bytes, ...]

    def __len__(self) -> int:
        return len(self.prefixes)


def _problem(event: object, max_depth: int, max_bytes: int, key: str) -> tuple[str | None, bytes]:
    """Why a parsed line cannot be sent (or None), and its prefix."""
    if type(event) is not dict:
        return event_error(event, max_depth), b""
    own = {k: v for k, v in event.items() if k not in SIMULATOR_FIELDS}
    error = event_error(own, max_depth)
    if error:
        return f"the API would refuse it: {error}", b""
    stamped = [f for f in DOWNSTREAM_FIELDS if f in own]
    if stamped:
        return (
            f"it sets {', '.join(stamped)}, which the API or the consumer set themselves: "
            "drop the field",
            b"",
        )
    if key != NO_KEY and key not in SIMULATOR_FIELDS and own.get(key) is None:
        return f"it has no '{key}', the field the records are keyed by (key={key})", b""
    body = orjson.dumps(own)
    if len(body) + ID_AND_TIME_BYTES > max_bytes:
        return (
            f"it is {len(body):,} bytes, over the API's body limit of {max_bytes:,} bytes once "
            "the simulator has added event_id and sent_at",
            b"",
        )
    return None, body[:-1] + (b"," if own else b"")


@functools.lru_cache(maxsize=8)
def _load(path: str, stamp: tuple[int, int], max_depth: int, max_bytes: int,
          key: str) -> SampleEvents:  # fmt: skip
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise EventsFileError(f"events_file {path}: cannot be read ({exc.strerror})") from None
    prefixes = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise EventsFileError(f"events_file {path}, line {number}: not JSON ({exc})") from None
        why, prefix = _problem(event, max_depth, max_bytes, key)
        if why:
            raise EventsFileError(f"events_file {path}, line {number}: {why}")
        prefixes.append(prefix)
    if not prefixes:
        raise EventsFileError(f"events_file {path}: no events (one JSON object per line)")
    return SampleEvents(path, tuple(prefixes))


def load_events(
    path: str | Path, max_depth: int, max_bytes: int, key: str = NO_KEY
) -> SampleEvents:
    """The file's events, every line checked; EventsFileError at the first bad one.

    Loads are cached by the file's path, size and modification time: a grid or a capacity search
    builds its settings many times."""
    resolved = str(Path(path).expanduser().resolve())
    try:
        st = os.stat(resolved)
    except OSError as exc:
        raise EventsFileError(f"events_file {path}: {exc.strerror}") from None
    if not Path(resolved).is_file():
        raise EventsFileError(f"events_file {path}: not a file")
    return _load(resolved, (st.st_size, st.st_mtime_ns), max_depth, max_bytes, key)
