"""Read the consumer's event log(s) into one DataFrame (one row per logged event).

`read_events_log` takes files and/or run directories (a directory means its `events*.log`). Lines
that do not parse are counted, not fatal: the count and a few samples are in `df.attrs`
(`unparsed_lines`, `unparsed_samples`), with `dead_letters` (lines of the `dead-letter.log`
beside the logs) and `files`.

Speed: the byte-level scan is numpy (see `logscan`), the JSON is parsed by pyarrow's JSON reader in
one call per file with an explicit schema (fields other than the ones below are ignored, so a
client field of mixed type cannot break the parse). Only when pyarrow rejects a block is it
split (16 ways, recursively) down to small ranges parsed line by line with `json.loads`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson

from harness.analysis.logscan import ScannedLog, scan

TIME_FIELDS = ("sent_at", "received_at", "consumed_at")
SCHEMA = pa.schema(
    [("event_id", pa.string()), ("event", pa.string())]
    + [(name, pa.float64()) for name in TIME_FIELDS]
    + [("partition", pa.int64()), ("offset", pa.int64())]
)
# line_bytes: the line's size in the file (its newline included); record_bytes: the Kafka
# record's value as the line holds it (below).
BYTE_COLUMNS = ("line_bytes", "record_bytes")
COLUMNS = [*SCHEMA.names, "log_time", "source", *BYTE_COLUMNS]
# What the consumer adds to a record's value: the time prefix, then `, "consumed_at": <repr>`,
# `, "partition": <p>`, `, "offset": <o>` before the closing brace (app/eventlog.py), and the
# newline: everything but the three numbers' own characters.
_ADDED_BYTES = 26 + len(', "consumed_at": ') + len(', "partition": ') + len(', "offset": ') + 1
_POWERS_OF_TEN = 10 ** np.arange(1, 19, dtype=np.int64)
_PARSE_OPTIONS = pajson.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="ignore")
_SMALL_RANGE = 32  # below this many lines, a failing block is parsed line by line
_SPLIT = 16  # a failing block is retried as this many parts: one bad line costs ~2x the parse
_MAX_SAMPLES = 5


@dataclass
class _Parsed:
    tables: list[pa.Table] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)  # line indices that produced rows
    failed: list[int] = field(default_factory=list)  # line indices that were not JSON objects


def _pyarrow_rows(data: memoryview, expected: int) -> pa.Table | None:
    """The table for a block of NDJSON, or None when pyarrow rejects it or miscounts the lines."""
    try:
        table = pajson.read_json(pa.BufferReader(pa.py_buffer(data)), parse_options=_PARSE_OPTIONS)
        table.validate(full=True)  # the JSON reader lets invalid UTF-8 through; this does not
    except (pa.ArrowException, ValueError):  # ArrowInvalid, UnicodeDecodeError
        return None
    return table if table.num_rows == expected else None  # e.g. two objects on one line


def _digits(values: np.ndarray) -> np.ndarray:
    """Decimal digits of non-negative integers."""
    return 1 + np.searchsorted(_POWERS_OF_TEN, values, side="right")


def _repr_lengths(values: np.ndarray) -> np.ndarray:
    """len(repr(v)) of each float, computed once per run of equal values: a consumer's batch of
    lines shares one consumed_at."""
    n = len(values)
    if not n:
        return np.zeros(0, dtype=np.int64)
    change = np.ones(n, dtype=bool)
    change[1:] = values[1:] != values[:-1]
    starts = np.flatnonzero(change)
    lengths = np.array([len(repr(v)) for v in values[starts].tolist()], dtype=np.int64)
    return np.repeat(lengths, np.diff(np.append(starts, n)))


def record_bytes(frame: pd.DataFrame) -> pd.Series:
    """Each line's Kafka record value size: the line without what the consumer added. Exact for
    the lines that hold the record's own bytes, which is every line of an ASCII value (the
    simulator's events always); a value the consumer had to re-serialize (non-ASCII text, which
    json.dumps escapes) gives the size of its logged JSON instead. NA without partition/offset."""
    partition = frame["partition"].to_numpy(dtype=float, na_value=np.nan)
    offset = frame["offset"].to_numpy(dtype=float, na_value=np.nan)
    known = ~(np.isnan(partition) | np.isnan(offset)) & frame["consumed_at"].notna().to_numpy()
    sizes = np.full(len(frame), np.nan)
    if known.any():
        sizes[known] = (
            frame["line_bytes"].to_numpy(dtype=np.int64, na_value=0)[known] - _ADDED_BYTES
            - _repr_lengths(frame["consumed_at"].to_numpy(dtype=float)[known])
            - _digits(partition[known].astype(np.int64))
            - _digits(offset[known].astype(np.int64))
        )  # fmt: skip
    return pd.Series(sizes, index=frame.index).astype("Int64")


def _coerce(value: object, kind: pa.DataType) -> object:
    """A JSON value as the schema's type, or None (for lines pyarrow could not take)."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    try:
        if pa.types.is_string(kind):
            return value if isinstance(value, str) else json.dumps(value)
        if pa.types.is_integer(kind):
            return int(value)
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _python_rows(scanned: ScannedLog, lines: np.ndarray, out: _Parsed) -> None:
    """Parse lines one by one with json.loads (the slow path, for small failing blocks)."""
    rows, ok = [], []
    for i in lines:
        text = bytes(scanned.buf[scanned.starts[i] : scanned.ends[i]])
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            out.failed.append(int(i))
            continue
        rows.append({f.name: _coerce(obj.get(f.name), f.type) for f in SCHEMA})
        ok.append(i)
    if rows:
        out.tables.append(pa.Table.from_pylist(rows, schema=SCHEMA))
        out.rows.append(np.asarray(ok, dtype=np.int64))


