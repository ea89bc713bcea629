"""Is the log writer the consumer's bottleneck? Events/s written vs events/s a bare consumer reads.

    .venv/bin/python benchmarks/bench_consumer.py [--events 200000] [--repeats 3]
        [--clients kafka-python,confluent-kafka] [--fsync] [--bootstrap-servers B]
        [--quick] [--json PATH]

One topic is filled once (~150-byte events, 3 partitions). Then, per repetition and client library,
interleaved so that load drifts hit every mode alike, each in a fresh process and a fresh group:
- bare: a consumer of the same library and settings (app.consumer_client) that only polls;
- writer: the consumer's own loop, `app.consumer.consume` (format, append, async commit per
  batch, a waiting commit at the end);
- writer+fsync (with --fsync): the same with an fsync per batch.
Rate = records after the first batch / wall time from the first to the last poll that returned
records, so process start and group join are left out; CPU-us/event is the process's CPU time
(all threads, librdkafka's too) over the same span, which a busy machine disturbs less than the
wall rate. Also: the log writer alone (format + append, no Kafka). Medians of the repetitions.
`--quick`: 60,000 events, kafka-python (the default client) only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from broker import broker
from figures import Figures, add_runner_flags

from app.consumer import ConsumerSettings, EventSink, Member, Summary, commit_written, consume
from app.consumer_client import CLIENTS, make_client
from app.eventlog import LineFile, format_batch
from harness import admin
from harness.environment import library_version, machine_line
from harness.processes import ManagedProcess

BATCH = 2000  # records per poll, the consumer's default


def event_value(i: int) -> bytes:
    now = time.time()
    doc = {"event": "purchase", "user_id": i, "event_id": uuid.uuid4().hex}
    doc.update({"sent_at": now, "received_at": now + 0.0004})
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
class Meter:
    """Wall and CPU time (all threads) from the first poll that returned records to the last."""

    def __init__(self, n: int, stop: threading.Event) -> None:
        self.n, self.stop = n, stop
        self.got = self.first_n = 0
        self.first = self.last = (0.0, 0.0)

    def wrap(self, poll):
        def timed_poll(max_records: int, timeout_s: float):
            records = poll(max_records, timeout_s)
            if records:
                self.last = (time.perf_counter(), time.process_time())
                if not self.got:
                    self.first, self.first_n = self.last, len(records)
                self.got += len(records)
                if self.got >= self.n:
                    self.stop.set()
            return records

        return timed_poll

    def result(self) -> dict:
        events = self.got - self.first_n
        wall, cpu = (b - a for a, b in zip(self.first, self.last, strict=True))
        return {"n": self.got, "rate": events / wall, "cpu_us": cpu / events * 1e6}


def child(mode: str, bootstrap: str, topic: str, client: str, n: int, tmp: Path) -> None:
    """One measurement: `bare` polls only; `writer`/`writer+fsync` run the consumer's own loop."""
    settings = ConsumerSettings(bootstrap_servers=bootstrap, topic=topic,
                                group_id=f"bench-{uuid.uuid4().hex}", max_records=BATCH)  # fmt: skip
    summary = Summary()
    stop = threading.Event()
    meter = Meter(n, stop)

    def new_client():
        consumer = make_client(client, settings.client_config())
        consumer.poll = meter.wrap(consumer.poll)
        return consumer

    member = Member(new_client, topic, lambda partitions: None, summary.forget,
                    settings.rejoin_timeout_s)  # fmt: skip
    member.subscribe()
    if mode == "bare":
        while not stop.is_set():
            member.client.poll(BATCH, 0.5)
    else:
        log = tmp / f"events-{uuid.uuid4().hex[:6]}.log"
        sink = EventSink(log, log.with_name("dead-letter.log"), fsync=mode == "writer+fsync")
        consume(member, sink, settings, stop, summary)
        commit_written(member.client, summary)
        sink.close()
        log.unlink()  # 30 MB each
    member.client.close()
    print(json.dumps(meter.result()))


