"""Unit tests of the consumer's settings (flags, environment, defaults) and of its loop's logic."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from app.consumer import (
    ConsumerSettings,
    EventSink,
    LogWriteError,
    Member,
    Summary,
    commit_written,
    consume,
    count_client_errors,
)
from app.consumer_client import CommitFailed, next_offsets
from app.settings import KafkaSecurity


def test_defaults():
    s = ConsumerSettings.from_args([], env={})
    assert s.bootstrap_servers == "127.0.0.1:9092"
    assert s.topic == "events"
    assert s.group_id == "events-logger"
    assert s.log_file == Path("logs/events.log")
    assert s.client == "confluent-kafka"
    assert s.dead_letter_path == Path("logs/dead-letter.log")
    assert s.fsync is False
    assert s.security == KafkaSecurity() and s.security.set_names() == []


def test_environment_then_flags():
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "h1:1,h2:2",
        "EVENTS_TOPIC": "t-env",
        "CONSUMER_GROUP": "g-env",
        "EVENTS_LOG": "/tmp/x/events-1.log",
        "KAFKA_CLIENT": "confluent-kafka",
        "CONSUMER_FSYNC": "true",
    }
    s = ConsumerSettings.from_args([], env=env)
    assert (s.bootstrap_servers, s.topic, s.group_id) == ("h1:1,h2:2", "t-env", "g-env")
    assert s.log_file == Path("/tmp/x/events-1.log")
    assert s.dead_letter_path == Path("/tmp/x/dead-letter.log")
    assert s.client == "confluent-kafka" and s.fsync is True

    s = ConsumerSettings.from_args(
        ["--topic", "t-flag", "--client", "kafka-python", "--dead-letter-file", "/d.log"], env=env
    )
    assert (s.topic, s.client, s.dead_letter_path) == ("t-flag", "kafka-python", Path("/d.log"))
    assert s.group_id == "g-env"


def test_unknown_client_is_rejected():
    with pytest.raises(SystemExit) as info:
        ConsumerSettings.from_args(["--client", "pykafka"], env={})
    assert info.value.code == 2


def test_security_settings_pass_through_but_the_password_is_never_shown():
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": "alice",
        "KAFKA_SASL_PASSWORD": "s3cret-pw",
        "KAFKA_SSL_CAFILE": "/ca.pem",
    }
    s = ConsumerSettings.from_args([], env=env)
    assert s.security.for_client("confluent-kafka") == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "alice",
        "sasl.password": "s3cret-pw",
        "ssl.ca.location": "/ca.pem",
    }
    assert s.security.for_client("kafka-python")["sasl_plain_password"] == "s3cret-pw"
    assert "s3cret-pw" not in repr(s) and "s3cret-pw" not in str(s)


def test_settings_are_frozen():
    s = ConsumerSettings()
    with pytest.raises(AttributeError):
        s.topic = "other"


def test_next_offsets_is_one_past_the_last_record_of_each_partition():
    records = [(0, 5, b"{}"), (1, 7, b"{}"), (0, 6, b"{}"), (1, 8, b"{}"), (2, 0, None)]
    assert next_offsets(records) == {0: 7, 1: 9, 2: 1}


class FakeClient:
    """Stands in for Kafka in the loop's pure logic: batches out, commits recorded."""

    def __init__(self, batches, stop, fail_sync_commit=False):
        self.batches = list(batches)
        self.stop = stop
        self.commits = []  # (offsets, asynchronous)
        self.file_sizes_at_commit = []
        self.log_path = None
        self.async_commit_failures = 0
        self.transient_errors = 0
        self.fail_sync_commit = fail_sync_commit
        self.callbacks = None  # (on_assigned, on_revoked), from subscribe
        self.closed = False

    def subscribe(self, topic, on_assigned, on_revoked):
        self.callbacks = (on_assigned, on_revoked)

    def close(self):
        self.closed = True

    def poll(self, max_records, timeout_s):
        if not self.batches:
            self.stop.set()
            return []
        return self.batches.pop(0)

    def commit(self, offsets, asynchronous=False):
        if self.fail_sync_commit and not asynchronous:
            raise CommitFailed("RebalanceInProgress")
        self.commits.append((dict(offsets), asynchronous))
        if self.log_path:
            self.file_sizes_at_commit.append(os.path.getsize(self.log_path))


