"""Byte-level scan of a consumer log: line boundaries, the fixed-width time prefix, bad lines.

A log line is `YYYY-MM-DD HH:MM:SS,mmm - {json}`. The prefix is always 26 ASCII bytes, so the
whole file is checked and its times decoded with numpy on the raw bytes (no Python loop per line),
and the prefixes are then blanked to spaces in place: what remains is newline-delimited JSON that
pyarrow's JSON reader parses in one multithreaded call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PREFIX_LEN = 26  # "2025-07-06 23:18:56,847 - "
_TEMPLATE = np.frombuffer(b"0000-00-00 00:00:00,000 - {", dtype=np.uint8)
_IS_DIGIT = _TEMPLATE == ord("0")


def _words(per_byte: np.ndarray) -> np.ndarray:
    """32 template-position bytes (zero-padded) as four little-endian uint64 words."""
    padded = np.zeros(32, dtype=np.uint8)
    padded[: len(per_byte)] = per_byte
    return padded.view("<u8")


# Masks to check a 32-byte prefix row, 8 bytes at a time (SWAR): literal bytes must equal the
# template; digit bytes must be 0x3N with N <= 9 (N + 6 must not carry into bit 4).
_LITERAL = _words(np.where(_IS_DIGIT, 0, 0xFF))
_EXPECTED = _words(np.where(_IS_DIGIT, 0, _TEMPLATE))
_DIGIT_HIGH = _words(np.where(_IS_DIGIT, 0xF0, 0))
_DIGIT_3X = _words(np.where(_IS_DIGIT, 0x30, 0))
_DIGIT_LOW = _words(np.where(_IS_DIGIT, 0x0F, 0))
_DIGIT_SIX = _words(np.where(_IS_DIGIT, 0x06, 0))
_DIGIT_CARRY = _words(np.where(_IS_DIGIT, 0x10, 0))
_SPACES = np.uint64(0x2020202020202020)
_NL, _CR, _SPACE, _CLOSE = ord("\n"), ord("\r"), ord(" "), ord("}")


@dataclass
class ScannedLog:
    """A log file's bytes (prefixes of good lines blanked) and per-line facts."""

    buf: np.ndarray  # writable uint8 copy of the file
    starts: np.ndarray  # byte offset of each non-empty line
    ends: np.ndarray  # byte offset one past its last byte (newline and CR excluded)
    good: np.ndarray  # bool: the prefix is well formed and the JSON part looks like an object
    log_time: np.ndarray  # datetime64[ms] (NaT for bad lines), local time as written
    bad_samples: list[bytes]  # the first few rejected lines, as they were (blanking erases them)


def read_buffer(path: Path) -> np.ndarray:
    """The file as a writable uint8 array, padded with 8 spaces so 8-byte reads never overrun."""
    size = path.stat().st_size
    buf = np.empty(size + 8, dtype=np.uint8)  # not zero-filled: one pass less than a bytearray
    with open(path, "rb") as fh:
        got = fh.readinto(memoryview(buf)[:size])
    buf = buf[: got + 8]
    buf[got:] = _SPACE
    return buf


def _newlines(buf: np.ndarray, size: int, chunk: int = 1 << 22) -> np.ndarray:
    """Offsets of the newlines in buf[:size], searched in cache-sized chunks (no 1-byte-per-byte
    mask of the whole file)."""
    mask = np.empty(chunk, dtype=bool)
    found = []
    for lo in range(0, size, chunk):
        part = buf[lo : min(lo + chunk, size)]
        found.append(np.flatnonzero(np.equal(part, _NL, out=mask[: len(part)])) + lo)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def line_bounds(buf: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Start/end offsets of the non-empty lines in buf[:size] (a trailing CR is not content)."""
    newlines = _newlines(buf, size)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [size]))
    ends = ends - ((ends > starts) & (buf[np.maximum(ends - 1, 0)] == _CR))
    keep = ends > starts
    return starts[keep], ends[keep]


def _prefix_bytes(buf: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The first 32 bytes of each line as an (n, 32) uint8 matrix (one row copy per line)."""
    windows = np.lib.stride_tricks.sliding_window_view(buf, 32)
    return windows[np.minimum(starts, len(windows) - 1)]


def _well_formed(prefix: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Rows of `prefix` that match `YYYY-MM-DD HH:MM:SS,mmm - {` (digits where digits go)."""
    words = prefix.view("<u8")  # (n, 4): each row's 32 bytes as 4 words
    literal_ok = ((words ^ _EXPECTED) & _LITERAL) == 0
    high_ok = (words & _DIGIT_HIGH) == _DIGIT_3X
    low_ok = (((words & _DIGIT_LOW) + _DIGIT_SIX) & _DIGIT_CARRY) == 0
    return (literal_ok & high_ok & low_ok).all(axis=1) & (lengths >= PREFIX_LEN + 2)


def _decode_times(prefix: np.ndarray) -> np.ndarray:
    """datetime64[ms] from the digits of `YYYY-MM-DD HH:MM:SS,mmm` (calendar math in numpy)."""
    digits = prefix[:, : len(_TEMPLATE)][:, _IS_DIGIT]

    def number(lo: int, hi: int) -> np.ndarray:
        value = np.zeros(len(digits), dtype=np.int32)
        for k in range(lo, hi):
            value = value * 10 + (digits[:, k] - ord("0"))
        return value.astype(np.int64)

    years = (number(0, 4) - 1970).astype("datetime64[Y]")
    months = years.astype("datetime64[M]") + (number(4, 6) - 1).astype("timedelta64[M]")
    days = months.astype("datetime64[D]") + (number(6, 8) - 1).astype("timedelta64[D]")
    millis = ((number(8, 10) * 60 + number(10, 12)) * 60 + number(12, 14)) * 1000 + number(14, 17)
    return days.astype("datetime64[ms]") + millis.astype("timedelta64[ms]")


def _blank(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
    """Overwrite buf[start:end] with spaces for every range (vectorized over all ranges)."""
    lengths = ends - starts
    if not len(lengths) or not lengths.sum():
        return
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    buf[np.repeat(starts, lengths) + offsets] = _SPACE


def blank_prefixes(buf: np.ndarray, starts: np.ndarray) -> None:
    """Turn each line's 26-byte time prefix into spaces (JSON whitespace), keeping the '{'."""
    words = np.ndarray(shape=(buf.size - 7,), dtype="<u8", buffer=buf, strides=(1,))
    for k in (0, 8, 16, PREFIX_LEN - 8):
        words[starts + k] = _SPACES


def blank_lines(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
    """Turn whole lines into spaces so the JSON reader skips them."""
    _blank(buf, starts, ends)


def scan(path: Path, max_samples: int = 5) -> ScannedLog:
    """Read a log file, find its lines, validate and decode prefixes, blank what is not JSON."""
    buf = read_buffer(path)
    size = buf.size - 8
    starts, ends = line_bounds(buf, size)
    log_time = np.full(len(starts), "NaT", dtype="datetime64[ms]")
    if buf.size < 32:  # too short for a single well-formed line
        good = np.zeros(len(starts), dtype=bool)
    else:
        prefix = _prefix_bytes(buf, starts)
        good = _well_formed(prefix, ends - starts) & (buf[ends - 1] == _CLOSE)
        log_time[good] = _decode_times(prefix[good])
    bad = np.flatnonzero(~good)
    samples = [bytes(buf[starts[i] : ends[i]]) for i in bad[:max_samples]]
    blank_prefixes(buf, starts[good])
    blank_lines(buf, starts[bad], ends[bad])
    return ScannedLog(buf, starts, ends, good, log_time, samples)
