"""Topic audit: the harness reads the run's topic itself and counts the run from what is in Kafka.

    offsets = start_offsets(bootstrap, topic)          # before the load begins
    ... load ...
    log = audit_topic(bootstrap, topic, offsets, accepted_ids, timeout_s, run_id=run_id)
    metrics = compute_metrics(records, log, config, environment)

`audit_topic` returns a frame of the same columns and dtypes as `read_events_log`, one row per
record of this run found in the topic, so `compute_metrics` counts consumed, unique, lost and
duplicates from Kafka itself: whatever the API wrote twice (a producer retry) appears twice.

No consumer group: the audit's consumer is assigned every partition and positioned at the
recorded offsets. It never joins a group (no rebalance wait, no effect on the app's consumers),
and never commits, so nothing of it stays on the broker. confluent-kafka insists on a `group.id`
even for assigned partitions, so it gets a fresh one that is used for nothing.

Which records are this run's: event ids are `<run_id>-<seq>`, so a record whose JSON value has an
`event_id` with the run's prefix is kept and every other record (other traffic on a shared
topic, values that are not JSON objects) is counted and ignored. Keeping the run's unaccepted
events too (a timeout after the produce) lets `consumed_unaccepted` mean what it means for the log.

When it stops: once every accepted id has been found, it reads on to the end offsets of that
moment, so a duplicate at a later offset is counted as the consumer's log would count it; at
`timeout_s` it stops anyway and reports how many accepted ids are missing.

`consumed_at` is the record's broker timestamp, whose type the topic decides
(`message.timestamp.type`): LogAppendTime is the broker's clock when it appended the record to
the partition leader's log, i.e. the moment the event is in Kafka, which is what an end-to-end
latency to Kafka should end at; CreateTime is the producer's (the API's) clock when it handed the
record to its client library, before batching, the network and the broker's acknowledgement.
Topics the harness creates should therefore use `LOG_APPEND_TIME`; a deployed system's topic may
use CreateTime, which the audit reads and reports (`timestamp_type`) rather than assumes. Either
way the start of the latency (`sent_at`) is the client's clock: on other hosts, clock offsets add.
The facts (`AUDIT_ATTR` in the frame's attrs) say what was read and how it ended.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from app.eventlog import parse_object
from harness.analysis.logs import SCHEMA, _coerce

LOG_APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}  # topic config for harness topics
AUDIT_ATTR = "audit"  # the frame's attrs key of the audit facts
KEY_COLUMN = "key"  # the record's key (bytes, None when it has none), with keys=True
SOURCE_PREFIX = "kafka:"  # the frame's `source`: kafka:<topic>
TIMESTAMP_TYPES = {TIMESTAMP_CREATE_TIME: "CreateTime", TIMESTAMP_LOG_APPEND_TIME: "LogAppendTime"}
MISSING_SAMPLES = 5
_BATCH = 10_000  # records per consume() call
_POLL_S = 0.2  # longest wait per consume(): how late the deadline can be noticed
METADATA_TIMEOUT_S = 10.0  # metadata and end offsets: a cluster that does not answer is an error
# The audit's own settings: a security mapping must not change what the audit reads.
_OWN_KEYS = frozenset(
    {
        "bootstrap.servers",
        "group.id",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "auto.offset.reset",
        "isolation.level",
        "enable.partition.eof",
    }
)

Progress = Callable[[int, int], None]  # (accepted ids found, accepted ids expected)


class AuditError(RuntimeError):
    """The topic cannot be audited (unreachable cluster, no such topic, bad settings)."""


def consumer_config(bootstrap: str, security: Mapping[str, str] | None = None) -> dict:
    """The audit consumer's librdkafka config: its own settings plus the cluster's security."""
    security = dict(security or {})
    clash = sorted(_OWN_KEYS & security.keys())
    if clash:
        raise ValueError(
            f"security settings may not set {', '.join(clash)}: the audit sets them itself; "
            "pass only the cluster's security.protocol / sasl.* / ssl.* settings"
        )
    return {
        "bootstrap.servers": bootstrap,
        "group.id": f"harness-audit-{uuid.uuid4().hex[:12]}",  # required, never joined
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",  # a recorded offset already deleted: from what is left
        # the app's API does not write in transactions: read every record up to the high
        # watermark, so another client's open transaction cannot hold the audit back
        "isolation.level": "read_uncommitted",
        "enable.partition.eof": False,
        "client.id": "harness-audit",
        "reconnect.backoff.max.ms": 1000,
        **security,
    }


def _partitions(consumer: Consumer, bootstrap: str, topic: str, timeout_s: float) -> list[int]:
    """The topic's partition ids; AuditError when the cluster or the topic is not there."""
    try:
        meta = consumer.list_topics(topic, timeout=timeout_s)
    except KafkaException as exc:
        raise AuditError(
            f"cannot read the metadata of topic {topic!r} from {bootstrap}: {exc.args[0]} "
            "(is the cluster reachable, and are its security settings given?)"
        ) from exc
    info = meta.topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        why = info.error.str() if info is not None and info.error is not None else "not found"
        raise AuditError(
            f"topic {topic!r} on {bootstrap}: {why}; create it before recording offsets"
        )
    return sorted(info.partitions)


