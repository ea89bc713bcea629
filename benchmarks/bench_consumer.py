"""Is the log writer the consumer's bottleneck? Events/s written vs events/s a bare consumer reads.

    .venv/bin/python benchmarks/bench_consumer.py [--events 200000] [--repeats 3]
        [--clients kafka-python,confluent-kafka] [--fsync] [--bootstrap-servers B]

One topic is filled once (~150-byte events, 3 partitions). Then, per repetition and client library,
interleaved so that load drifts hit both alike:
- bare: a consumer of the same library and settings (app.consumer_client) that only polls;
- writer: the real `python -m app.consumer` process (format, append, commit per batch);
- writer+fsync (with --fsync): the same with an fsync per batch.
Each reads the whole topic with a fresh group. Rate = records after the first batch / time from
the first to the last batch (poll return times; for the writer, its lines' `consumed_at`), so
process start and group join are left out. Also: the log writer alone (format + append, no Kafka).
Medians of the repetitions; the ratio writer/bare is the figure that matters.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from app.consumer_client import CLIENTS, ClientConfig, make_client
from app.eventlog import LineFile, format_batch
from harness import admin
from harness.environment import library_version, machine_line
from harness.processes import ManagedProcess

BATCH = 2000  # records per poll, the consumer's default


def event_value(i: int) -> bytes:
    now = time.time()
    doc = {"event": "purchase", "user_id": i, "event_id": uuid.uuid4().hex}
    doc.update({"sent_at": now, "received_at": now + 0.0004, "acked_at": now + 0.003})
    return json.dumps(doc).encode()


def fill_topic(bootstrap: str, topic: str, n: int) -> float:
    """Produce n events with confluent-kafka (fast); returns their mean size in bytes."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1 << 20})
    total = 0
    for i in range(n):
        value = event_value(i)
        total += len(value)
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:  # local queue full: let it drain
                producer.poll(0.05)
    if producer.flush(60) != 0:
        raise RuntimeError("could not fill the topic")
    return total / n


# -- the child processes ---------------------------------------------------------------------
def child_bare(bootstrap: str, topic: str, client: str, n: int) -> None:
    """Poll the whole topic, do nothing with it; print first/last poll-return times as JSON."""
    consumer = make_client(client, ClientConfig(bootstrap, f"bench-bare-{uuid.uuid4().hex}"))
    consumer.subscribe(topic, lambda partitions: None)
    got, first_n, first_t, last_t = 0, 0, 0.0, 0.0
    while got < n:
        records = consumer.poll(BATCH, 0.5)
        if records:
            last_t = time.time()
            if not got:
                first_n, first_t = len(records), last_t
            got += len(records)
    consumer.close()
    print(json.dumps({"n": got, "first_n": first_n, "first_t": first_t, "last_t": last_t}))


def run_bare(tmp: Path, bootstrap: str, topic: str, client: str, n: int) -> float:
    cmd = [sys.executable, __file__, "--child-bare", "--bootstrap-servers", bootstrap]
    cmd += ["--topic", topic, "--client", client, "--events", str(n)]
    proc = ManagedProcess("bare", cmd, tmp / f"bare-{uuid.uuid4().hex[:6]}.out").start()
    try:
        if proc.proc.wait(timeout=600) != 0:
            raise RuntimeError(f"bare consumer failed:\n{proc.log_tail()}")
    finally:
        proc.stop()
    result = json.loads(proc.log_tail(1))
    return (result["n"] - result["first_n"]) / (result["last_t"] - result["first_t"])


