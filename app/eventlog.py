"""The consumer's log: its line format and the append-only file that holds whole lines.

A line is what the original consumer wrote with Python logging's default formatter:
`asctime + " - " + message`, i.e. `YYYY-MM-DD HH:MM:SS,mmm - {json}` in local time. Logging
itself costs tens of microseconds a line, so lines are formatted here, a batch at a time, to the
same bytes.

The JSON object is the record's value with `consumed_at`, `partition` and `offset` appended. When
the value is plain ASCII JSON on one line (what `json.dumps` sends), those fields are spliced into
its bytes: the client's fields stay byte-for-byte as sent and nothing is re-serialized. Anything
else is parsed and re-serialized with `json.dumps`, so every line is one line of valid JSON.
Values that are not a JSON object go to the dead-letter lines instead.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson

# One polled record: (partition, offset, value bytes or None).
Record = tuple[int, int, bytes | None]

ADDED_FIELDS = ("consumed_at", "partition", "offset")


def format_asctime(created: float) -> str:
    """`created` exactly as logging.Formatter's default `%(asctime)s` shows it (local time).

    The milliseconds are computed as logging.LogRecord computes `msecs` (Python 3.11/3.12).
    """
    msecs = int((created - int(created)) * 1000)
    # logging's own default_msec_format, "%s,%03d"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(created))},{msecs:03d}"


def parse_object(value: bytes | None) -> dict | None:
    """The value as a JSON object, or None when it is not one."""
    if value is None:
        return None
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        # orjson is stricter than the stdlib (NaN, integers beyond 64 bits): accept what
        # Python's own json accepts, as the original consumer did.
        try:
            obj = json.loads(value)
        except (ValueError, RecursionError):
            return None
    return obj if type(obj) is dict else None


@dataclass
class FormattedBatch:
    events: bytes  # lines for the events log
    dead_letters: bytes  # lines for the dead-letter file
    n_events: int
    n_dead: int


def format_batch(records: Iterable[Record], consumed_at: float) -> FormattedBatch:
    """Format polled records into log lines: one timestamp for the batch, as read at once."""
    if not isinstance(records, list):
        records = list(records)  # iterated twice
    prefix = format_asctime(consumed_at).encode() + b" - "
    # Everything but the record's own bytes, partition and offset is the same for the batch.
    spliced = prefix + b'%b, "consumed_at": ' + repr(consumed_at).encode()
    spliced += b', "partition": %d, "offset": %d}\n'
    # One scan of the whole batch instead of three per record: in the usual batch every value
    # is one line of ASCII, so each can be spliced as it is.
    blob = b"".join([value for _, _, value in records if value is not None])
    all_spliceable = blob.isascii() and b"\n" not in blob and b"\r" not in blob
    events: list[bytes] = []
    dead: list[bytes] = []
    for partition, offset, value in records:
        try:
            obj = orjson.loads(value)
        except (orjson.JSONDecodeError, TypeError):
            obj = parse_object(value)  # the stdlib's leniency, None
        if type(obj) is not dict:
            dead.append(prefix + _dead_letter_json(value, partition, offset, consumed_at) + b"\n")
            continue
        raw = value.strip()
        if (
            obj
            and "consumed_at" not in obj
            and "partition" not in obj
            and "offset" not in obj
            and (all_spliceable or _spliceable(raw))
        ):
            events.append(spliced % (raw[:-1].rstrip(), partition, offset))
        else:
            obj["consumed_at"] = consumed_at
            obj["partition"] = partition
            obj["offset"] = offset
            events.append(prefix + json.dumps(obj).encode() + b"\n")
    return FormattedBatch(b"".join(events), b"".join(dead), len(events), len(dead))


def _spliceable(raw: bytes) -> bool:
    """One line of ASCII: what json.dumps would write for it (str.splitlines-safe, too)."""
    return raw.isascii() and b"\n" not in raw and b"\r" not in raw


def _dead_letter_json(value: bytes | None, partition: int, offset: int, now: float) -> bytes:
    raw = None if value is None else value.decode("utf-8", "backslashreplace")
    doc = {"raw": raw, "consumed_at": now, "partition": partition, "offset": offset}
    return json.dumps(doc).encode()


def truncate_torn_tail(fd: int) -> int:
    """Cut a last line that has no newline (a write cut short by SIGKILL or a full disk).

    That line's batch was never committed, so Kafka delivers it again: dropping it loses nothing.
    Returns how many bytes were cut. Not regular files (/dev/null, pipes) are left alone.
    """
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return 0
    size = st.st_size
    if os.pread(fd, 1, size - 1) == b"\n":
        return 0
    end = size
    chunk = 64 * 1024
    while end > 0:  # search backwards for the last newline
        start = max(0, end - chunk)
        block = os.pread(fd, end - start, start)
        nl = block.rfind(b"\n")
        if nl >= 0:
            keep = start + nl + 1
            break
        end = start
    else:
        keep = 0
    os.ftruncate(fd, keep)
    return size - keep


class LineFile:
    """An append-only file that only ever receives whole lines.

    Each write is one locked append (flock), after a check that the file still ends on a newline,
    so two processes may share a file (the default dead-letter.log) and a writer killed mid-write
    never leaves a torn line under the next one. `os.write` hands the bytes to the kernel: they
    survive a crash of this process. Surviving a crash of the machine needs `fsync=True`.
    """

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self.repaired_bytes = self._locked(lambda: truncate_torn_tail(self.fd))

    def write(self, data: bytes) -> None:
        """Append `data` (whole lines); raises OSError (ENOSPC, EIO, ...) when it cannot."""
        if data:
            self._locked(lambda: self._append(data))

    def _append(self, data: bytes) -> None:
        truncate_torn_tail(self.fd)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        if self.fsync:
            os.fsync(self.fd)

    def _locked(self, action):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            return action()
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> LineFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
