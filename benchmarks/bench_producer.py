"""The Kafka producers without HTTP, against Kafka's own producer and the HTTP batch endpoint.

    .venv/bin/python benchmarks/bench_producer.py [--records 200000] [--repeats 3] [--quick]
        [--json PATH] [--bootstrap-servers B]

On one embedded broker, same record size (the size of an event as the API produces it), acks=all,
the same linger/batch settings, each scenario on a fresh 3-partition topic, repetitions interleaved:
- java: Apache Kafka's `ProducerPerformance` (kafka-producer-perf-test, from the kafka-tools jar of
  the same version) in its own JVM;
- kafka-python / confluent-kafka: a raw producer in this process: send everything, then flush
  (kafka-python also with `metrics_enabled=False`, a candidate fix for the API's producer);
- http-batch-<client>: the API (gunicorn, `ack` delivery) fed by the simulator with POST /events of
  500 events per request: events the broker acknowledged per second, as the client saw them.
Prints medians and the ratios of docs/BENCHMARKS.md: HTTP batching vs the raw producer (target >= 0.5) and
the Python clients vs Kafka's own. `--quick`: 30,000 records, and the HTTP batch endpoint with
kafka-python only (the default client).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from broker import broker
from figures import Figures, add_runner_flags

from app.settings import ProducerSettings
from harness import admin, java
from harness.environment import library_version, machine_line
from harness.processes import ManagedProcess
from harness.services import ApiService
from harness.simulator import SimulatorConfig, simulate

ACKS = "all"
LINGER_MS = 5
BATCH_SIZE = 65536
PERF_MAIN = "org.apache.kafka.tools.ProducerPerformance"
# CPU-us per record of the last run of each in-process producer (all its threads): a busy shared
# machine disturbs this far less than the wall rate.
CPU_US: dict[str, float] = {}


def sample_event(i: int) -> bytes:
    """An event as the API writes it to Kafka (the size matters, the content does not)."""
    return json.dumps({
        "event": "purchase", "user_id": 1432 + i, "event_id": f"bench-{i:010d}",
        "sent_at": 1795600000.123456, "received_at": 1795600000.124567,
    }).encode()  # fmt: skip


def new_topic(bootstrap: str) -> str:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    admin.create_topic(bootstrap, name, partitions=3)
    return name


def run_java(bootstrap: str, records: int, size: int, log_dir: Path) -> float:
    topic = new_topic(bootstrap)
    cmd = [
        java.check_java(), "-Xmx512m", f"-Dlog4j2.configurationFile={java.LOG4J_CONFIG}",
        "-Dkafka.logs.dir=" + tempfile.gettempdir(), "-cp", java.broker_classpath(), PERF_MAIN,
        "--topic", topic, "--num-records", str(records), "--record-size", str(size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={bootstrap}",
        f"acks={ACKS}", f"linger.ms={LINGER_MS}", f"batch.size={BATCH_SIZE}",
    ]  # fmt: skip
    log = log_dir / f"perf-{topic}.log"
    with ManagedProcess("ProducerPerformance", cmd, log) as proc:
        code = proc.proc.wait(timeout=600)
    # The last summary line: "N records sent, X records/sec (Y MB/sec), ..."
    match = re.findall(r"(\d+) records sent, ([\d.]+) records/sec", log.read_text())
    if code != 0 or not match:
        raise RuntimeError(f"ProducerPerformance failed:\n{proc.log_tail()}")
    return float(match[-1][1])


def run_kafka_python(bootstrap: str, values: list[bytes], metrics: bool = True) -> float:
    from kafka import KafkaProducer

    topic = new_topic(bootstrap)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=ACKS, linger_ms=LINGER_MS,
                             batch_size=BATCH_SIZE, metrics_enabled=metrics)  # fmt: skip
    start, cpu = time.perf_counter(), time.process_time()
    for value in values:
        producer.send(topic, value)
    producer.flush()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    producer.close()
    CPU_US[f"kafka-python{'' if metrics else ' metrics off'}"] = cpu / len(values) * 1e6
    return len(values) / elapsed


def run_confluent(bootstrap: str, values: list[bytes]) -> float:
    from confluent_kafka import Producer

    topic = new_topic(bootstrap)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": ACKS, "linger.ms": LINGER_MS,
                         "batch.size": BATCH_SIZE, "queue.buffering.max.messages": 1_000_000})  # fmt: skip
    failed = []
    start, cpu = time.perf_counter(), time.process_time()
    for value in values:
        producer.produce(topic, value, on_delivery=lambda err, msg: err and failed.append(err))
        producer.poll(0)
    producer.flush()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    CPU_US["confluent-kafka"] = cpu / len(values) * 1e6  # librdkafka's threads included
    if failed:
        raise RuntimeError(f"confluent-kafka: {len(failed)} deliveries failed: {failed[0]}")
    return len(values) / elapsed


def run_http_batch(api: ApiService, records: int) -> float:
    config = SimulatorConfig(url=api.url, events=records, threads=8, endpoint="batch",
                             events_per_request=500)  # fmt: skip
    result = simulate(config, out_dir=None, progress=False)
    if result.accepted != records:
        raise RuntimeError(f"http batch: {result.accepted}/{records} accepted")
    return result.achieved_eps


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--java-records", type=int, default=None,
                   help="records for ProducerPerformance (default 10x --records, 5x with --quick: its rate counts "
                        "from the first send, so a short run measures the JVM warming up)")  # fmt: skip
    add_runner_flags(p, "30,000 records; HTTP batch: kafka-python")
    args = p.parse_args(argv)
    if args.quick:
        args.records = 30_000
    args.java_records = args.java_records or (5 if args.quick else 10) * args.records
    return args


def scenarios(bootstrap: str, apis: dict, values: list[bytes], size: int, args, tmp: Path) -> dict:
    n = len(values)
    chosen = {
        "java": lambda: run_java(bootstrap, args.java_records, size, tmp),
        "kafka-python": lambda: run_kafka_python(bootstrap, values),
        # kafka-python's per-record metrics sensors show in the API's profile: what do they cost?
        "kafka-python metrics off": lambda: run_kafka_python(bootstrap, values, metrics=False),
        "confluent-kafka": lambda: run_confluent(bootstrap, values),
    }
    for client, api in apis.items():
        chosen[f"http-batch-{client}"] = lambda api=api: run_http_batch(api, n)
    return chosen


def start_apis(bootstrap: str, clients: list[str], tmp: Path) -> dict[str, ApiService]:
    apis = {}
    try:
        for client in clients:
            settings = ProducerSettings(bootstrap_servers=bootstrap, topic=new_topic(bootstrap),
                                        client=client, acks=ACKS, linger_ms=LINGER_MS,
                                        batch_size=BATCH_SIZE)  # fmt: skip
            apis[client] = ApiService(settings, tmp / f"api-{client}.log").start()
    except BaseException:
        for api in apis.values():
            api.stop()
        raise
    return apis


def main(argv=None) -> dict:
    args = parse_args(argv)
    figs = Figures("producer", "Producers: HTTP batch vs raw Python clients vs Kafka's own",
                   vars(args))  # fmt: skip
    print(machine_line())
    print(f"kafka-python {library_version('kafka-python')}, "
          f"confluent-kafka {library_version('confluent-kafka')}")  # fmt: skip
    values = [sample_event(i) for i in range(args.records)]
    size = round(statistics.mean(len(v) for v in values))
    print(f"{args.records} records of ~{size} bytes, acks={ACKS}, linger.ms={LINGER_MS}, "
          f"batch.size={BATCH_SIZE}; medians of {args.repeats}")  # fmt: skip
    figs.note(f"{args.records} records of ~{size} bytes, acks={ACKS}, linger.ms={LINGER_MS}, "
              f"batch.size={BATCH_SIZE}, 3 partitions; ProducerPerformance: {args.java_records} "
              "records; HTTP: 500 events/request, 8 senders")  # fmt: skip

    rates: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    clients = ["kafka-python"] if args.quick else ["kafka-python", "confluent-kafka"]
    with tempfile.TemporaryDirectory() as tmp, \
            broker(args.bootstrap_servers, Path(tmp) / "kafka") as (bootstrap, _pids):  # fmt: skip
        apis = start_apis(bootstrap, clients, Path(tmp))
        try:
            chosen = scenarios(bootstrap, apis, values, size, args, Path(tmp))
            for rep in range(args.repeats):
                for name, fn in chosen.items():
                    rate = fn()
                    rates.setdefault(name, []).append(rate)
                    if name in CPU_US:
                        cpus.setdefault(name, []).append(CPU_US.pop(name))
                    print(f"  rep {rep + 1} {name:28s} {rate:>10,.0f} records/s", flush=True)
        finally:
            for api in apis.values():
                api.stop()

    print("\nmedian records/s:")
    for name, runs in rates.items():
        print(f"  {name:28s} {figs.runs(name, runs, 'records/s'):>10,.0f}")
    for name, runs in cpus.items():
        print(
            f"  {name:28s} {figs.runs(f'{name} CPU', runs, 'CPU-us/record'):>10,.1f} CPU-us/record"
        )
    for client in clients:
        figs.ratio(f"HTTP batch / raw producer ({client})", 3, f"http-batch-{client}", client, 0.5)
    figs.ratio("kafka-python / Kafka ProducerPerformance", 4, "kafka-python", "java")
    figs.ratio("confluent-kafka / Kafka ProducerPerformance", 4, "confluent-kafka", "java")
    figs.ratio("kafka-python, metrics_enabled=False / default", None, "kafka-python metrics off",
               "kafka-python")  # fmt: skip
    # CPU per record, inverted so that > 1 means the first is cheaper
    figs.ratio("kafka-python CPU per record: default / metrics_enabled=False", None,
               "kafka-python CPU", "kafka-python metrics off CPU")  # fmt: skip
    figs.ratio("kafka-python CPU per record / confluent-kafka's", None, "kafka-python CPU",
               "confluent-kafka CPU")  # fmt: skip
    return figs.finish(args.json)


if __name__ == "__main__":
    main()