# Answers that pass: a partition's leader moving (a broker killed), or not yet serving a topic
# just created (its metadata already names the leader, whose log is not there yet: a run's
# start_offsets met it once, right after creating the topic on a busy machine).
TRANSIENT = frozenset({KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                       KafkaError.UNKNOWN_TOPIC_OR_PART})  # fmt: skip
RETRY_PAUSE_S = 0.1


def _end_offsets(
    consumer: Consumer, topic: str, partitions: list[int], timeout_s: float
) -> dict[int, int]:
    """The high watermark of each partition, asked of the brokers (not cached); a transient
    answer is asked again until `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    ends = {}
    for p in partitions:
        while p not in ends:
            try:
                _, ends[p] = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=max(deadline - time.monotonic(), 0.1),
                    cached=False,
                )  # fmt: skip
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() not in TRANSIENT or time.monotonic() + RETRY_PAUSE_S > deadline:
                    raise AuditError(
                        f"cannot read the end offset of {topic}[{p}]: {error}"
                    ) from exc
                time.sleep(RETRY_PAUSE_S)
    return ends


def start_offsets(
    bootstrap: str,
    topic: str,
    security: Mapping[str, str] | None = None,
    timeout_s: float = METADATA_TIMEOUT_S,
) -> dict[int, int]:
    """{partition: end offset} of every partition of `topic`, to record before the load begins.

    AuditError when the cluster does not answer within `timeout_s` or has no such topic."""
    consumer = Consumer(consumer_config(bootstrap, security))
    try:
        partitions = _partitions(consumer, bootstrap, topic, timeout_s)
        return _end_offsets(consumer, topic, partitions, timeout_s)
    finally:
        consumer.close()


def end_offsets(
    bootstrap: str,
    topic: str,
    security: Mapping[str, str] | None = None,
    timeout_s: float = METADATA_TIMEOUT_S,
) -> dict[int, int]:
    """{partition: end offset} now (the same reading as start_offsets, after the load)."""
    return start_offsets(bootstrap, topic, security, timeout_s)


def records_per_partition(before: Mapping[int, int], after: Mapping[int, int]) -> list[int]:
    """Records appended to each partition between two readings (a partition that appeared in
    between counts from 0), indexed by partition."""
    size = max(after, default=-1) + 1
    return [after.get(p, 0) - before.get(p, 0) for p in range(size)]


class _Columns:
    """The kept records, column by column (a frame is built once, at the end)."""

    def __init__(self) -> None:
        self.event_id: list[str] = []
        self.event: list[str | None] = []
        self.sent_at: list[float] = []
        self.received_at: list[float] = []
        self.timestamp_ms: list[float] = []
        self.partition: list[int] = []
        self.offset: list[int] = []
        self.record_bytes: list[int] = []
        self.key: list[bytes | None] = []

    def add(self, obj: dict, timestamp: tuple[int, int], partition: int, offset: int,
            value_bytes: int, key: bytes | None) -> None:  # fmt: skip
        kind, ms = timestamp
        self.event_id.append(obj["event_id"])
        # the log reader's coercion: a field of an unexpected type is null, as in the log's frame
        self.event.append(_coerce(obj.get("event"), pa.string()))
        self.sent_at.append(_coerce(obj.get("sent_at"), pa.float64()))
        self.received_at.append(_coerce(obj.get("received_at"), pa.float64()))
        self.timestamp_ms.append(float(ms) if kind in TIMESTAMP_TYPES else np.nan)
        self.partition.append(partition)
        self.offset.append(offset)
        self.record_bytes.append(value_bytes)
        self.key.append(key)

    def frame(self, topic: str, keys: bool = False) -> pd.DataFrame:
        """The rows as `read_events_log` would give them (same columns, same dtypes)."""
        n = len(self.event_id)
        consumed_at = np.asarray(self.timestamp_ms, dtype=float) / 1000.0
        columns = {
            "event_id": self.event_id,
            "event": self.event,
            "sent_at": self.sent_at,
            "received_at": self.received_at,
            "consumed_at": consumed_at,
            "partition": self.partition,
            "offset": self.offset,
        }
        table = pa.Table.from_pydict(columns, schema=SCHEMA)
        frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
        frame["log_time"] = _local_time(consumed_at)
        frame["source"] = pd.Series([SOURCE_PREFIX + topic] * n, dtype="category")
        frame["line_bytes"] = pd.Series([pd.NA] * n, dtype="Int64")  # no log line: Kafka's own
        frame["record_bytes"] = pd.Series(self.record_bytes, dtype="Int64")
        if keys:
            frame[KEY_COLUMN] = pd.Series(self.key, dtype=object)
        return frame


def _local_time(epoch_s: np.ndarray) -> pd.Series:
    """Naive local wall-clock times (ms), as the consumer's log lines carry them; one UTC offset
    for the whole run (the one of its first record)."""
    known = epoch_s[~np.isnan(epoch_s)]
    offset = time.localtime(known[0]).tm_gmtoff if len(known) else 0
    return pd.Series(pd.to_datetime(epoch_s + offset, unit="s")).astype("datetime64[ms]")


def audit_topic(
    bootstrap: str,
    topic: str,
    start_offsets: Mapping[int, int],
    accepted_ids: Collection[str],
    timeout_s: float,
    *,
    run_id: str,
    progress: Progress | None = None,
    security: Mapping[str, str] | None = None,
    keys: bool = False,
) -> pd.DataFrame:
    """This run's records in `topic` from `start_offsets` on, as `read_events_log` frames a log.

    Reads until every id of `accepted_ids` was found and the partitions' end offsets of that
    moment are reached, or until `timeout_s` passes. `run_id` selects the run's records (event
    ids `<run_id>-<seq>`); `progress(found, expected)` is called as accepted ids are found;
    `security` is the cluster's librdkafka security settings. A partition missing from
    `start_offsets` (added during the run) is read from its beginning. The audit facts are in
    `frame.attrs[AUDIT_ATTR]`; `dead_letters` counts values that are not JSON objects. The
    frame's `record_bytes` are the values' sizes in Kafka (`line_bytes`: NA, no log line);
    `keys=True` adds the records' keys (KEY_COLUMN) for the order audit.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    prefix = f"{run_id}-"
    pending = set(accepted_ids)
    expected = len(pending)
    rows = _Columns()
    tally = {"records_read": 0, "other_traffic": 0, "not_json": 0, "errors": 0}
    types: dict[str, int] = {}
    last_error = None
    consumer = Consumer(consumer_config(bootstrap, security))
    try:
        partitions = _partitions(consumer, bootstrap, topic, METADATA_TIMEOUT_S)
        starts = {p: start_offsets.get(p, OFFSET_BEGINNING) for p in partitions}
        consumer.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
        targets = None if pending else _end_offsets(consumer, topic, partitions, METADATA_TIMEOUT_S)
        while True:
            if targets is not None and _reached(consumer, topic, starts, targets):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            batch = consumer.consume(_BATCH, timeout=min(_POLL_S, left))
            found_before = len(pending)
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.fatal():
                        raise AuditError(f"reading {topic!r}: {err.str()}")
                    tally["errors"] += 1
                    last_error = err.str()
                    continue
                tally["records_read"] += 1
                obj = parse_object(msg.value())
                if obj is None:
                    tally["not_json"] += 1
                    continue
                eid = obj.get("event_id")
                if not isinstance(eid, str) or not eid.startswith(prefix):
                    tally["other_traffic"] += 1
                    continue
                kind = msg.timestamp()[0]
                name = TIMESTAMP_TYPES.get(kind, "NotAvailable")
                types[name] = types.get(name, 0) + 1
                rows.add(obj, msg.timestamp(), msg.partition(), msg.offset(), len(msg.value()),
                         msg.key())  # fmt: skip
                pending.discard(eid)
            if progress is not None and len(pending) != found_before:
                progress(expected - len(pending), expected)
            if not pending and targets is None:
                targets = _end_offsets(consumer, topic, partitions, METADATA_TIMEOUT_S)
    finally:
        consumer.close()
    frame = rows.frame(topic, keys)
    facts = {
        **tally,
        "events_kept": len(frame),
        "timestamp_type": _timestamp_type(types),
        "drained": not pending,
        "missing": len(pending),
        "missing_samples": sorted(pending)[:MISSING_SAMPLES],
        "audit_s": round(time.monotonic() - started, 3),
        "start_offsets": {str(p): int(o) for p, o in sorted(start_offsets.items())},
    }
    if pending:
        facts["reason"] = f"timeout ({timeout_s:g} s): accepted events not found in the topic"
    if last_error is not None:
        facts["last_error"] = last_error
    frame.attrs.update(
        files=[],
        missing_files=[],
        unparsed_lines=0,
        unparsed_samples=[],
        dead_letters=tally["not_json"],
        **{AUDIT_ATTR: facts},
    )
    return frame


def _reached(
    consumer: Consumer, topic: str, starts: Mapping[int, int], targets: Mapping[int, int]
) -> bool:
    """Has every partition been read up to its target offset? (A partition that nothing was read
    from has no position yet: its start offset counts.)"""
    positions = consumer.position([TopicPartition(topic, p) for p in targets])
    return all(max(tp.offset, starts[tp.partition]) >= targets[tp.partition] for tp in positions)


def _timestamp_type(counts: Mapping[str, int]) -> str | None:
    """The one timestamp type of the run's records, "mixed", or None when none was read."""
    if not counts:
        return None
    return next(iter(counts)) if len(counts) == 1 else "mixed"
