"""Pure logic of the events (issue 21): sized payloads, their randomness, user skew, the events
file's checks, the byte and partition figures, and the per-key order audit against brute force.
Integration with the real broker and API: tests/test_events_kafka.py."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
import zstandard
from kafka_helpers import BrokerWatch

from app.eventlog import format_batch
from app.settings import ProducerSettings, idempotence_conflict
from harness import cli
from harness.analysis.logs import read_events_log
from harness.analysis.order import audit_order
from harness.analysis.volume import partition_spread, throughput_mbps
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.eventsfile import EventsFileError, load_events
from harness.loadgen.payload import (
    PAYLOAD_ALPHABET,
    BodyFactory,
    payload_pool,
    render,
    zipf_cdf,
)
from harness.params import ParameterError, RunConfig

URL = "http://h:1"


def events_of(body: bytes) -> list[dict]:
    doc = orjson.loads(body)
    return doc if isinstance(doc, list) else [doc]


# ---------------------------------------------------------------- sized events


@pytest.mark.parametrize("endpoint", ["single", "batch"])
@pytest.mark.parametrize("size", [100, 1000, 10_000])
def test_sized_events_have_the_exact_size_whatever_the_sent_at_text(size, endpoint):
    cfg = SimulatorConfig(url=URL, events=30_000, event_bytes=size, endpoint=endpoint,
                          events_per_request=40, random_seed=7)  # fmt: skip
    factory = BodyFactory(cfg)
    # repr of a time is 12 to 18 characters: each length once, and a time of 0.0
    times = [1764567890.0, 1764567890.5, 1764567890.25, 1764567890.125, 1764567890.0625,
             1764567890.03125, 1764567890.123456, 1764567890.1234567, 0.0]  # fmt: skip
    assert {len(repr(t)) for t in times} >= set(range(12, 19))
    for request_id in (0, 7, cfg.requests - 1):  # sequence numbers of 1 to 5 digits
        template = factory.template(request_id)
        for t in times:
            body = render(template, t)
            events = events_of(body)
            assert [len(orjson.dumps(e)) for e in events] == [size] * len(events)
            assert template.sizes(len(repr(t))) == [size] * len(events)
            assert all(e["sent_at"] == t and e["payload"] for e in events)
            assert "user_id" not in events[0]  # not keyed by it: no room is spent on it


def test_sized_events_carry_user_id_when_keyed_by_it():
    cfg = SimulatorConfig(url=URL, events=100, event_bytes=300, key="user_id", random_seed=1)
    (event,) = events_of(render(BodyFactory(cfg).template(5), time.time()))
    assert isinstance(event["user_id"], int) and len(orjson.dumps(event)) == 300


def test_a_size_below_the_shapes_minimum_is_refused_naming_the_minimum():
    cfg = SimulatorConfig(url=URL, events=100_000, event_bytes=200)
    minimum = cfg.minimum_event_bytes()
    # at the minimum, the longest event (longest name, last sequence number) still fits
    tight = SimulatorConfig(url=URL, events=100_000, event_bytes=minimum, random_seed=3)
    factory = BodyFactory(tight)
    for request_id in range(99_990, 100_000):
        (event,) = events_of(render(factory.template(request_id), 1764567890.1234567))
        assert len(orjson.dumps(event)) == minimum
    with pytest.raises(ValueError, match=f"minimum of {minimum} bytes"):
        SimulatorConfig(url=URL, events=100_000, event_bytes=minimum - 1)
    with pytest.raises(ParameterError, match=f"minimum of {minimum} bytes"):
        RunConfig.from_dict({"events": 100_000, "event_bytes": minimum - 1})
    # the smallest size fits a timed run's (unknown, 10-digit) sequence numbers
    assert RunConfig(event_bytes=100, duration_s=5).event_bytes == 100


def test_sized_payloads_are_reproducible_and_the_seed_shape_is_unchanged():
    def bodies(**kw):
        cfg = SimulatorConfig(url=URL, events=500, endpoint="batch", events_per_request=50,
                              run_id="r", **kw)  # fmt: skip
        factory = BodyFactory(cfg)
        return [render(factory.template(i), 1.5) for i in range(cfg.requests)]

    assert bodies(event_bytes=1000, random_seed=1) == bodies(event_bytes=1000, random_seed=1)
    assert bodies(event_bytes=1000, random_seed=1) != bodies(event_bytes=1000, random_seed=2)
    assert bodies(key_skew=1.1, random_seed=4) == bodies(key_skew=1.1, random_seed=4)
    # the seed's shape draws as it always did: its bytes for seed 1 are those of before
    (first,) = events_of(bodies(random_seed=1)[0])[:1]
    assert list(first) == ["event", "user_id", "event_id", "sent_at"]


def test_payload_random_is_the_share_of_random_characters_and_sets_compressibility():
    alphabet = np.frombuffer(PAYLOAD_ALPHABET, dtype=np.uint8)
    text_chars = set(
        b"the quick brown fox jumps over the lazy dog while the event stream flows on "
    )
    ratios = {}
    for share in (0.0, 0.3, 0.6, 1.0):
        pool = payload_pool(100_000, share, np.random.default_rng(0))
        chars = np.frombuffer(pool, dtype=np.uint8)
        random_part = chars.reshape(-1, 100)[:, : round(100 * share)]
        assert np.isin(random_part, alphabet).all()
        assert set(chars.reshape(-1, 100)[:, round(100 * share) :].ravel().tolist()) <= text_chars
        ratios[share] = len(pool) / len(zstandard.ZstdCompressor(level=3).compress(pool))
    assert ratios[0.0] > 20 * ratios[0.3] / 4  # text alone compresses far more
    assert ratios[0.0] > ratios[0.3] > ratios[0.6] > ratios[1.0] > 1.2  # 6 bits/char at best


def test_the_default_payload_compresses_like_a_real_event_stream():
    """docs/CONTRACTS.md says the default (0.3) makes 1,000-byte events compress ~4x with zstd
    in a Kafka batch (64 KB): checked on the bodies the simulator really sends."""
    cfg = SimulatorConfig(url=URL, events=640, event_bytes=1000, random_seed=11)
    factory = BodyFactory(cfg)
    batch = b"".join(render(factory.template(i), time.time()) for i in range(64))
    ratio = len(batch) / len(zstandard.ZstdCompressor(level=3).compress(batch))
    assert 3.3 < ratio < 5.0, ratio


def test_zipf_skew_gives_the_hottest_users_their_predicted_share():
    users, exponent, n = 10_000, 1.1, 20_000
    cfg = SimulatorConfig(url=URL, events=n, users=users, key_skew=exponent, random_seed=5)
    factory = BodyFactory(cfg)
    drawn = np.array([events_of(render(factory.template(i), 1.0))[0]["user_id"]
                      for i in range(n)])  # fmt: skip
    assert drawn.min() >= 1 and drawn.max() <= users
    predicted = zipf_cdf(users, exponent)[users // 100 - 1]  # users 1..100 are the hottest 1%
    hottest = np.sort(np.bincount(drawn, minlength=users + 1))[::-1][: users // 100].sum() / n
    assert abs(hottest / predicted - 1) < 0.10
    uniform = SimulatorConfig(url=URL, events=n, users=50, random_seed=5)
    ids = {
        events_of(render(BodyFactory(uniform).template(i), 1.0))[0]["user_id"] for i in range(500)
    }
    assert ids == set(range(1, 51))


# ---------------------------------------------------------------- the events file


def deep(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


GOOD = [{"event": "a", "n": 1}, {"event": "b", "nested": {"x": [1, None, True]}, "text": "é✓"}]


def write_lines(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


BAD_FILES = {
    "not JSON": (["{\"event\": \"a\"}", "{oops"], 2, "not JSON"),
    "not an object": (["{\"event\": \"a\"}", "", "[1, 2]"], 3, "must be a JSON object, not an array"),
    "no event": (["{\"user_id\": 3}"], 1, "'event' is required"),
    "too deep": ([orjson.dumps({"event": "a", "d": deep(40)}).decode()], 1,
                 "nested deeper than 32 levels"),
    "too big": ([orjson.dumps({"event": "a", "blob": "x" * ProducerSettings.max_body_bytes}).decode()],
                1, "over the API's body limit"),
    "stamped": (["{\"event\": \"a\", \"received_at\": 1}"], 1, "received_at"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_events_file_exits_2_naming_the_line_and_starts_nothing(case, tmp_path, capsys):
    lines, line, why = BAD_FILES[case]
    path = write_lines(tmp_path / "events.jsonl", lines)
    with BrokerWatch() as watch:
        code = cli.main(["run", "--events-file", path, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{path}, line {line}" in err and why in err, err
    assert not watch.new and not (tmp_path / "run").exists()


def test_missing_and_empty_events_files_exit_2(tmp_path, capsys):
    for path, why in ((tmp_path / "absent.jsonl", "No such file"),
                      (Path(write_lines(tmp_path / "empty.jsonl", ["", "  "])), "no events")):  # fmt: skip
        assert cli.main(["run", "--events-file", str(path), "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and why in err, err


def test_events_file_events_get_only_event_id_and_sent_at(tmp_path):
    path = write_lines(tmp_path / "e.jsonl",
                       [orjson.dumps({**GOOD[0], "event_id": "mine", "sent_at": 3}).decode(),
                        orjson.dumps(GOOD[1]).decode()])  # fmt: skip
    cfg = SimulatorConfig(url=URL, events=5, events_file=path, run_id="run")
    factory = BodyFactory(cfg)
    sent = [events_of(render(factory.template(i), 2.5))[0] for i in range(5)]
    for seq, event in enumerate(sent):
        own = {k: v for k, v in event.items() if k not in ("event_id", "sent_at")}
        assert own == GOOD[seq % 2]  # in order, cycled
        assert (event["event_id"], event["sent_at"]) == (f"run-{seq}", 2.5)
    assert factory.template(1).sizes(3) == [len(orjson.dumps(sent[1]))]


def test_keyed_events_file_needs_the_key_in_every_event(tmp_path):
    path = write_lines(tmp_path / "k.jsonl", ['{"event": "a", "device": "d1"}', '{"event": "b"}'])
    with pytest.raises(EventsFileError, match=r"line 2: it has no 'device'"):
        load_events(path, 32, 1 << 20, key="device")
    with pytest.raises(ParameterError, match="line 2"):
        RunConfig.from_dict({"events_file": path, "key": "device"})


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize("params, why", [
    ({"payload_random": 0.9}, "set event_bytes too"),
    ({"event_bytes": 500, "users": 50}, "set key=user_id"),
    ({"key": "device_id"}, "no such field"),
    ({"event_bytes": 500, "key": "user_id", "events_file": "x"}, "events_file"),
    ({"key": "received_at"}, "sets that field itself"),
    ({"idempotence": True, "acks": "1"}, "idempotence needs acks=all"),
    ({"max_in_flight": 6}, "at most 5"),
    ({"max_in_flight": 0}, ">= 1"),
])  # fmt: skip
def test_combinations_that_cannot_work_or_would_do_nothing_are_refused(params, why, tmp_path):
    if params.get("events_file"):
        params = {**params, "events_file": write_lines(tmp_path / "x.jsonl", ['{"event":"a"}'])}
    with pytest.raises(ParameterError, match=why):
        RunConfig.from_dict(params)


def test_idempotence_follows_acks_unless_set():
    assert idempotence_conflict("1", None, 100) is None  # off with acks=1: no limit
    assert ProducerSettings(acks="1").enable_idempotence is False
    assert ProducerSettings().enable_idempotence is True
    assert ProducerSettings(idempotence=False, max_in_flight=50).enable_idempotence is False
    settings = RunConfig(idempotence=False, max_in_flight=3).producer_settings("b:1", "t")
    again = ProducerSettings.from_env(settings.to_env())  # as the API's process reads them
    assert (again.idempotence, again.max_in_flight) == (False, 3)
    cfg = RunConfig.from_dict({"idempotence": "false", "key": "user_id"})
    assert cfg.idempotence is False and cfg.producer_settings("b:1", "t").key == "user_id"


# ---------------------------------------------------------------- bytes and partitions


def test_record_and_line_bytes_are_measured_from_the_log(tmp_path):
    values = [orjson.dumps({"event": "e", "event_id": f"r-{i}", "payload": "p" * (i * 7 % 300),
                            "sent_at": time.time(), "received_at": time.time()})
              for i in range(3000)]  # fmt: skip
    log = tmp_path / "events.log"
    with open(log, "wb") as fh:
        for k in range(0, 3000, 250):  # offsets and partitions of 1 to 6 digits
            records = [
                (k % 3 * 5, 10 ** (k // 500) + j, v) for j, v in enumerate(values[k : k + 250])
            ]
            fh.write(format_batch(records, time.time() + k).events)
    frame = read_events_log(log)
    assert frame["record_bytes"].tolist() == [len(v) for v in values]
    assert int(frame["line_bytes"].sum()) == os.path.getsize(log)


def test_partition_spread_and_mbps():
    log = pd.DataFrame({"partition": [0, 0, 0, 2, 2, 0], "offset": [1, 2, 3, 1, 2, 1],
                        "event_id": ["a", "b", "c", "d", "e", "a"]})  # fmt: skip

    class Match:  # every line is the run's
        in_run = np.ones(6, dtype=bool)
        consumed = np.array([True, True, False])
        events = pd.DataFrame({"bytes": [1e6, 2e6, 4e6]})

    spread = partition_spread(log, Match, partitions=4)
    assert spread == {"records": [3, 0, 2, 0], "imbalance": 3 / (5 / 4), "source": "records read"}
    offsets = partition_spread(log, Match, 3, end_offsets=[10, 10, 40])
    assert offsets["imbalance"] == 2.0 and offsets["source"] == "end offsets"
    measured = np.array([True, True, True])
    assert throughput_mbps(Match, measured, 2.0) == 1.5  # 3 MB consumed over 2 s
    assert throughput_mbps(Match, measured, None) is None


# ---------------------------------------------------------------- the order audit


def brute_force(records: pd.DataFrame, topic: pd.DataFrame) -> tuple[int, int]:
    placed = topic[topic["key"].notna()].sort_values("offset", kind="stable")
    placed = placed.drop_duplicates("event_id").merge(records, on="event_id")
    rows = placed[placed["sent_at"].notna()].to_dict("records")
    pairs = violations = 0
    for a in rows:
        if not a["accepted"] or pd.isna(a["done_at"]):
            continue
        for b in rows:
            if a is not b and a["key"] == b["key"] and a["done_at"] < b["sent_at"]:
                pairs += 1
                violations += a["partition"] != b["partition"] or a["offset"] > b["offset"]
    return pairs, violations


def test_the_order_audit_counts_every_pair_as_brute_force_does():
    rng = np.random.default_rng(21)
    found_violations = 0
    for trial in range(300):
        n = int(rng.integers(1, 40))
        sent = np.round(rng.random(n) * 10, 1)  # coarse: ties between times happen
        done = sent + np.round(rng.random(n) * 3, 1)
        keys = rng.integers(0, 4, n)
        ids = [f"r-{i}" for i in range(n)]
        records = pd.DataFrame({"event_id": ids, "sent_at": sent, "accepted": rng.random(n) < 0.8,
                                "done_at": np.where(rng.random(n) < 0.95, done, np.nan)})  # fmt: skip
        in_order = np.argsort(np.argsort(sent + rng.random(n) * 0.5))
        topic = pd.DataFrame({
            "event_id": ids, "consumed_at": 1.0,
            "partition": rng.integers(0, 2, n) if trial % 2 else keys % 2,
            "offset": rng.permutation(n) if trial % 3 == 0 else in_order,
            "key": [str(k).encode() if rng.random() > 0.05 else None for k in keys],
        })  # fmt: skip
        if n > 2 and trial % 5 == 0:  # a later duplicate does not move its event
            topic = pd.concat([topic, topic.iloc[[0]].assign(offset=10_000)], ignore_index=True)
        got = audit_order(records, topic, "k")
        expected = brute_force(records, topic)
        assert (got["pairs_checked"], got["violations"]) == expected, trial
        assert bool(got["first_violations"]) == bool(expected[1])
        found_violations += expected[1]
    assert found_violations > 100  # the trials exercised violations, not only clean runs


def test_the_order_audit_names_the_planted_pair():
    ids = [f"r-{i}" for i in range(6)]
    records = pd.DataFrame({"event_id": ids, "sent_at": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                            "done_at": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5], "accepted": True})  # fmt: skip
    # key k: r-1 (answered at 1.5) then r-3 (sent at 3.0), but Kafka holds r-3 first
    topic = pd.DataFrame({"event_id": ids, "key": [b"j", b"k", b"j", b"k", b"j", b"z"],
                          "partition": [0, 1, 0, 1, 0, 2], "offset": [0, 7, 1, 6, 2, 0],
                          "consumed_at": 1.0})  # fmt: skip
    order = audit_order(records, topic, "user_id")
    assert (order["pairs_checked"], order["violations"]) == (3 + 1, 1)
    (violation,) = order["first_violations"]
    assert violation["key"] == "k"
    assert violation["earlier"] == {"event_id": "r-1", "partition": 1, "offset": 7, "done_at": 1.5}
    assert violation["later"] == {"event_id": "r-3", "partition": 1, "offset": 6, "sent_at": 3.0}


def test_the_event_size_grid_is_event_bytes_by_compression_on_the_default_setting():
    from harness.paths import PROJECT_ROOT
    from harness.sweep import load_grid, run_params, validate_grid

    points = validate_grid(load_grid(PROJECT_ROOT / "grids" / "event-size.yaml"))
    assert {(p["event_bytes"], p["compression"]) for p in points} == {
        (size, codec) for size in (100, 1000, 10_000) for codec in ("none", "lz4", "zstd")
    }
    for point in points:
        cfg = RunConfig.from_dict(run_params(point))
        assert (cfg.server, cfg.client, cfg.delivery) == (RunConfig.server, RunConfig.client,
                                                          RunConfig.delivery)  # fmt: skip
        assert cfg.duration_s and cfg.duration_s > 0  # a measured window at every point
