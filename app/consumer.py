"""The events consumer: a consumer-group member that writes every event to the log, at least once.

    python -m app.consumer --bootstrap-servers B --topic T --group-id G --log-file PATH
        [--client kafka-python|confluent-kafka] [--dead-letter-file PATH] [--fsync]

Each poll returns a batch: it is formatted (app.eventlog), appended to the file in one write, and
only then are its offsets committed. The commit is sent without waiting for the answer, so the
next poll is not held up by a round trip (that wait would add to the measured end-to-end latency);
with kafka-python at most one commit is out at a time, and batches written meanwhile go together
in the next (app.commit_flight: a dying coordinator is not flooded). At shutdown, what was
written is committed once more, waiting. A crash therefore re-delivers at most what was written
but not yet committed (duplicates, never losses). The bytes are with the kernel once written:
they survive SIGKILL of this process; `--fsync` also makes them survive a crash of the machine,
at a cost per batch.

Environment (flags win): KAFKA_BOOTSTRAP_SERVERS, EVENTS_TOPIC, CONSUMER_GROUP, EVENTS_LOG,
KAFKA_CLIENT, DEAD_LETTER_LOG, CONSUMER_FSYNC (1/true), CONSUMER_MAX_RECORDS,
CONSUMER_SESSION_TIMEOUT_MS, and for external clusters KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD, KAFKA_SSL_CAFILE,
KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE (never printed).

stdout gets: the client library, one `consumer ready` line once partitions are assigned, and a
summary at exit. A broker that dies (a partition leader, the group coordinator) is retried, not
fatal. A member left out of its group (its partitions taken away and no assignment, not even an
empty one, within --rejoin-after-s) re-creates its Kafka client and joins again (`rejoins` in the
summary). Exit codes: 0 stopped by SIGTERM/SIGINT, 1 the log could not be written (nothing of the
failed batch was committed), 2 bad arguments, 3 a non-retriable Kafka client failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.consumer_client import (
    ClientConfig,
    CommitFailed,
    ConsumerClient,
    make_client,
    next_offsets,
)
from app.eventlog import LineFile, Record, format_batch
from app.settings import CLIENTS, DEFAULT_CLIENT, SECURITY_ENV, KafkaSecurity


@dataclass(frozen=True)
class ConsumerSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = "events"
    group_id: str = "events-logger"
    log_file: Path = Path("logs/events.log")
    client: str = DEFAULT_CLIENT
    dead_letter_file: Path | None = None  # None: dead-letter.log beside the log
    fsync: bool = False
    max_records: int = ClientConfig.max_records  # records per poll, i.e. per write and commit
    poll_timeout_s: float = 0.5  # also how quickly SIGTERM is noticed
    session_timeout_ms: int = ClientConfig.session_timeout_ms
    fetch_min_bytes: int = ClientConfig.fetch_min_bytes
    fetch_max_wait_ms: int = ClientConfig.fetch_max_wait_ms
    rejoin_after_s: float | None = None  # None: the client's rebalance + session timeouts
    security: KafkaSecurity = KafkaSecurity()

    @property
    def dead_letter_path(self) -> Path:
        return self.dead_letter_file or self.log_file.parent / "dead-letter.log"

    def client_config(self) -> ClientConfig:
        return ClientConfig(
            self.bootstrap_servers,
            self.group_id,
            self.security,
            self.max_records,
            self.session_timeout_ms,
            self.fetch_min_bytes,
            self.fetch_max_wait_ms,
        )

    @property
    def rejoin_timeout_s(self) -> float:
        if self.rejoin_after_s is not None:
            return self.rejoin_after_s
        return self.client_config().rejoin_timeout_ms / 1000

    @classmethod
    def from_args(
        cls, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
    ) -> ConsumerSettings:
        env = os.environ if env is None else env
        args = _parser(env).parse_args(argv)
        return cls(
            bootstrap_servers=args.bootstrap_servers,
            topic=args.topic,
            group_id=args.group_id,
            log_file=Path(args.log_file),
            client=args.client,
            dead_letter_file=Path(args.dead_letter_file) if args.dead_letter_file else None,
            fsync=args.fsync,
            max_records=args.max_records,
            poll_timeout_s=args.poll_timeout,
            session_timeout_ms=args.session_timeout_ms,
            fetch_min_bytes=args.fetch_min_bytes,
            fetch_max_wait_ms=args.fetch_max_wait_ms,
            rejoin_after_s=args.rejoin_after_s,
            security=KafkaSecurity.from_env(env),
        )


# Environment variable -> the flag whose default it sets (a flag given wins). The security
# settings come from app.settings.SECURITY_ENV.
ENV_FLAGS = {
    "KAFKA_BOOTSTRAP_SERVERS": "bootstrap_servers",
    "EVENTS_TOPIC": "topic",
    "CONSUMER_GROUP": "group_id",
    "EVENTS_LOG": "log_file",
    "KAFKA_CLIENT": "client",
    "DEAD_LETTER_LOG": "dead_letter_file",
    "CONSUMER_FSYNC": "fsync",
    "CONSUMER_MAX_RECORDS": "max_records",
    "CONSUMER_SESSION_TIMEOUT_MS": "session_timeout_ms",
    "CONSUMER_FETCH_MIN_BYTES": "fetch_min_bytes",
    "CONSUMER_FETCH_MAX_WAIT_MS": "fetch_max_wait_ms",
}
ENV_VARS = (*ENV_FLAGS, *SECURITY_ENV)  # every variable the consumer reads


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    d = ConsumerSettings()
    p = argparse.ArgumentParser(prog="python -m app.consumer", description=__doc__.split("\n")[0])
    p.add_argument("--bootstrap-servers", default=d.bootstrap_servers)
    p.add_argument("--topic", default=d.topic)
    p.add_argument("--group-id", default=d.group_id)
    p.add_argument("--log-file", default=str(d.log_file))
    p.add_argument("--client", choices=CLIENTS, default=d.client)
    p.add_argument("--dead-letter-file", default=None)
    p.add_argument(
        "--fsync",
        action=argparse.BooleanOptionalAction,
        default=d.fsync,
        help="fsync after every batch (survives a machine crash; slower)",
    )
    p.add_argument("--max-records", type=int, default=d.max_records)
    p.add_argument("--poll-timeout", type=float, default=d.poll_timeout_s)
    p.add_argument("--session-timeout-ms", type=int, default=d.session_timeout_ms)
    p.add_argument(
        "--fetch-min-bytes",
        type=int,
        default=d.fetch_min_bytes,
        help="a fetch waits for this many bytes (or --fetch-max-wait-ms)",
    )
    p.add_argument("--fetch-max-wait-ms", type=int, default=d.fetch_max_wait_ms)
    p.add_argument(
        "--rejoin-after-s",
        type=float,
        default=d.rejoin_after_s,
        help="re-create the Kafka client when the group has given this member no assignment for "
        "this long after taking its partitions (default: rebalance + session timeout, 40 s)",
    )
    # argparse converts string defaults with the flag's type, as if they were given.
    from_env = {dest: env[var] for var, dest in ENV_FLAGS.items() if env.get(var)}
    if "fsync" in from_env:
        from_env["fsync"] = from_env["fsync"].lower() in ("1", "true", "yes")
    p.set_defaults(**from_env)
    return p


@dataclass
class Summary:
    events_written: int = 0
    dead_letters: int = 0
    batches: int = 0
    commit_failures: int = 0
    kafka_errors: int = 0  # transient client errors the loop retried (e.g. a broker died)
    rejoins: int = 0  # times the client was re-created because the group had left it out
    # partition -> next offset, for what was written on partitions this consumer still holds
    written: dict[int, int] = field(default_factory=dict, repr=False)

    def line(self, client: str) -> str:
        fields = " ".join(f"{k}={v}" for k, v in dataclasses.asdict(self).items() if k != "written")
        return f"consumer stopped: {fields} client={client}"

    def forget(self, partitions: list[int]) -> None:
        """Revoked partitions: another member may commit further now; never commit them back."""
        for partition in partitions:
            self.written.pop(partition, None)


class LogWriteError(Exception):
    def __init__(self, path: Path, error: OSError) -> None:
        super().__init__(f"{path}: {error}")
        self.path = path
        self.error = error

    def message(self) -> str:
        code = errno.errorcode.get(self.error.errno or 0, "?")
        return (
            f"consumer: cannot write {self.path}: {self.error.strerror or self.error} "
            f"(errno {self.error.errno} {code}); stopping without committing this batch"
        )


class EventSink:
    """The events log and the dead-letter file: a batch goes to both before any commit."""

    def __init__(self, log_path: Path, dead_letter_path: Path, fsync: bool) -> None:
        self.log = self._open(log_path, fsync)
        try:
            self.dead = self._open(dead_letter_path, fsync)
        except LogWriteError:
            self.log.close()
            raise

    @staticmethod
    def _open(path: Path, fsync: bool) -> LineFile:
        try:
            return LineFile(path, fsync)
        except OSError as exc:
            raise LogWriteError(path, exc) from exc

    def write(self, records: list[Record], summary: Summary) -> None:
        batch = format_batch(records, time.time())
        for target, data in ((self.log, batch.events), (self.dead, batch.dead_letters)):
            try:
                target.write(data)
            except OSError as exc:
                raise LogWriteError(target.path, exc) from exc
        summary.events_written += batch.n_events
        summary.dead_letters += batch.n_dead
        summary.batches += 1

    def close(self) -> None:
        self.log.close()
        self.dead.close()


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: the loop finishes its batch, then stops."""
    stop = threading.Event()

    def handler(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def announce_assignment() -> Callable[[list[int]], None]:
    """A callback that prints `consumer ready` once, at the first assignment, then each change."""
    ready = False

    def on_assigned(partitions: list[int]) -> None:
        nonlocal ready
        word = "assignment" if ready else "ready"
        ready = True
        print(f"consumer {word}: partitions {partitions}", flush=True)

    return on_assigned


class Member:
    """This process's member of the consumer group: a client subscribed with the callbacks, and
    re-created when the group has left it out.

    After subscribing, and whenever its partitions are taken away, a member must be given an
    assignment (possibly empty) within a rebalance. librdkafka can miss its rejoin: its session
    timed out while every broker was frozen, it rejoined just as the resumed broker reloaded the
    group, its SyncGroup was answered NOT_COORDINATOR, and it sent no JoinGroup again (about one
    run in five of tests/test_reliability.py's 10 s freeze). Such a member holds no partitions and
    never will, while its events wait in Kafka. Waiting longer than `rejoin_after_s` for an
    assignment is the sign: a new client joins as a new member.
    """

    def __init__(
        self,
        new_client: Callable[[], ConsumerClient],
        topic: str,
        on_assigned: Callable[[list[int]], None],
        on_revoked: Callable[[list[int]], None],
        rejoin_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._new_client = new_client
        self._topic = topic
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self.rejoin_after_s = rejoin_after_s
        self._clock = clock
        self._waiting_since: float | None = None
        self.client = new_client()

    def subscribe(self) -> None:
        self._waiting_since = self._clock()
        self.client.subscribe(self._topic, self._assigned, self._revoked)

    def _assigned(self, partitions: list[int]) -> None:
        self._waiting_since = None
        self._on_assigned(partitions)

    def _revoked(self, partitions: list[int]) -> None:
        if self._waiting_since is None:
            self._waiting_since = self._clock()
        self._on_revoked(partitions)

    def left_out(self) -> bool:
        waiting = self._waiting_since
        return waiting is not None and self._clock() - waiting > self.rejoin_after_s

    def rejoin(self, summary: Summary) -> None:
        """A new client in place of this one, subscribed; the old one is closed (or left behind
        if its close hangs: a client in this state may not finish leaving a group it is not in).
        If no client can be built (e.g. kafka-python while no broker answers), the old one stays
        and the next try is a full `rejoin_after_s` later."""
        waited = self._clock() - (self._waiting_since or self._clock())
        try:
            new = self._new_client()
        except Exception as exc:
            print(f"consumer: cannot re-create the Kafka client (retrying): {exc}", file=sys.stderr)
            self._waiting_since = self._clock()
            return
        print(
            f"consumer: the group gave this member no assignment for {waited:.0f} s: "
            "re-creating the Kafka client to join it again",
            file=sys.stderr,
            flush=True,
        )
        old, self.client = self.client, new
        count_client_errors(old, summary)
        try:
            within(old.close, CLOSE_TIMEOUT_S, "closing the old Kafka client")
        except Exception as exc:  # it is being replaced: its failure is not this loop's
            print(f"consumer: closing the old Kafka client failed: {exc}", file=sys.stderr)
        summary.forget(list(summary.written))  # the new member commits only what it writes
        summary.rejoins += 1
        self.subscribe()


# With Kafka gone, the libraries wait for it without end: a waiting commit, leaving the group.
# A stopping consumer gives each this long, within the harness's 20 s before SIGKILL.
COMMIT_TIMEOUT_S = 8.0
CLOSE_TIMEOUT_S = 6.0


def within(work: Callable[[], None], timeout_s: float, what: str) -> bool:
    """Runs `work` in a daemon thread; False, with a message, if it had not ended in `timeout_s`
    (it is left behind). An exception of `work` is raised here."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name=what, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        print(f"consumer: {what} did not end within {timeout_s:.0f} s (is Kafka reachable?); "
              "going on without it", file=sys.stderr, flush=True)  # fmt: skip
        return False
    if errors:
        raise errors[0]
    return True


def consume(
    member: Member,
    sink: EventSink,
    settings: ConsumerSettings,
    stop: threading.Event,
    summary: Summary,
) -> None:
    """Poll, write, commit until `stop` is set; raises LogWriteError (that batch is not committed)."""
    while not stop.is_set():
        if member.left_out():
            member.rejoin(summary)
        records = member.client.poll(settings.max_records, settings.poll_timeout_s)
        if not records:
            continue
        sink.write(records, summary)
        offsets = next_offsets(records)
        summary.written.update(offsets)
        member.client.commit(offsets, asynchronous=True)


def commit_written(client: ConsumerClient, summary: Summary) -> None:
    """At a clean stop: commit what was written, waiting for the answer (at most
    COMMIT_TIMEOUT_S: with Kafka gone a waiting commit never returns)."""
    if not summary.written:
        return
    try:
        answered = within(lambda: client.commit(summary.written), COMMIT_TIMEOUT_S, "final commit")
    except CommitFailed as exc:
        answered = False
        print(f"consumer: final commit failed (re-delivered later): {exc}", file=sys.stderr)
    if not answered:  # already written: Kafka will deliver these again, which the log tolerates
        summary.commit_failures += 1


def count_client_errors(client: ConsumerClient, summary: Summary) -> None:
    """The client's own counts, added however the loop ended."""
    summary.commit_failures += client.async_commit_failures
    summary.kafka_errors += client.transient_errors


def run(settings: ConsumerSettings) -> int:
    stop = stop_on_signals()
    try:
        sink = EventSink(settings.log_file, settings.dead_letter_path, settings.fsync)
    except LogWriteError as exc:
        print(exc.message(), file=sys.stderr, flush=True)
        return 1
    summary = Summary()
    try:
        member = Member(
            lambda: make_client(settings.client, settings.client_config()),
            settings.topic,
            announce_assignment(),
            summary.forget,
            settings.rejoin_timeout_s,
        )
    except Exception as exc:  # unreachable brokers, bad security settings, ...
        sink.close()
        print(f"consumer: cannot create the {settings.client} consumer: {exc}", file=sys.stderr)
        return 3
    print(f"consumer client: {member.client.name}", flush=True)
    code = 0
    try:
        member.subscribe()
        consume(member, sink, settings, stop, summary)
        commit_written(member.client, summary)
    except LogWriteError as exc:
        print(exc.message(), file=sys.stderr, flush=True)
        code = 1
    except Exception as exc:  # a fatal Kafka error: what was written stays, uncommitted
        print(f"consumer: kafka client failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exc()  # where in the client it failed: the message alone rarely says
        code = 3
    finally:
        count_client_errors(member.client, summary)
        closed = within(member.client.close, CLOSE_TIMEOUT_S, "leaving the group")
        sink.close()
    print(summary.line(member.client.name), flush=True)
    if not closed:  # the interpreter's exit could wait on the client that is still closing
        sys.stderr.flush()
        os._exit(code)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    return run(ConsumerSettings.from_args(argv))


if __name__ == "__main__":
    sys.exit(main())