def run_child(tmp: Path, mode: str, bootstrap: str, topic: str, client: str, n: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--bootstrap-servers", bootstrap]
    cmd += ["--topic", topic, "--client", client, "--events", str(n), "--tmp", str(tmp)]
    proc = ManagedProcess(mode, cmd, tmp / f"{mode}-{uuid.uuid4().hex[:6]}.out").start()
    try:
        if proc.proc.wait(timeout=600) != 0:
            raise RuntimeError(f"{mode} consumer failed:\n{proc.log_tail()}")
    finally:
        proc.stop()
    return json.loads(proc.log_tail(1))


def writer_alone(values: list[bytes], tmp: Path) -> dict:
    """Format + append the same records in batches, no Kafka: the writer's own ceiling."""
    records = [(i % 3, i, v) for i, v in enumerate(values)]
    path = tmp / f"alone-{uuid.uuid4().hex[:6]}.log"
    wall, cpu = time.perf_counter(), time.process_time()
    with LineFile(path) as out:
        for i in range(0, len(records), BATCH):
            out.write(format_batch(records[i : i + BATCH], time.time()).events)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    path.unlink()
    return {"rate": len(records) / wall, "cpu_us": cpu / len(records) * 1e6}


# -- the benchmark ---------------------------------------------------------------------------
def summarize(figs: Figures, name: str, results: list[dict]) -> dict:
    rate = figs.runs(name, [r["rate"] for r in results], "events/s")
    cpu = figs.runs(f"{name} CPU", [r["cpu_us"] for r in results], "CPU-us/event")
    runs = ", ".join(f"{r['rate']:,.0f}" for r in results)
    print(f"  {name:<30} {rate:>9,.0f} ev/s  {cpu:6.2f} CPU-us/event   (runs: {runs})")
    return {"rate": rate, "cpu_us": cpu}


def benchmark(bootstrap: str, args: argparse.Namespace, tmp: Path, figs: Figures) -> None:
    topic = f"bench-consumer-{uuid.uuid4().hex[:8]}"
    admin.create_topic(bootstrap, topic, partitions=3)
    size = fill_topic(bootstrap, topic, args.events)
    print(f"topic {topic}: {args.events:,} events, mean value {size:.0f} bytes, 3 partitions")
    figs.note(f"{args.events:,} events of {size:.0f} bytes on 3 partitions, {BATCH} per poll")

    values = [event_value(i) for i in range(args.events)]
    alone = [writer_alone(values, tmp) for _ in range(args.repeats)]
    modes = ["bare", "writer"] + (["writer+fsync"] if args.fsync else [])
    results: dict[tuple[str, str], list[dict]] = {}
    for rep in range(args.repeats):
        for client in args.clients:
            for mode in modes:
                r = run_child(tmp, mode, bootstrap, topic, client, args.events)
                results.setdefault((client, mode), []).append(r)
                print(
                    f"  rep {rep + 1} {client:<16} {mode:<13} {r['rate']:>9,.0f} ev/s "
                    f"{r['cpu_us']:6.2f} CPU-us/event",
                    flush=True,
                )

    print(f"\nmedians of {args.repeats} (wall rate; CPU time of all the consumer's threads):")
    summarize(figs, "log writer alone (no Kafka)", alone)
    for client in args.clients:
        med = {mode: summarize(figs, f"{client} {mode}", results[(client, mode)]) for mode in modes}
        for mode in modes[1:]:
            extra = med[mode]["cpu_us"] - med["bare"]["cpu_us"]
            print(
                f"  => {client}: {mode}/bare rate ratio {med[mode]['rate'] / med['bare']['rate']:.2f}"
                f"; the writing adds {extra:.2f} CPU-us/event "
                f"({extra / med['bare']['cpu_us']:+.0%} of the bare consumer's)"
            )
            figs.ratio(f"consumer writing the log / bare consumer ({client}, {mode})", 6,
                       f"{client} {mode}", f"{client} bare")  # fmt: skip
            # CPU per event is what a loaded machine disturbs least: bare / writer, as a rate ratio.
            figs.ratio(f"same, from CPU-us/event (bare / {mode}, {client})", 6,
                       f"{client} bare CPU", f"{client} {mode} CPU")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--clients", default=",".join(CLIENTS))
    p.add_argument("--fsync", action="store_true", help="also measure the writer with --fsync")
    add_runner_flags(p, "60,000 events, kafka-python only")
    p.set_defaults(bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--topic", help=argparse.SUPPRESS)
    p.add_argument("--client", help=argparse.SUPPRESS)
    p.add_argument("--tmp", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(
            args.child, args.bootstrap_servers, args.topic, args.client, args.events, Path(args.tmp)
        )
        return
    if args.quick:
        args.events, args.clients = 60_000, "kafka-python"
    args.clients = args.clients.split(",")
    figs = Figures("consumer", "Consumer: writing the log vs a bare consumer", vars(args))

    print(machine_line())
    libs = ("kafka-python", "confluent-kafka", "orjson", "crc32c")
    print("libraries: " + ", ".join(f"{lib} {library_version(lib)}" for lib in libs))
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-consumer-") as tmp:
        with broker(args.bootstrap_servers, Path(tmp) / "kafka") as (bootstrap, _pids):
            print(f"broker: {bootstrap} (on this same machine)")
            benchmark(bootstrap, args, Path(tmp), figs)
    figs.finish(args.json)


if __name__ == "__main__":
    main()