def member_of(client, rejoin_after_s=40.0, clock=None, new_clients=()):
    """A subscribed Member around `client`; `new_clients` are what its rejoins get."""
    clients = iter([client, *new_clients])
    member = Member(lambda: next(clients), "t", lambda p: None, lambda p: None, rejoin_after_s,
                    **({"clock": clock} if clock else {}))  # fmt: skip
    member.subscribe()
    return member


def test_loop_commits_each_batch_only_after_its_lines_are_in_the_file(tmp_path):
    stop = threading.Event()
    batches = [
        [(0, 0, b'{"n": 0}'), (1, 0, b'{"n": 1}')],
        [(0, 1, b'{"n": 2}'), (1, 1, b"broken")],
    ]
    client = FakeClient(batches, stop)
    settings = ConsumerSettings(log_file=tmp_path / "events.log")
    client.log_path = settings.log_file
    sink = EventSink(settings.log_file, settings.dead_letter_path, fsync=False)
    summary = Summary()
    consume(member_of(client), sink, settings, stop, summary)
    sink.close()
    assert client.commits == [({0: 1, 1: 1}, True), ({0: 2, 1: 2}, True)]
    lines = settings.log_file.read_bytes().splitlines()
    assert [json.loads(x.split(b" - ", 1)[1])["n"] for x in lines] == [0, 1, 2]
    # At each commit, the file already held every line of the batches committed so far.
    assert client.file_sizes_at_commit[0] == len(b"\n".join(lines[:2])) + 1
    assert client.file_sizes_at_commit[1] == settings.log_file.stat().st_size
    assert (summary.events_written, summary.dead_letters, summary.batches) == (3, 1, 2)
    assert b'"raw": "broken"' in settings.dead_letter_path.read_bytes()
    assert summary.written == {0: 2, 1: 2}


def test_final_commit_waits_and_leaves_out_revoked_partitions():
    client = FakeClient([], threading.Event())
    summary = Summary(written={0: 10, 1: 20, 2: 30})
    summary.forget([1])  # a rebalance gave partition 1 to another member
    commit_written(client, summary)
    assert client.commits == [({0: 10, 2: 30}, False)]
    assert summary.commit_failures == 0


def test_client_error_counts_reach_the_summary_line():
    client = FakeClient([], threading.Event())
    client.async_commit_failures, client.transient_errors = 2, 7
    summary = Summary(events_written=5)
    count_client_errors(client, summary)
    assert (summary.commit_failures, summary.kafka_errors) == (2, 7)
    assert "events_written=5 dead_letters=0 batches=0 commit_failures=2 kafka_errors=7" in (
        summary.line("x")
    )


def test_a_failed_final_commit_is_counted_not_fatal(capsys):
    client = FakeClient([], threading.Event(), fail_sync_commit=True)
    summary = Summary(written={0: 10})
    commit_written(client, summary)
    assert summary.commit_failures == 1
    assert "final commit failed" in capsys.readouterr().err


