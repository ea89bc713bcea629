"""read_events_log: the consumer's log format, bad lines counted, several files."""

from __future__ import annotations

import json
import string

import numpy as np
import pandas as pd
import pytest
from analysis_synth import event, log_line, log_prefix, write_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.analysis import read_events_log


def test_parses_the_exact_line_format(tmp_path):
    ev = event("a1", sent_at=1_750_000_000.25, consumed_at=1_750_000_000.5, partition=2, offset=7)
    path = write_lines(tmp_path / "events.log", [log_line(ev, logged_at=1_750_000_000.5)])
    df = read_events_log(path)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["event_id"] == "a1" and row["event"] == "purchase"
    assert row["sent_at"] == 1_750_000_000.25 and row["consumed_at"] == 1_750_000_000.5
    assert row["received_at"] == pytest.approx(1_750_000_000.251)
    assert "produced_at" not in df.columns  # only fields something writes
    assert (row["partition"], row["offset"]) == (2, 7)
    assert str(df["partition"].dtype) == "Int64"
    expected_time = pd.Timestamp(log_prefix(1_750_000_000.5)[:23].replace(",", "."))
    assert row["log_time"] == expected_time
    assert df.attrs["unparsed_lines"] == 0


def test_torn_and_garbage_lines_are_counted_not_fatal(tmp_path):
    good = [log_line(event(f"e{i}", 100.0 + i, 101.0 + i)) for i in range(5)]
    torn = good[2][: len(good[2]) // 2]  # a line cut mid-JSON (a crash while writing)
    lines = [good[0], good[1], torn, "garbage without a prefix", "", good[3], good[4]]
    df = read_events_log(write_lines(tmp_path / "events.log", lines))
    assert list(df["event_id"]) == ["e0", "e1", "e3", "e4"]
    assert df.attrs["unparsed_lines"] == 2  # the empty line is not an unparsed event
    samples = " ".join(df.attrs["unparsed_samples"])
    assert "garbage without a prefix" in samples and torn[:40] in samples


def test_invalid_json_inside_a_valid_looking_line_is_isolated(tmp_path):
    """Lines that pass the byte scan but not the JSON parser force the splitting slow path;
    every other row must survive, in order, with its own log time."""
    lines, expected = [], []
    for i in range(1000):
        lines.append(log_line(event(f"e{i}", 1000.0 + i, 1000.5 + i), logged_at=1000.5 + i))
        expected.append(f"e{i}")
    bad = {
        10: log_prefix(2000.0) + '{"event_id": "x", }',
        500: log_prefix(2000.0) + '{"event_id": "y"} {"event_id": "z"}',
        998: log_prefix(2000.0) + '{"event_id": "bad-utf8 \xff"}',
    }
    for at, text in sorted(bad.items(), reverse=True):
        lines.insert(at, text)
    path = tmp_path / "events.log"
    data = "\n".join(lines).encode("latin-1") + b"\n"
    path.write_bytes(data)
    df = read_events_log(path)
    assert list(df["event_id"]) == expected
    assert df.attrs["unparsed_lines"] == 3
    logged = df["log_time"].to_numpy()
    expected_times = [
        pd.Timestamp(log_prefix(1000.5 + i)[:23].replace(",", ".")) for i in range(1000)
    ]
    assert list(logged) == [t.to_datetime64() for t in expected_times]


def test_mixed_types_are_coerced_on_the_slow_path(tmp_path):
    lines = [log_line(event(f"e{i}", 1.0, 2.0)) for i in range(100)]
    lines[40] = log_prefix(2.0) + json.dumps({"event_id": 12345, "sent_at": "1.5", "partition": 1})
    lines[41] = log_prefix(2.0) + '{"event_id": "n", "sent_at": NaN, "offset": 3}'
    df = read_events_log(write_lines(tmp_path / "events.log", lines))
    assert len(df) == 100 and df.attrs["unparsed_lines"] == 0
    assert df.loc[40, "event_id"] == "12345" and df.loc[40, "sent_at"] == 1.5
    assert np.isnan(df.loc[41, "sent_at"]) and df.loc[41, "offset"] == 3


def test_reads_every_events_file_of_a_run_directory(tmp_path):
    write_lines(tmp_path / "events-0.log", [log_line(event("a", 1.0, 2.0))])
    write_lines(tmp_path / "events-1.log", [log_line(event("b", 1.0, 2.0)), "torn {"])
    write_lines(tmp_path / "dead-letter.log", [log_prefix(2.0) + '"not an object"'])
    write_lines(tmp_path / "other.log", [log_line(event("c", 1.0, 2.0))])
    df = read_events_log(tmp_path)
    assert sorted(df["event_id"]) == ["a", "b"]
    assert df.attrs["unparsed_lines"] == 1
    assert df.attrs["dead_letters"] == 1
    assert {p.rsplit("/", 1)[1] for p in df["source"].astype(str)} == {
        "events-0.log",
        "events-1.log",
    }
    assert len(df.attrs["files"]) == 2
    by_file = read_events_log([tmp_path / "events-0.log", tmp_path / "events-1.log"])
    assert by_file.attrs["dead_letters"] == 1  # counted once, from beside the logs


def test_crlf_no_trailing_newline_and_empty_files(tmp_path):
    lines = [log_line(event(f"e{i}", 1.0, 2.0)) for i in range(3)]
    crlf = write_lines(tmp_path / "a" / "events.log", lines, newline="\r\n")
    bare = tmp_path / "b" / "events.log"
    bare.parent.mkdir()
    bare.write_text("\n".join(lines))  # the last line has no newline
    empty = tmp_path / "c" / "events.log"
    empty.parent.mkdir()
    empty.write_text("")
    assert list(read_events_log(crlf)["event_id"]) == ["e0", "e1", "e2"]
    assert list(read_events_log(bare)["event_id"]) == ["e0", "e1", "e2"]
    out = read_events_log([empty])
    assert len(out) == 0 and "event_id" in out.columns and out.attrs["unparsed_lines"] == 0
    assert len(read_events_log([])) == 0
    absent = read_events_log([crlf, tmp_path / "never-written.log"])
    assert len(absent) == 3 and absent.attrs["missing_files"] == [
        str(tmp_path / "never-written.log")
    ]


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
_garbage = st.text(alphabet=string.ascii_letters + " {}:,\"'", max_size=40).map(lambda s: "#" + s)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    items=st.lists(
        st.one_of(
            st.tuples(st.just("event"), _text, st.floats(0, 4e9, allow_nan=False)),
            st.tuples(st.just("garbage"), _garbage, st.just(0.0)),
            st.tuples(st.just("torn"), _text, st.floats(0.05, 0.95)),
        ),
        max_size=80,
    )
)
def test_any_mix_of_events_and_bad_lines_round_trips(tmp_path, items):
    lines, ids, bad = [], [], 0
    for n, (kind, text, number) in enumerate(items):
        ev = event(f"id-{n}", 1.7e9, 1.7e9 + 1)
        ev["event"] = text  # arbitrary unicode, quotes, line separators...
        ev["note"] = {"nested": [text, number]}
        line = log_line(ev)
        if kind == "event":
            lines.append(line)
            ids.append(f"id-{n}")
        elif kind == "garbage":
            lines.append(text)
            bad += 1
        else:  # a line cut somewhere inside its JSON object
            cut = len(log_prefix(0)) + int(number * (len(line) - len(log_prefix(0)) - 1))
            lines.append(line[:cut])
            bad += 1
    path = tmp_path / "events.log"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    df = read_events_log(path)
    assert list(df["event_id"]) == ids
    assert df.attrs["unparsed_lines"] == bad
    texts = {f"id-{n}": t for n, (k, t, _) in enumerate(items) if k == "event"}
    assert list(df["event"]) == [texts[i] for i in ids]


