"""Unit tests of the log's line format (identical to logging's) and its whole-line file."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.eventlog import LineFile, format_asctime, format_batch, truncate_torn_tail

LINE = re.compile(rb"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) - (\{.*\})$")


@pytest.fixture
def india_time(monkeypatch):
    """A zone far from UTC with a half-hour offset: local time must be what is shown."""
    monkeypatch.setenv("TZ", "IST-05:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def logging_line(created: float, message: str, monkeypatch) -> str:
    """What `logging` with the seed's format writes for `message` logged at `created`."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s - %(message)s"))
    logger = logging.getLogger(f"test-eventlog-{id(stream)}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: created)
        logger.info(message)
    logger.removeHandler(handler)
    return stream.getvalue()


MOMENTS = [
    0.0,
    1751836736.847,
    1751836736.9999,
    1751836736.0005,
    1751836799.999999,
    1700000000.123,
    1_999_999_999.5,
]


@pytest.mark.parametrize("created", MOMENTS)
def test_asctime_is_logging_default_asctime(created, india_time, monkeypatch):
    expected = logging_line(created, "x", monkeypatch)[: -len(" - x\n")]
    assert format_asctime(created) == expected


def test_asctime_uses_local_time(india_time):
    # 00:00:00 UTC is 05:30:00 in IST-05:30.
    assert format_asctime(86400.25) == "1970-01-02 05:30:00,250"


def test_spliced_line_is_byte_identical_to_logging_json_dumps(india_time, monkeypatch):
    event = {"event": "purchase", "user_id": 1432, "event_id": "ab12", "sent_at": 1751836736.5}
    now = 1751836736.847123
    batch = format_batch([(2, 41, json.dumps(event).encode())], now)
    logged = json.dumps({**event, "consumed_at": now, "partition": 2, "offset": 41})
    assert batch.events.decode() == logging_line(now, logged, monkeypatch)
    assert (batch.n_events, batch.n_dead, batch.dead_letters) == (1, 0, b"")


@pytest.mark.parametrize(
    "value",
    [
        '{"event": "signup", "name": "Zo\u00eb \u2028 caf\u00e9"}'.encode(),  # non-ASCII
        b'{\n  "event": "signup",\n  "user_id": 7\n}\n',  # pretty-printed: several lines
        b'{"event": "x", "partition": 99, "offset": -1}',  # clashes with the added fields
        b"{}",
        b'{"compact":true,"n":[1,2,{"a":null}]}',
        b'  {"padded": 1}  ',
        b'{"big": 123456789012345678901234567890, "nan": NaN}',  # stdlib-only JSON
    ],
)
def test_every_valid_object_becomes_one_parseable_line(value, india_time):
    now = 1751836736.5
    batch = format_batch([(0, 5, value)], now)
    lines = batch.events.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 2, batch.events
    match = LINE.match(lines[0])
    assert match, lines[0]
    assert match.group(1).decode() == format_asctime(now)
    expected = {**json.loads(value), "consumed_at": now, "partition": 0, "offset": 5}
    assert json.dumps(json.loads(match.group(2)), sort_keys=True) == json.dumps(
        expected, sort_keys=True
    )
    assert "\u2028" not in batch.events.decode()  # str.splitlines() would split there


def test_a_batch_mixing_plain_and_other_values_formats_each_right(india_time, monkeypatch):
    plain = {"event": "purchase", "user_id": 1}
    values = [
        json.dumps(plain).encode(),
        json.dumps({"name": "Zo\u00eb"}, ensure_ascii=False).encode(),
        json.dumps({"event": "x", "n": [1, 2]}, indent=2).encode(),
        json.dumps(plain).encode(),
    ]
    now = 1751836736.5
    batch = format_batch([(0, i, v) for i, v in enumerate(values)], now)
    lines = batch.events.decode().splitlines(keepends=True)
    assert len(lines) == 4
    for i, line in enumerate(lines):
        expected = {**json.loads(values[i]), "consumed_at": now, "partition": 0, "offset": i}
        # json.dumps of the event: what the original consumer logged, byte for byte.
        assert line == logging_line(now, json.dumps(expected), monkeypatch)


@pytest.mark.parametrize(
    "value",
    [b"not json", b'[{"event": "x"}]', b'"a string"', b"42", b"", None, b"\xff\xfe{", b'{"a": 1'],
)
def test_values_that_are_not_json_objects_are_dead_letters(value):
    good = b'{"event": "ok"}'
    batch = format_batch([(1, 9, good), (3, 10, value), (1, 11, good)], 1751836736.5)
    assert (batch.n_events, batch.n_dead) == (2, 1)
    (line,) = batch.dead_letters.splitlines()
    doc = json.loads(LINE.match(line).group(2))
    assert doc["partition"] == 3 and doc["offset"] == 10
    if value is None:
        assert doc["raw"] is None
    else:
        assert doc["raw"] == value.decode("utf-8", "backslashreplace")
    assert [json.loads(LINE.match(x).group(2))["offset"] for x in batch.events.splitlines()] == [
        9,
        11,
    ]


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(st.dictionaries(st.text(), json_values, max_size=4), min_size=1, max_size=3),
    ensure_ascii=st.booleans(),
    indent=st.sampled_from([None, 2]),
)
def test_property_any_json_objects_round_trip(events, ensure_ascii, indent):
    values = [json.dumps(e, ensure_ascii=ensure_ascii, indent=indent).encode() for e in events]
    batch = format_batch([(4, 100 + i, v) for i, v in enumerate(values)], 1751836736.25)
    lines = batch.events.split(b"\n")
    assert lines.pop() == b"" and len(lines) == len(events)
    for i, (line, event) in enumerate(zip(lines, events, strict=True)):
        assert b"\r" not in line
        logged = json.loads(LINE.match(line).group(2))
        assert logged == {**event, "consumed_at": 1751836736.25, "partition": 4, "offset": 100 + i}


