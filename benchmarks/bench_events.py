"""Your events, not the seed's: what bigger events cost the ingestion path, in one run.

    .venv/bin/python benchmarks/bench_events.py [--events 10000] [--repeats 5] [--quick]
        [--json PATH] [--bootstrap-servers B]

On one broker, the default API (app/settings.py: granian + confluent-kafka, `ack` delivery, its
linger and batch settings), each scenario its own API process, topic and consumer, repetitions
interleaved so that a shared machine's drift hits all alike:
- single-<size>-<codec>: POST /register_event from 200 senders, events of the seed's shape
  (`seed`, ~90 bytes) or of event_bytes 100 / 1,000 / 10,000 (the default payload_random),
  compression none or zstd; counted at the consumer (accepted events / time until the last is
  in the log), with MB/s = events/s x the events' bytes as sent (MB = 10^6 bytes) and the CPU of
  every process per event (benchmarks/cpu.py) for the bound;
- http-batch-1000 against raw-confluent-1000: 1,000-byte events through the default API's
  POST /events (500 per request, 8 senders; events the broker acknowledged per second, as the
  client saw them) and the same records straight from a confluent-kafka producer in this process,
  configured as benchmarks/bench_producer.py's (item 3: acks=all, linger 5 ms, 64 KiB batches,
  librdkafka's defaults otherwise, no compression as the API's default), its values those the
  API writes (the event plus `received_at`); both in MB/s of event bytes. Beside it,
  raw-api-config-1000: the same producer built with the API's own configuration
  (app/producer_client.py confluent_config: idempotence on, so at most 5 requests in flight, and
  linger 10 ms): one such producer is what each API worker has;
- sim-<size>: the simulator's own CPU per event (this process, RUSAGE_SELF) against the API with
  `--delivery noop`, the seed's shape and 10,000-byte events;
- the order audit: its check (harness/analysis/order.py) on 1,000,000 synthetic keyed events
  (10,000 users, Zipf 1.1), and the whole audit as a run does it (the topic read with keys, then
  the check) after a keyed run of 100,000 events (key user_id, key_skew 1.1, POST /events of
  500): microseconds per event (the read includes its consumer's start and its last poll).
Ratios (docs/BENCHMARKS.md, item 9): HTTP batch MB/s / raw producer MB/s at 1,000 bytes (target
>= 0.5); the default single path at 1,000 bytes / at the seed's size, events/s (>= 0.8); the
simulator's CPU per event at 10,000 bytes / at the seed's size (<= 1.5). Each missed target
comes with its bound from the same run (CPU per event of our processes on both cores).
`--quick`: 3 repetitions of 3,000 events (batch 30,000; audit run 20,000).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
from bench_producer import ACKS as RAW_ACKS
from bench_producer import BATCH_SIZE as RAW_BATCH_SIZE
from bench_producer import LINGER_MS as RAW_LINGER_MS
from broker import broker
from cpu import CpuSampler, bound_eps, ours
from figures import Figures, add_runner_flags

from app.producer_client import confluent_config
from app.settings import ProducerSettings
from harness import admin, audit
from harness.analysis import read_client_records
from harness.analysis.order import audit_order
from harness.environment import machine_line
from harness.loadgen.config import SimulatorConfig, new_run_id
from harness.loadgen.payload import BodyFactory, zipf_cdf
from harness.rundir import LogCounter
from harness.services import ApiService, ConsumerService
from harness.simulator import simulate

ITEM = 9
SIZES = (None, 100, 1000, 10_000)  # None: the seed's shape
CODECS = ("none", "zstd")
BATCH_SIZE_BYTES = 1000
BATCH_EVENTS_PER_REQUEST = 500


def size_name(size: int | None) -> str:
    return "seed" if size is None else str(size)


@dataclass
class Target:
    api: ApiService
    topic: str
    consumer: ConsumerService | None

    def __post_init__(self) -> None:
        self.logged = LogCounter([self.consumer.log_file]) if self.consumer else None

    def stop(self) -> None:
        self.api.stop()
        if self.consumer:
            self.consumer.stop()


def start_target(name: str, bootstrap: str, log_dir: Path, consumer: bool = True,
                 **settings) -> Target:  # fmt: skip
    topic = f"bench-{name}-{new_run_id()}"
    admin.create_topic(bootstrap, topic, 3, 1)
    config = ProducerSettings.from_env({}, bootstrap_servers=bootstrap, topic=topic, **settings)
    api = ApiService(config, log_dir / f"api-{name}.log").start()
    found = None
    if consumer:
        found = ConsumerService(bootstrap, topic, f"bench-{name}", log_dir / f"events-{name}.log",
                                log_dir / f"consumer-{name}.out").start()  # fmt: skip
    return Target(api, topic, found)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_single(target: Target, size: int | None, events: int, pids, out: Path | None = None,
               **extra) -> dict:  # fmt: skip
    """One closed-loop run of single events; events/s counted at the consumer."""
    config = SimulatorConfig(url=target.api.url, events=events, threads=200, event_bytes=size,
                             **extra)  # fmt: skip
    before = target.logged.poll()
    sampler = CpuSampler(list(pids)).start()
    started = time.time()
    result = simulate(config, out_dir=out, progress=False)
    if result.accepted != events:
        raise RuntimeError(f"{result.accepted}/{events} accepted")
    reached = target.logged.wait_for(before + events, 120, interval=0.005,
                                     alive=target.consumer.process.running)  # fmt: skip
    if reached < before + events:
        raise RuntimeError("the consumer did not log every accepted event")
    eps = events / (time.time() - started)
    cpu = sampler.stop()
    event_bytes = size or seed_bytes()
    return {"eps": eps, "mbps": eps * event_bytes / 1e6,
            "cpu_us": {k: v / events * 1e6 for k, v in cpu.items()}}  # fmt: skip


_SEED_BYTES: list[float] = []


def seed_bytes() -> float:
    """The seed shape's mean size (drawn as a run draws it)."""
    if not _SEED_BYTES:
        config = SimulatorConfig(url="http://x", events=2000, random_seed=1)
        factory = BodyFactory(config)
        sizes = [size for i in range(2000) for size in factory.template(i).sizes(18)]
        _SEED_BYTES.append(float(np.mean(sizes)))
    return _SEED_BYTES[0]


