"""The consumer's own formatter (app.eventlog) and read_events_log agree on the log format."""

from __future__ import annotations

import json

import orjson
import pandas as pd

from app.eventlog import format_asctime, format_batch
from harness.analysis import read_events_log


def _value(i: int, **extra) -> bytes:
    """A record value as the API produces it: the client's fields, event_id, the timing fields."""
    event = {"event": "purchase", "user_id": i, "event_id": f"run-{i}", "sent_at": 1.75e9 + i}
    event["received_at"] = event["sent_at"] + 0.001
    return orjson.dumps({**event, **extra})


def test_lines_written_by_the_consumer_parse_back(tmp_path):
    values = [
        (0, 10, _value(0)),
        (1, 11, _value(1, event="achat é ✓", nested={"a": [1, 2]})),  # non-ASCII: re-serialized
        (2, 12, b'{"event": "multi\\nline", "event_id": "run-2", "sent_at": 1.0}'),
        (0, 13, b"[1, 2]"),  # not an object: a dead letter
        (1, 14, json.dumps({"event_id": "run-4", "sent_at": float("nan")}).encode()),
    ]
    consumed_at = 1_750_000_123.4567
    batch = format_batch(values, consumed_at)
    (tmp_path / "events.log").write_bytes(batch.events)
    (tmp_path / "dead-letter.log").write_bytes(batch.dead_letters)

    df = read_events_log(tmp_path)
    assert list(df["event_id"]) == ["run-0", "run-1", "run-2", "run-4"]
    assert list(df["partition"]) == [0, 1, 2, 1] and list(df["offset"]) == [10, 11, 12, 14]
    assert (df["consumed_at"] == consumed_at).all()
    assert df.loc[1, "event"] == "achat é ✓" and df.loc[2, "event"] == "multi\nline"
    assert df.loc[0, "received_at"] == 1.75e9 + 0.001
    assert pd.isna(df.loc[3, "sent_at"])  # NaN in the value: kept as missing, not an error
    assert (df["log_time"] == pd.Timestamp(format_asctime(consumed_at).replace(",", "."))).all()
    assert df.attrs["unparsed_lines"] == 0 and df.attrs["dead_letters"] == 1