def test_loop_does_not_commit_a_batch_it_could_not_write(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    stop = threading.Event()
    client = FakeClient([[(0, 0, b'{"n": 0}')]], stop)
    settings = ConsumerSettings(log_file=Path("/dev/full"), dead_letter_file=tmp_path / "d.log")
    sink = EventSink(settings.log_file, settings.dead_letter_path, fsync=False)
    with pytest.raises(LogWriteError) as info:
        consume(member_of(client), sink, settings, stop, Summary())
    sink.close()
    assert client.commits == []
    message = info.value.message()
    assert "/dev/full" in message and "errno 28 ENOSPC" in message


def test_client_config_carries_group_settings_and_hides_secrets():
    env = {"KAFKA_SASL_PASSWORD": "pw-123", "CONSUMER_SESSION_TIMEOUT_MS": "6000"}
    cfg = ConsumerSettings.from_args(
        ["--group-id", "g7", "--max-records", "300"], env
    ).client_config()
    assert (cfg.group_id, cfg.max_records, cfg.session_timeout_ms) == ("g7", 300, 6000)
    assert cfg.heartbeat_interval_ms == 2000  # under a third of the session
    assert cfg.security == KafkaSecurity(sasl_password="pw-123") and "pw-123" not in repr(cfg)


def test_fetch_batching_reaches_the_client_from_flags_or_environment():
    defaults = ConsumerSettings.from_args([], {}).client_config()
    assert (defaults.fetch_min_bytes, defaults.fetch_max_wait_ms) == (64 * 1024, 100)
    env = {"CONSUMER_FETCH_MAX_WAIT_MS": "20"}
    cfg = ConsumerSettings.from_args(["--fetch-min-bytes", "1"], env).client_config()
    assert (cfg.fetch_min_bytes, cfg.fetch_max_wait_ms) == (1, 20)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_member_waiting_for_its_first_assignment_past_the_timeout_is_left_out():
    clock = Clock()
    member = member_of(FakeClient([], threading.Event()), rejoin_after_s=40, clock=clock)
    clock.now = 40
    assert not member.left_out()
    clock.now = 40.5
    assert member.left_out()


def test_any_assignment_even_empty_means_the_member_is_in_its_group():
    clock = Clock()
    client = FakeClient([], threading.Event())
    member = member_of(client, rejoin_after_s=40, clock=clock)
    on_assigned, on_revoked = client.callbacks
    on_assigned([])  # more members than partitions: in the group, with nothing to read
    clock.now = 1000
    assert not member.left_out()
    on_revoked([])
    on_assigned([0, 1])  # a rebalance that ends is not a loss, however long since the last
    clock.now = 2000
    assert not member.left_out()


def test_partitions_taken_and_never_given_back_make_a_new_client_join():
    clock = Clock()
    stuck, fresh = FakeClient([], threading.Event()), FakeClient([], threading.Event())
    stuck.async_commit_failures, stuck.transient_errors = 1, 3
    member = member_of(stuck, rejoin_after_s=40, clock=clock, new_clients=[fresh])
    stuck.callbacks[0]([0, 1, 2])
    summary = Summary(written={0: 5, 1: 7})
    clock.now = 100
    stuck.callbacks[1]([0, 1, 2])  # e.g. a session timeout while Kafka was frozen
    clock.now = 139
    assert not member.left_out()
    clock.now = 141
    assert member.left_out()
    member.rejoin(summary)
    assert member.client is fresh and stuck.closed and fresh.callbacks is not None
    assert summary.rejoins == 1 and summary.written == {}  # the new member commits its own
    assert (summary.commit_failures, summary.kafka_errors) == (1, 3)  # the old client's counts
    assert not member.left_out()  # a new wait, from the new subscribe
    clock.now = 182
    assert member.left_out()


def test_when_no_new_client_can_be_built_the_old_one_stays_and_waits_again(capsys):
    clock = Clock()
    stuck = FakeClient([], threading.Event())

    def new_clients():
        yield stuck
        raise ValueError("NoBrokersAvailable")

    clients = new_clients()
    member = Member(lambda: next(clients), "t", lambda p: None, lambda p: None, 40, clock=clock)
    member.subscribe()
    clock.now = 41
    summary = Summary()
    member.rejoin(summary)
    assert member.client is stuck and not stuck.closed and summary.rejoins == 0
    assert "cannot re-create the Kafka client (retrying): NoBrokersAvailable" in (
        capsys.readouterr().err
    )
    assert not member.left_out()  # the next try is a full timeout later


def test_the_rejoin_timeout_defaults_to_rebalance_plus_session_timeout():
    assert ConsumerSettings.from_args([], {}).rejoin_timeout_s == 30 + 10
    assert ConsumerSettings.from_args(["--rejoin-after-s", "3"], {}).rejoin_timeout_s == 3


def test_an_old_client_that_fails_to_close_is_replaced_all_the_same(capsys):
    clock = Clock()
    stuck, fresh = FakeClient([], threading.Event()), FakeClient([], threading.Event())

    def refuse():
        raise RuntimeError("KafkaError{code=_DESTROY}")

    stuck.close = refuse
    member = member_of(stuck, rejoin_after_s=40, clock=clock, new_clients=[fresh])
    clock.now = 41
    summary = Summary()
    member.rejoin(summary)
    assert member.client is fresh and summary.rejoins == 1
    assert "closing the old Kafka client failed: KafkaError{code=_DESTROY}" in (
        capsys.readouterr().err
    )