def _parse_lines(scanned: ScannedLog, lines: np.ndarray, out: _Parsed) -> None:
    """Parse the good lines `lines` (consecutive in the file), splitting around bad blocks."""
    if not len(lines):
        return
    data = memoryview(scanned.buf)[scanned.starts[lines[0]] : scanned.ends[lines[-1]]]
    table = _pyarrow_rows(data, len(lines))
    if table is not None:
        out.tables.append(table)
        out.rows.append(lines)
    elif len(lines) <= _SMALL_RANGE:
        _python_rows(scanned, lines, out)
    else:
        for part in np.array_split(lines, _SPLIT):
            _parse_lines(scanned, part, out)


def _samples(scanned: ScannedLog, failed: list[int], path: Path) -> list[str]:
    """Readable samples of unparsed lines: rejected by the scan first, then by the JSON parse."""
    raw = scanned.bad_samples + [
        bytes(scanned.buf[scanned.starts[i] : scanned.ends[i]]).strip() for i in failed
    ]
    return [f"{path}: {text[:200].decode('utf-8', 'replace')}" for text in raw[:_MAX_SAMPLES]]


def _read_one(path: Path) -> tuple[pd.DataFrame, int, list[str]]:
    """One file: its events, the number of unparsed lines, and samples of them."""
    scanned = scan(path, _MAX_SAMPLES)
    parsed = _Parsed()
    _parse_lines(scanned, np.flatnonzero(scanned.good), parsed)
    table = pa.concat_tables(parsed.tables) if parsed.tables else SCHEMA.empty_table()
    rows = np.concatenate(parsed.rows) if parsed.rows else np.zeros(0, dtype=np.int64)
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    frame["log_time"] = scanned.log_time[rows]
    frame["source"] = str(path)
    frame["line_bytes"] = pd.array((scanned.ends - scanned.starts + 1)[rows], dtype="Int64")
    frame["record_bytes"] = record_bytes(frame)
    unparsed = int((~scanned.good).sum()) + len(parsed.failed)
    return frame, unparsed, _samples(scanned, parsed.failed, path)


def _log_files(paths: str | Path | Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """The log files to read, and the directories whose dead-letter.log belongs to them (the
    directories given, and those of the files given: the consumer writes it beside its log)."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    files, dirs = [], []
    for item in map(Path, items):
        if item.is_dir():
            dirs.append(item)
            files.extend(sorted(item.glob("events*.log")))
        else:
            files.append(item)
            dirs.append(item.parent)
    return files, list(dict.fromkeys(dirs))


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(1 for line in path.read_bytes().splitlines() if line.strip())


def read_events_log(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """All events of the given log files / run directories, in file order.

    Columns: event_id, event, sent_at, received_at, consumed_at (epoch
    seconds, NaN when absent), partition, offset (nullable Int64), log_time (the line's own
    timestamp: naive local time, millisecond resolution), source (the file it came from),
    line_bytes (the line's size, newline included) and record_bytes (`record_bytes`).
    A file that does not exist (a consumer that never wrote) is listed in attrs["missing_files"].
    """
    files, dirs = _log_files(paths)
    frames, unparsed, samples, missing = [], 0, [], []
    for path in files:
        if not path.exists():
            missing.append(str(path))
            continue
        frame, bad, some = _read_one(path)
        frames.append(frame)
        unparsed += bad
        samples.extend(some)
    df = pd.concat(frames, ignore_index=True) if frames else _empty_frame()
    df["source"] = df["source"].astype("category")
    df.attrs.update(
        files=[str(p) for p in files if str(p) not in missing],
        missing_files=missing,
        unparsed_lines=int(unparsed),
        unparsed_samples=samples[:_MAX_SAMPLES],
        dead_letters=sum(_count_lines(d / "dead-letter.log") for d in dirs),
    )
    return df


def _empty_frame() -> pd.DataFrame:
    frame = SCHEMA.empty_table().to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    frame["log_time"] = pd.Series(dtype="datetime64[ms]")
    frame["source"] = pd.Series(dtype=str)
    frame["line_bytes"] = pd.Series(dtype="Int64")
    frame["record_bytes"] = pd.Series(dtype="Int64")
    return frame