def test_truncate_torn_tail_cuts_only_the_partial_line(tmp_path):
    path = tmp_path / "events.log"
    path.write_bytes(b"line one\nline two\npartial li")
    with open(path, "rb+") as fh:
        assert truncate_torn_tail(fh.fileno()) == len(b"partial li")
    assert path.read_bytes() == b"line one\nline two\n"


def test_truncate_torn_tail_leaves_whole_lines_alone(tmp_path):
    path = tmp_path / "events.log"
    path.write_bytes(b"line one\nline two\n")
    with open(path, "rb+") as fh:
        assert truncate_torn_tail(fh.fileno()) == 0
    assert path.read_bytes() == b"line one\nline two\n"


def test_truncate_torn_tail_longer_than_one_read_block(tmp_path):
    path = tmp_path / "events.log"
    torn = b"x" * 200_000
    path.write_bytes(b"whole\n" + torn)
    with open(path, "rb+") as fh:
        assert truncate_torn_tail(fh.fileno()) == len(torn)
    assert path.read_bytes() == b"whole\n"


def test_truncate_torn_tail_of_a_single_partial_line_empties_the_file(tmp_path):
    path = tmp_path / "events.log"
    path.write_bytes(b"no newline at all")
    with open(path, "rb+") as fh:
        truncate_torn_tail(fh.fileno())
    assert path.read_bytes() == b""


def test_linefile_repairs_on_open_and_appends_whole_lines(tmp_path):
    path = tmp_path / "sub" / "events.log"
    path.parent.mkdir()
    path.write_bytes(b"a\nb\ntorn")
    with LineFile(path) as lf:
        assert lf.repaired_bytes == 4
        lf.write(b"c\n")
    with LineFile(path, fsync=True) as lf:
        lf.write(b"d\ne\n")
    assert path.read_bytes() == b"a\nb\nc\nd\ne\n"


def test_linefile_never_appends_after_a_torn_line_of_another_writer(tmp_path):
    # The dead-letter file may be shared: a writer killed mid-write must not glue its
    # fragment onto the next writer's line.
    path = tmp_path / "dead-letter.log"
    with LineFile(path) as lf:
        lf.write(b"one\n")
        with open(path, "ab") as other:
            other.write(b"fragment of a kill")
        lf.write(b"two\n")
    assert path.read_bytes() == b"one\ntwo\n"


def test_linefile_creates_missing_directories(tmp_path):
    path = tmp_path / "a" / "b" / "events.log"
    with LineFile(path) as lf:
        lf.write(b"x\n")
    assert path.read_bytes() == b"x\n"


def test_linefile_write_on_a_full_disk_raises_enospc():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with LineFile("/dev/full") as lf:
        with pytest.raises(OSError) as info:
            lf.write(b"x\n")
    assert info.value.errno == errno.ENOSPC


def test_linefile_on_a_directory_fails_to_open(tmp_path):
    with pytest.raises(IsADirectoryError):
        LineFile(tmp_path)