def record_values(events: int) -> list[bytes]:
    """What the API writes for 1,000-byte events: each event with its received_at."""
    config = SimulatorConfig(url="http://x", events=events, event_bytes=BATCH_SIZE_BYTES,
                             endpoint="batch", events_per_request=BATCH_EVENTS_PER_REQUEST)  # fmt: skip
    factory = BodyFactory(config)
    values = []
    for request_id in range(config.requests):
        now = time.time()
        for event in orjson.loads(factory.template(request_id).render(repr(now).encode())):
            event["received_at"] = time.time()
            values.append(orjson.dumps(event))
    return values


def run_raw(bootstrap: str, values: list[bytes], api_config: bool = False) -> float:
    """A confluent-kafka producer in this process, records/s (send all, then flush): configured
    as bench_producer's raw producer, or (`api_config`) exactly as the API's."""
    from confluent_kafka import Producer

    topic = f"bench-raw-{new_run_id()}"
    admin.create_topic(bootstrap, topic, 3, 1)
    if api_config:
        config = confluent_config(ProducerSettings(bootstrap_servers=bootstrap, topic=topic))
    else:
        config = {"bootstrap.servers": bootstrap, "acks": RAW_ACKS, "linger.ms": RAW_LINGER_MS,
                  "batch.size": RAW_BATCH_SIZE}  # fmt: skip
    producer = Producer({**config, "queue.buffering.max.messages": 1_000_000})
    failed: list = []
    started = time.perf_counter()
    for value in values:
        while True:
            try:
                producer.produce(
                    topic, value, on_delivery=lambda err, _: err and failed.append(err)
                )
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    if failed:
        raise RuntimeError(f"raw producer: {len(failed)} deliveries failed: {failed[0]}")
    return len(values) / elapsed


def run_batch(target: Target, events: int) -> float:
    config = SimulatorConfig(url=target.api.url, events=events, threads=8, endpoint="batch",
                             events_per_request=BATCH_EVENTS_PER_REQUEST,
                             event_bytes=BATCH_SIZE_BYTES)  # fmt: skip
    result = simulate(config, out_dir=None, progress=False)
    if result.accepted != events:
        raise RuntimeError(f"http batch: {result.accepted}/{events} accepted")
    return result.accepted / result.duration_s


def run_simulator_cpu(url: str, size: int | None, events: int) -> float:
    """The simulator's CPU-us per event (this process: drive, bodies, records) on a no-op API."""
    config = SimulatorConfig(url=url, events=events, threads=200, event_bytes=size)
    before = cpu_seconds()
    result = simulate(config, out_dir=None, progress=False)
    if result.accepted != events:
        raise RuntimeError(f"simulator on noop: {result.accepted}/{events} accepted")
    return (cpu_seconds() - before) / events * 1e6