@pytest.mark.parametrize("tail", ["2025-01", "x", "2025-01-01 00:00:00,000 - {", "{}"])
def test_short_lines_at_the_end_of_the_buffer(tmp_path, tail):
    """Fixed-width reads of the prefix must not run past the file (or mistake padding for data)."""
    good = log_line(event("a", 1.0, 2.0))
    for text in (tail, good + "\n" + tail):
        path = tmp_path / "events.log"
        path.write_text(text)
        df = read_events_log(path)
        assert list(df["event_id"]) == ([] if text == tail else ["a"])
        assert df.attrs["unparsed_lines"] == 1


_DIGITS = set(b"0123456789")  # bytes; chr(178).isdigit() is True ("²"), so not str.isdigit


def test_every_single_byte_change_in_the_prefix_is_judged_right(tmp_path):
    """Exhaustive: each prefix position set to each byte value; a line stays valid only when a
    digit became another digit (the SWAR check must agree with the plain rule)."""
    template = log_prefix(1_750_000_000.5).encode() + b"{"
    body = json.dumps({"event_id": "x", "consumed_at": 1.0}).encode()[1:]
    lines, valid, ids = [], [], []
    for pos in range(len(template)):
        for value in range(256):
            if value in (10, 13):  # would split the line
                continue
            prefix = bytearray(template)
            prefix[pos] = value
            was_digit = template[pos] in _DIGITS
            valid.append(value in _DIGITS if was_digit else value == template[pos])
            event_id = f"{pos}-{value}"
            ids.append(event_id)
            lines.append(bytes(prefix) + body.replace(b'"x"', f'"{event_id}"'.encode()))
    path = tmp_path / "events.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    df = read_events_log(path)
    expected = [event_id for event_id, ok in zip(ids, valid, strict=True) if ok]
    assert list(df["event_id"]) == expected
    assert df.attrs["unparsed_lines"] == len(lines) - len(expected)
