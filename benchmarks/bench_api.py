"""How fast is the producer API? Full path vs the bare HTTP ceiling vs the seed-style setup, per server.

    .venv/bin/python benchmarks/bench_api.py [--events 10000] [--threads 200] [--repeats 5]
        [--batch-events 200000] [--batch-threads 8] [--workers 2] [--worker-threads N]
        [--linger-ms 5] [--only full,noop,seed,granian-confluent,...]
        [--quick] [--json PATH] [--bootstrap-servers B]

Scenarios (each API its own process and topic on one embedded broker, all up at once, repetitions
interleaved so that load drift hits every scenario alike):
- full / full-confluent / noop: gunicorn (gthread) + `ack` delivery with kafka-python,
  confluent-kafka, or `noop` delivery (validate and answer, no Kafka: the bare HTTP ceiling);
- full-gevent / full-gevent-confluent / noop-gevent: the same three on gevent workers;
- granian / granian-confluent / noop-granian: the same three on granian (WSGI, blocking threads);
- seed: the Werkzeug dev server (threaded) + `flush` per request, as the seed did it;
- wait-granian: the default's app, server and settings with a client that only waits
  (benchmarks/waiting_api.py: parked like `ack` delivery, released every linger.ms by a ticker,
  no Kafka): beside noop-granian and the default, it splits what Kafka adds to the handler into
  the wait for the acknowledgement and the client with its broker;
- batch-<client>: POST /events with 500 events per request, `ack` delivery, on the default server.
The API's defaults (app/settings.py: DEFAULT_SERVER and the client) name the "default" scenario:
item 1 is the default against seed, item 2 the default against the no-op handler on its server.
Load comes from the harness's simulator (closed loop: `--threads` concurrent senders). In `ack`
mode an accepted event is one the broker acknowledged; the topic's end offsets are checked against
the accepted count. Every Kafka scenario has its consumer (`python -m app.consumer`, the scenario's
client) writing its own events log, as in a run: the events/s of a Kafka scenario are counted at
the consumer (accepted events / time from the first request to the last of them in the log); the
API's own rate is printed beside it. Figures are medians of `--repeats`; ratios compare medians of
the same run. `noop / seed` is printed too: the most item 1 could reach on this machine, since the
full path cannot beat the bare HTTP ceiling.
Each run also accounts the CPU time of the API (all workers), the broker, the consumer, the
simulator and the rest of the machine (benchmarks/cpu.py), per accepted event: on 2 shared cores
that says who held the cores.
`--quick`: the gunicorn and granian scenarios (both clients, no-op) and seed, 3,000 events each
(same 200 senders), 3 repetitions.
The broker is warmed first (its JIT: a cold broker costs several times the CPU per event).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from broker import broker
from cpu import CORES, CpuSampler, bound_eps, ours
from figures import Figures, add_runner_flags
from kafka import KafkaConsumer, TopicPartition

from app.settings import CLIENTS, DEFAULT_SERVER, ProducerSettings
from harness import admin
from harness.environment import library_version, machine_line
from harness.params import SEED_STYLE
from harness.rundir import LogCounter
from harness.services import API_ENTRY, ApiService, ConsumerService
from harness.simulator import SimulatorConfig, simulate

QUICK_SCENARIOS = (
    "full,full-confluent,noop,granian,granian-confluent,noop-granian,wait-granian,seed"
)


@dataclass(frozen=True)
class Scenario:
    name: str
    server: str
    delivery: str
    client: str = "kafka-python"
    endpoint: str = "single"
    api: str | None = None  # reuse another scenario's API (batch runs use the full ones)
    simulated_acks: bool = False  # benchmarks/waiting_api.py: waits like `ack`, no Kafka

    @property
    def uses_kafka(self) -> bool:
        return self.delivery != "noop" and not self.simulated_acks


SCENARIOS = [
    Scenario("full", "gunicorn", "ack"),
    Scenario("full-confluent", "gunicorn", "ack", "confluent-kafka"),
    Scenario("noop", "gunicorn", "noop"),
    Scenario("full-gevent", "gunicorn-gevent", "ack"),
    Scenario("full-gevent-confluent", "gunicorn-gevent", "ack", "confluent-kafka"),
    Scenario("noop-gevent", "gunicorn-gevent", "noop"),
    Scenario("granian", "granian", "ack"),
    Scenario("granian-confluent", "granian", "ack", "confluent-kafka"),
    Scenario("noop-granian", "granian", "noop"),
    Scenario("seed", SEED_STYLE["server"], SEED_STYLE["delivery"], SEED_STYLE["client"]),
]
SINGLE = {(s.server, s.client, s.delivery): s.name for s in SCENARIOS}
# The API's defaults: what `python -m app.producer` and `harness run` use unless told otherwise.
DEFAULT = SINGLE[(DEFAULT_SERVER, ProducerSettings.client, ProducerSettings.delivery)]
NOOP_OF = {s.server: s.name for s in SCENARIOS if s.delivery == "noop"}
WAIT = "wait-granian"
WAITING_API = str(Path(__file__).with_name("waiting_api.py"))  # the API's flags, simulated acks
SCENARIOS.append(Scenario(WAIT, "granian", "ack", ProducerSettings.client, simulated_acks=True))
SCENARIOS += [
    Scenario(f"batch-{client}", DEFAULT_SERVER, "ack", client, "batch",
             api=SINGLE[(DEFAULT_SERVER, client, "ack")])
    for client in CLIENTS
]  # fmt: skip


def topic_size(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


class Target:
    """One started API with its topic and, for Kafka scenarios, the consumer writing its log."""

    def __init__(self, api: ApiService, topic: str, consumer: ConsumerService | None) -> None:
        self.api, self.topic, self.consumer = api, topic, consumer
        self.logged = LogCounter([consumer.log_file]) if consumer else None

    def wait_logged(self, lines: int, timeout_s: float = 120.0) -> float | None:
        """Epoch seconds when the log first held `lines` lines (polled every 5 ms); None if never."""
        reached = self.logged.wait_for(lines, timeout_s, interval=0.005,
                                       alive=self.consumer.process.running) >= lines  # fmt: skip
        return time.time() if reached else None

    def stop(self) -> None:
        self.api.stop()
        if self.consumer:
            self.consumer.stop()


def run_once(target: Target, scenario: Scenario, args, broker_pids=()) -> dict:
    batch = scenario.endpoint == "batch"
    config = SimulatorConfig(
        url=target.api.url,
        events=args.batch_events if batch else args.events,
        threads=args.batch_threads if batch else args.threads,
        endpoint=scenario.endpoint,
        events_per_request=500,
    )
    logged_before = target.logged.poll() if target.logged else 0
    sampler = CpuSampler(list(broker_pids)).start()
    started = time.time()
    result = simulate(config, out_dir=None, progress=False)
    api_eps = result.accepted / result.duration_s
    eps = api_eps
    if target.logged:  # end to end: until the consumer has written every accepted event
        done = target.wait_logged(logged_before + result.accepted)
        if done is None:
            raise RuntimeError(f"{scenario.name}: the consumer did not log all accepted events")
        eps = result.accepted / (done - started)
    cpu = sampler.stop()
    return {
        "eps": eps,
        "api_eps": api_eps,
        "accepted": result.accepted,
        "sent": result.sent,
        "p50": result.response_ms["p50"],
        "p99": result.response_ms["p99"],
        # CPU-us per accepted event, per process tree (and the machine's idle time likewise)
        "cpu_us": {k: v / max(1, result.accepted) * 1e6 for k, v in cpu.items()},
    }


def start_targets(scenarios, bootstrap: str, args, log_dir: Path) -> dict[str, Target]:
    targets: dict[str, Target] = {}
    try:
        for s in scenarios:
            if s.api:
                continue
            topic = f"bench-{s.name}-{int(time.time())}"
            admin.create_topic(bootstrap, topic, 3, 1)
            settings = ProducerSettings.from_env(
                {},
                bootstrap_servers=bootstrap, topic=topic, client=s.client, delivery=s.delivery,
                linger_ms=args.linger_ms,
            )  # fmt: skip
            api = ApiService(
                settings, log_dir / f"api-{s.name}.log", server=s.server,
                entry=(WAITING_API,) if s.simulated_acks else API_ENTRY,
                workers=args.workers if s.server != "werkzeug" else None,
                worker_threads=args.worker_threads if s.server != "werkzeug" else None,
            )  # fmt: skip
            consumer = None
            if s.uses_kafka:
                consumer = ConsumerService(
                    bootstrap, topic, f"bench-{s.name}", log_dir / f"events-{s.name}.log",
                    log_dir / f"consumer-{s.name}.out", client=s.client,
                ).start()  # fmt: skip
            targets[s.name] = Target(api.start(), topic, consumer)
    except BaseException:
        for target in targets.values():
            target.stop()
        raise
    return targets


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=200)
    p.add_argument("--batch-events", type=int, default=200_000)
    p.add_argument("--batch-threads", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--workers", type=int, default=None, help="worker processes (the API's default)")
    p.add_argument("--worker-threads", type=int, default=None,
                   help="threads per worker (default: each server's own)")  # fmt: skip
    p.add_argument("--linger-ms", type=int, default=None)
    p.add_argument("--only", help="comma-separated scenario names")
    p.add_argument("--warmup-events", type=int, default=5000, help="per scenario, not measured")
    add_runner_flags(p, f"{QUICK_SCENARIOS}; 3,000 events each")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 3)
        args.events = min(args.events, 3000)
        args.only = args.only or QUICK_SCENARIOS
    return args


def measure(scenarios, targets, args, broker_pids) -> dict[str, list[dict]]:
    """A warm-up run each, then `repeats` rounds over the scenarios (interleaved)."""
    results = {s.name: [] for s in scenarios}
    for s in scenarios:  # warm-up: connections, producers, consumers, JIT of the broker
        warm = argparse.Namespace(**{**vars(args), "events": args.warmup_events,
                                     "batch_events": 20_000})  # fmt: skip
        run_once(targets[s.api or s.name], s, warm)
    for rep in range(args.repeats):
        for s in scenarios:
            r = run_once(targets[s.api or s.name], s, args, broker_pids)
            results[s.name].append(r)
            api = f" (API {r['api_eps']:.0f})" if r["api_eps"] != r["eps"] else ""
            print(f"  rep {rep + 1} {s.name:22s} {r['eps']:9.0f} events/s{api}  "
                  f"p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  "
                  f"accepted {r['accepted']}/{r['sent']}", flush=True)  # fmt: skip
    return results


def record(figs: Figures, results: dict[str, list[dict]]) -> None:
    """Medians into the figures: events/s, latencies, CPU-us/event per process tree."""
    for name, runs in results.items():
        eps = figs.runs(name, [r["eps"] for r in runs], "events/s")
        api_eps = figs.runs(f"{name} at the API", [r["api_eps"] for r in runs], "events/s")
        p50 = figs.runs(f"{name} p50", [r["p50"] for r in runs], "ms")
        p99 = figs.runs(f"{name} p99", [r["p99"] for r in runs], "ms")
        kinds = sorted({k for r in runs for k in r["cpu_us"]})
        cpu = {k: figs.runs(f"{name} CPU {k}", [r["cpu_us"].get(k, 0.0) for r in runs],
                            "CPU-us/event") for k in kinds}  # fmt: skip
        # The bound: events/s if every core ran only this path at its CPU per event (our
        # processes: API, simulator, broker, consumer; not idle time, not other users' load).
        path_us = [ours(r["cpu_us"]) for r in runs]
        if all(path_us):  # CPU was accounted in every repetition
            figs.runs(f"{name} CPU ours", path_us, "CPU-us/event")
            figs.runs(f"{name} bound", [bound_eps(us) for us in path_us], "events/s")
        at = f"(API {api_eps:6.0f})" if api_eps != eps else " " * 12
        print(f"{name:22s} {eps:9.0f} events/s {at}  p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   CPU-us/event: "
              + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items()))  # fmt: skip


def ratios(figs: Figures) -> None:
    """Items 1 and 2 for the default, the other servers beside it, and granian against gunicorn."""

    def ratio(name, item, numerator, denominator, target=None):
        if {numerator, denominator} <= figs.data["figures"].keys():  # both were measured
            figs.ratio(name, item, numerator, denominator, target)

    default, default_noop = DEFAULT, NOOP_OF[DEFAULT_SERVER]
    ratio(f"the default ({default}) / seed-style (Werkzeug + flush)", 1, default, "seed", 10)
    ratio(f"the default ({default}) / no-op handler on its server", 2, default, default_noop, 0.8)
    for server, noop in NOOP_OF.items():
        ratio(f"no-op on {server} / seed-style: the most item 1 can reach there", None, noop,
              "seed")  # fmt: skip
    for (server, client, delivery), name in SINGLE.items():
        if delivery == "ack" and name != default:
            ratio(f"{name} ({server}, {client}) / seed-style", 1, name, "seed", 10)
            ratio(f"{name} / no-op on {server}", 2, name, NOOP_OF[server], 0.8)
    # What Kafka adds to the default's handler, split: waiting for an ack, then the client and
    # broker behind it (the same app and server; only the Publisher's client differs).
    if DEFAULT_SERVER == "granian":
        ratio("waiting handler (simulated acks, no Kafka) / no-op on granian", None, WAIT,
              default_noop)  # fmt: skip
        ratio(f"the default ({default}) / waiting handler: the Kafka client and broker", None,
              default, WAIT)  # fmt: skip
    # Bounds of items 1 and 2 from CPU per event, same run: what the ratios would be with no core
    # idle and none lent to other users (how the cores were spent: the "CPU" figures).
    ratio(f"the default's bound (all {CORES} cores at its CPU per event) / seed-style", None,
          f"{default} bound", "seed")  # fmt: skip
    ratio(f"the default's bound / the no-op handler's bound, on {DEFAULT_SERVER}", None,
          f"{default} bound", f"{default_noop} bound")  # fmt: skip
    if DEFAULT_SERVER == "granian":
        ratio("the waiting handler's bound / the no-op handler's bound", None, f"{WAIT} bound",
              f"{default_noop} bound")  # fmt: skip
    ratio("granian / gunicorn, no-op handler", None, "noop-granian", "noop")
    ratio("granian / gunicorn, full path (kafka-python)", None, "granian", "full")
    ratio("granian / gunicorn, full path (confluent-kafka)", None, "granian-confluent",
          "full-confluent")  # fmt: skip
    if "batch-confluent-kafka" in figs.data["figures"]:  # the figure for the faster client
        figs.ratio("HTTP batch of 500, end to end (confluent-kafka)", None,
                   "batch-confluent-kafka", None, 50_000)  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    scenarios = [s for s in SCENARIOS if wanted is None or s.name in wanted]
    needed = {s.api for s in scenarios if s.api}
    scenarios_to_start = [s for s in SCENARIOS if s in scenarios or s.name in needed]
    figs = Figures("api", "Producer API: seed-style vs tuned, Kafka's share of the HTTP path",
                   vars(args))  # fmt: skip

    print(machine_line())
    print(f"load average at start: {os.getloadavg()}; kafka-python "
          f"{library_version('kafka-python')}, confluent-kafka {library_version('confluent-kafka')}, "
          f"gunicorn {library_version('gunicorn')}, granian {library_version('granian')}; "
          f"the default: {DEFAULT}")  # fmt: skip
    print(f"singles: {args.events} events from {args.threads} concurrent senders; batches: "
          f"{args.batch_events} events, 500 per request, {args.batch_threads} senders; "
          f"medians of {args.repeats}", flush=True)  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        tmp_path = Path(tmp)
        with broker(args.bootstrap_servers, tmp_path / "kafka") as (bootstrap, broker_pids):
            targets = start_targets(scenarios_to_start, bootstrap, args, tmp_path)
            try:
                results = measure(scenarios, targets, args, broker_pids)
                for name, target in targets.items():
                    if target.consumer:
                        print(f"  topic of {name}: {topic_size(bootstrap, target.topic)} records")
            finally:
                for target in targets.values():
                    target.stop()

    print()
    record(figs, results)
    ratios(figs)
    figs.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