def synthetic_audit(n: int = 1_000_000, users: int = 10_000) -> float:
    """Seconds per event of the order check alone, on a run-like frame of `n` keyed events."""
    rng = np.random.default_rng(21)
    sent = np.sort(rng.random(n)) * n / 3000  # ~3,000 events/s
    done = sent + rng.exponential(0.05, n)
    user = np.searchsorted(zipf_cdf(users, 1.1), rng.random(n), side="right") + 1
    ids = pd.Series([f"r-{i}" for i in range(n)], dtype="string[pyarrow]")
    records = pd.DataFrame({"event_id": ids, "sent_at": sent, "done_at": done, "accepted": True})
    keys = np.array([str(u).encode() for u in user], dtype=object)
    topic = pd.DataFrame({"event_id": ids, "partition": user % 3, "key": keys,
                          "offset": np.arange(n), "consumed_at": sent + 0.1})  # fmt: skip
    started = time.perf_counter()
    order = audit_order(records, topic, "user_id")
    took = time.perf_counter() - started
    if order["violations"]:
        raise RuntimeError("the synthetic frame is in order: the check found violations")
    return took / n


def keyed_audit(bootstrap: str, log_dir: Path, events: int) -> tuple[float, float]:
    """(read, check) seconds per event of the order audit after a keyed run of `events`."""
    target = start_target("keyed", bootstrap, log_dir, consumer=False, key="user_id")
    try:
        out = log_dir / f"keyed-{new_run_id()}"
        starts = audit.start_offsets(bootstrap, target.topic)
        config = SimulatorConfig(url=target.api.url, events=events, threads=8, endpoint="batch",
                                 events_per_request=BATCH_EVENTS_PER_REQUEST, key="user_id",
                                 key_skew=1.1)  # fmt: skip
        if simulate(config, out_dir=out, progress=False).accepted != events:
            raise RuntimeError("the keyed run lost events")
        records = read_client_records(out)
        started = time.perf_counter()
        found = audit.audit_topic(bootstrap, target.topic, starts, set(records["event_id"]), 60,
                                  run_id=records["event_id"].iloc[0].split("-")[0], keys=True)  # fmt: skip
        read = time.perf_counter() - started
        started = time.perf_counter()
        order = audit_order(records, found, "user_id")
        check = time.perf_counter() - started
    finally:
        target.stop()
    if order["events"] != events or order["violations"]:
        raise RuntimeError(f"keyed run audit: {order}")
    return read / events, check / events


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=10_000, help="per single-event run")
    p.add_argument("--batch-events", type=int, default=100_000)
    p.add_argument("--sim-events", type=int, default=20_000)
    p.add_argument("--audit-events", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=5)
    add_runner_flags(p, "3 repetitions of 3,000 events (batch 30,000, audit run 20,000)")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.events, args.batch_events = 3, 3000, 30_000
        args.sim_events, args.audit_events = 5000, 20_000
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    figs = Figures("events", "Events of your own: bytes, compression, keys, the order audit",
                   vars(args))  # fmt: skip
    print(machine_line())
    print(f"singles: {args.events} events from 200 senders; batch: {args.batch_events} events of "
          f"{BATCH_SIZE_BYTES} bytes, {BATCH_EVENTS_PER_REQUEST} per request; medians of "
          f"{args.repeats}", flush=True)  # fmt: skip
    figs.note(f"the seed's shape is {seed_bytes():.1f} bytes on average; MB = 10^6 bytes; "
              "single events counted at the consumer, batches and the raw producer at the "
              "broker's acknowledgement")  # fmt: skip
    runs: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp, \
            broker(args.bootstrap_servers, Path(tmp) / "kafka") as (bootstrap, pids):  # fmt: skip
        log_dir = Path(tmp)
        targets = {codec: start_target(f"single-{codec}", bootstrap, log_dir, compression=codec)
                   for codec in CODECS}  # fmt: skip
        batch = start_target("batch", bootstrap, log_dir, consumer=False)
        noop = start_target("noop", bootstrap, log_dir, consumer=False, delivery="noop")
        values = record_values(args.batch_events)
        try:
            for target in targets.values():  # warm-up: connections, JIT, page cache
                run_single(target, 1000, 3000, ())
            run_batch(batch, min(args.batch_events, 20_000))
            run_raw(bootstrap, values[:20_000])
            run_raw(bootstrap, values[:20_000], api_config=True)
            for rep in range(args.repeats):
                for codec, target in targets.items():
                    for size in SIZES:
                        if size is None and codec != "none":
                            continue
                        name = f"single-{size_name(size)}-{codec}"
                        runs.setdefault(name, []).append(
                            run_single(target, size, args.events, pids)
                        )
                        print(f"  rep {rep + 1} {name:20s} {runs[name][-1]['eps']:8,.0f} events/s "
                              f"{runs[name][-1]['mbps']:7.2f} MB/s", flush=True)  # fmt: skip
                runs.setdefault("http-batch-1000", []).append(run_batch(batch, args.batch_events))
                runs.setdefault("raw-confluent-1000", []).append(run_raw(bootstrap, values))
                runs.setdefault("raw-api-config-1000", []).append(
                    run_raw(bootstrap, values, api_config=True)
                )
                for size in (None, 10_000):
                    name = f"sim-{size_name(size)}"
                    runs.setdefault(name, []).append(
                        run_simulator_cpu(noop.api.url, size, args.sim_events)
                    )
                print(f"  rep {rep + 1} batch {runs['http-batch-1000'][-1]:,.0f} events/s, raw "
                      f"{runs['raw-confluent-1000'][-1]:,.0f} records/s; simulator CPU "
                      f"{runs['sim-seed'][-1]:.1f} / {runs['sim-10000'][-1]:.1f} us/event",
                      flush=True)  # fmt: skip
        finally:
            for target in [*targets.values(), batch, noop]:
                target.stop()
        for _ in range(3 if not args.quick else 1):
            read, check = keyed_audit(bootstrap, log_dir, args.audit_events)
            runs.setdefault("audit read", []).append(read * 1e6)
            runs.setdefault("audit check", []).append(check * 1e6)
    for _ in range(3 if not args.quick else 1):
        runs.setdefault("audit check 1M", []).append(synthetic_audit() * 1e6)
    record(figs, runs)
    figs.finish(args.json)
    return 0