def count_new_lines(path: Path, state: dict) -> int:
    """Lines in `path`, reading only what was appended since the last call (cheap while timing)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(state.get("pos", 0))
            data = fh.read()
    except FileNotFoundError:
        return 0
    state["pos"] = state.get("pos", 0) + len(data)
    state["lines"] = state.get("lines", 0) + data.count(b"\n")
    return state["lines"]


def run_writer(tmp: Path, bootstrap: str, topic: str, client: str, n: int, fsync: bool) -> float:
    log = tmp / f"events-{uuid.uuid4().hex[:6]}.log"
    cmd = [sys.executable, "-m", "app.consumer", "--bootstrap-servers", bootstrap]
    cmd += ["--topic", topic, "--group-id", f"bench-writer-{uuid.uuid4().hex}"]
    cmd += ["--log-file", str(log), "--client", client, "--fsync" if fsync else "--no-fsync"]
    proc = ManagedProcess("writer", cmd, log.with_suffix(".out")).start()
    state: dict = {}
    deadline = time.monotonic() + 600
    try:
        while count_new_lines(log, state) < n:
            if not proc.running() or time.monotonic() > deadline:
                raise RuntimeError(f"consumer stopped short:\n{proc.log_tail()}")
            time.sleep(0.25)
    finally:
        proc.stop()
    times = [orjson.loads(line.split(b" - ", 1)[1])["consumed_at"] for line in log.open("rb")]
    first_n = sum(1 for t in times if t == times[0])
    rate = (len(times) - first_n) / (times[-1] - times[0])
    log.unlink()  # 30+ MB each
    return rate


def writer_alone(values: list[bytes], tmp: Path, fsync: bool) -> float:
    """Format + append the same records in batches, no Kafka: the writer's own ceiling."""
    records = [(i % 3, i, v) for i, v in enumerate(values)]
    path = tmp / f"alone-{uuid.uuid4().hex[:6]}.log"
    start = time.perf_counter()
    with LineFile(path, fsync=fsync) as out:
        for i in range(0, len(records), BATCH):
            out.write(format_batch(records[i : i + BATCH], time.time()).events)
    rate = len(records) / (time.perf_counter() - start)
    path.unlink()
    return rate


# -- the benchmark ---------------------------------------------------------------------------
def summarize(name: str, rates: list[float]) -> float:
    med = statistics.median(rates)
    runs = ", ".join(f"{r:,.0f}" for r in rates)
    print(f"  {name:<34} median {med:>9,.0f} ev/s   (runs: {runs})")
    return med


def benchmark(bootstrap: str, args: argparse.Namespace, tmp: Path) -> None:
    topic = f"bench-consumer-{uuid.uuid4().hex[:8]}"
    admin.create_topic(bootstrap, topic, partitions=3)
    size = fill_topic(bootstrap, topic, args.events)
    print(f"topic {topic}: {args.events:,} events, mean value {size:.0f} bytes, 3 partitions")

    values = [event_value(i) for i in range(args.events)]
    alone = [writer_alone(values, tmp, False) for _ in range(args.repeats)]
    modes = ["bare", "writer"] + (["writer+fsync"] if args.fsync else [])
    rates: dict[tuple[str, str], list[float]] = {}
    for rep in range(args.repeats):
        for client in args.clients:
            for mode in modes:
                if mode == "bare":
                    rate = run_bare(tmp, bootstrap, topic, client, args.events)
                else:
                    fsync = mode == "writer+fsync"
                    rate = run_writer(tmp, bootstrap, topic, client, args.events, fsync)
                rates.setdefault((client, mode), []).append(rate)
                print(f"  rep {rep + 1} {client:<16} {mode:<13} {rate:>9,.0f} ev/s", flush=True)

    print(f"\nresults (medians of {args.repeats}), load average now {os.getloadavg()}:")
    summarize("log writer alone (no Kafka)", alone)
    for client in args.clients:
        med = {mode: summarize(f"{client} {mode}", rates[(client, mode)]) for mode in modes}
        for mode in modes[1:]:
            print(f"  => {client}: {mode} / bare = {med[mode] / med['bare']:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--clients", default=",".join(CLIENTS))
    p.add_argument("--fsync", action="store_true", help="also measure the writer with --fsync")
    p.add_argument("--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    p.add_argument("--child-bare", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--topic", help=argparse.SUPPRESS)
    p.add_argument("--client", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child_bare:
        child_bare(args.bootstrap_servers, args.topic, args.client, args.events)
        return
    args.clients = args.clients.split(",")

    print(machine_line())
    libs = ("kafka-python", "confluent-kafka", "orjson", "crc32c")
    print("libraries: " + ", ".join(f"{lib} {library_version(lib)}" for lib in libs))
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-consumer-") as tmp:
        if args.bootstrap_servers:
            print(f"broker: external {args.bootstrap_servers}")
            benchmark(args.bootstrap_servers, args, Path(tmp))
            return
        from harness.kafka import EmbeddedKafka

        with EmbeddedKafka(root=Path(tmp) / "kafka") as kafka:
            print(f"broker: embedded, {kafka.bootstrap_servers} (on this same machine)")
            benchmark(kafka.bootstrap_servers, args, Path(tmp))


if __name__ == "__main__":
    main()