def record(figs: Figures, runs: dict[str, list]) -> None:
    for name, results in runs.items():
        if name.startswith("single-"):
            figs.runs(name, [r["eps"] for r in results], "events/s")
            figs.runs(f"{name} MB/s", [r["mbps"] for r in results], "MB/s")
            for kind in sorted({k for r in results for k in r["cpu_us"]}):
                figs.runs(f"{name} CPU {kind}", [r["cpu_us"].get(kind, 0.0) for r in results],
                          "CPU-us/event")  # fmt: skip
            path_us = [ours(r["cpu_us"]) for r in results]
            figs.runs(f"{name} CPU ours", path_us, "CPU-us/event")
            figs.runs(f"{name} bound", [bound_eps(us) for us in path_us], "events/s")
        elif name in ("http-batch-1000", "raw-confluent-1000", "raw-api-config-1000"):
            figs.runs(name, results, "events/s")
            figs.runs(f"{name} MB/s", [r * BATCH_SIZE_BYTES / 1e6 for r in results], "MB/s")
        elif name.startswith("sim-"):
            figs.runs(name, results, "CPU-us/event")
        else:
            figs.runs(name, results, "us/event")
    figs.ratio("HTTP batch MB/s / raw confluent-kafka producer MB/s, 1,000-byte events", ITEM,
               "http-batch-1000 MB/s", "raw-confluent-1000 MB/s", 0.5)  # fmt: skip
    figs.ratio("raw producer with the API's configuration / raw producer, 1,000-byte events",
               None, "raw-api-config-1000 MB/s", "raw-confluent-1000 MB/s")  # fmt: skip
    figs.ratio("the default single path, events/s: 1,000-byte events / the seed's", ITEM,
               "single-1000-none", "single-seed-none", 0.8)  # fmt: skip
    figs.ratio("its bound (both cores at its CPU per event): 1,000 bytes / the seed's", None,
               "single-1000-none bound", "single-seed-none bound")  # fmt: skip
    figs.ratio("the simulator's CPU per event: 10,000-byte events / the seed's", ITEM,
               "sim-10000", "sim-seed", 1.5, op="<=")  # fmt: skip
    for size in SIZES[1:]:
        for codec in CODECS:
            name = f"single-{size}-{codec}"
            figs.ratio(f"the default single path at {size:,} bytes, {codec}: MB/s", None,
                       f"{name} MB/s", None)  # fmt: skip
    figs.ratio("zstd / none, MB/s at 10,000 bytes", None, "single-10000-zstd MB/s",
               "single-10000-none MB/s")  # fmt: skip
    figs.ratio("the order audit's check, per event (1M events)", None, "audit check 1M", None)
    figs.ratio("the order audit after a keyed run: topic read, per event", None, "audit read",
               None)  # fmt: skip
    figs.ratio("the order audit after a keyed run: check, per event", None, "audit check", None)


if __name__ == "__main__":
    sys.exit(main())
