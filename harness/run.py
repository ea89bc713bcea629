"""One experiment, end to end: `python -m harness run [parameters] --out DIR`.

Broker(s) (embedded unless `bootstrap_servers`) -> topic -> consumers -> API -> simulator -> drain ->
stop everything -> analysis. Every process is owned by an ExitStack, so it stops on success,
failure and Ctrl-C. The run directory gets metrics.json, config.json, the consumers' logs, the
simulator's records and the services' own logs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from app.settings import ProducerSettings
from harness import admin, faults
from harness.analysis import compute_metrics, read_client_records, read_events_log
from harness.environment import environment
from harness.java import harness_home
from harness.kafka import EmbeddedKafka
from harness.loadgen.config import SimulatorConfig, new_run_id
from harness.params import RunConfig, add_run_arguments, config_from_args
from harness.services import ApiService, ConsumerService
from harness.simulator import measure_ceiling, simulate

RECORDS_FILE = "client_records.parquet"


def outside_event_loop(fn, *args, **kwargs):
    """Calls `fn` here, or in a worker thread when this thread runs an asyncio loop (a Jupyter
    kernel does): the simulator runs its own loop, and asyncio allows one loop per thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    with ThreadPoolExecutor(1, thread_name_prefix="simulator") as pool:
        return pool.submit(fn, *args, **kwargs).result()


def events_log_path(out_dir: Path, index: int, consumers: int) -> Path:
    """`events.log` for a single consumer, `events-<i>.log` for consumer i of several."""
    return out_dir / ("events.log" if consumers == 1 else f"events-{index}.log")


class LogCounter:
    """Counts the lines of the consumers' logs incrementally (cheap to poll while draining)."""

    def __init__(self, paths: list[Path]) -> None:
        self.offsets = {p: 0 for p in paths}
        self.lines = 0

    def poll(self) -> int:
        for path, offset in self.offsets.items():
            try:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except FileNotFoundError:
                continue
            self.offsets[path] = offset + len(data)
            self.lines += data.count(b"\n")
        return self.lines


def wait_drained(
    log_paths: list[Path], accepted_ids: set[str], consumers: list[ConsumerService], timeout: float
) -> dict:
    """Until every accepted event id is in the logs, a consumer dies, or `timeout` passes."""
    counter = LogCounter(log_paths)
    start = time.monotonic()
    missing = len(accepted_ids)
    while True:
        if counter.poll() >= len(accepted_ids):
            logged = set(read_events_log(log_paths)["event_id"])
            missing = len(accepted_ids - logged)
            if not missing:
                return {"drained": True, "drain_s": round(time.monotonic() - start, 3)}
        dead = [c for c in consumers if not c.process.running()]
        if dead or time.monotonic() - start > timeout:
            return {
                "drained": False,
                "drain_s": round(time.monotonic() - start, 3),
                "missing_at_timeout": missing,
                "reason": "a consumer exited" if dead else f"drain timeout ({timeout:.0f} s)",
            }
        time.sleep(0.1)


def producer_settings(cfg: RunConfig, bootstrap: str, topic: str, delivery: str | None = None):
    return ProducerSettings.from_env(
        {},
        bootstrap_servers=bootstrap,
        topic=topic,
        client=cfg.client,
        acks=cfg.acks,
        linger_ms=cfg.linger_ms,
        batch_size=cfg.batch_size,
        compression=cfg.compression,
        delivery=delivery or cfg.delivery,
        delivery_timeout_s=cfg.delivery_timeout_s,
        max_batch_events=max(1000, cfg.events_per_request),
    )


def simulator_config(cfg: RunConfig, url: str, run_id: str) -> SimulatorConfig:
    return SimulatorConfig(
        url=url,
        events=cfg.events,
        threads=cfg.threads,
        rate=cfg.rate,
        endpoint=cfg.endpoint,
        events_per_request=cfg.events_per_request,
        run_id=run_id,
    )


def measure_api_ceiling(
    cfg: RunConfig, log_dir: Path, events: int = 20_000, repeats: int = 3
) -> float:
    """The simulator's requests/s against the run's server with a no-op handler (no Kafka)."""
    settings = producer_settings(cfg, cfg.bootstrap_servers or "127.0.0.1:9", cfg.topic,
                                 delivery="noop")  # fmt: skip
    log_dir.mkdir(parents=True, exist_ok=True)
    with ApiService(settings, log_dir / "api-noop.log", server=cfg.server,
                    workers=cfg.workers, threads=cfg.worker_threads) as noop:  # fmt: skip
        return outside_event_loop(
            measure_ceiling,
            noop.url,
            threads=cfg.threads,
            endpoint=cfg.endpoint,
            events_per_request=cfg.events_per_request,
            events=min(cfg.events, events),
            repeats=repeats,
        )


def run_experiment(cfg: RunConfig, out_dir: Path, progress: bool = True) -> dict:
    """Runs one experiment into `out_dir` and returns its metrics (also in metrics.json)."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    env = environment(cfg.client)
    (out_dir / "config.json").write_text(
        json.dumps({"run_id": run_id, **cfg.to_dict()}, indent=2) + "\n"
    )
    say = (
        (lambda msg: print(f"[harness] {msg}", file=sys.stderr, flush=True))
        if progress
        else (lambda msg: None)
    )
    report: dict = {"run_id": run_id}
    kafka = None
    with ExitStack() as stack:
        if cfg.bootstrap_servers:
            bootstrap = cfg.bootstrap_servers
            topic = f"{cfg.topic}-{run_id}"  # an external cluster: never mix with older events
        else:
            say(f"starting {cfg.brokers} embedded Kafka broker(s)")
            root = harness_home() / "kafka" / f"run-{run_id}"
            kafka = EmbeddedKafka(brokers=cfg.brokers, root=root, min_insync_replicas=cfg.isr())
            stack.callback(_keep_broker_logs, kafka, out_dir, root)  # runs after the brokers stop
            stack.enter_context(kafka)
            bootstrap, topic = kafka.bootstrap_servers, cfg.topic
        admin.create_topic(
            bootstrap, topic, cfg.partitions, cfg.replication_factor,
            config={"min.insync.replicas": str(cfg.isr())},
        )  # fmt: skip
        report["topic"] = topic

        ceiling = cfg.ceiling_rps
        if cfg.measure_ceiling:
            say("measuring the simulator's ceiling against a no-op API")
            ceiling = measure_api_ceiling(replace(cfg, bootstrap_servers=bootstrap), out_dir)
            report["ceiling_rps"] = ceiling

        say(f"starting {cfg.consumers} consumer(s) and the API ({cfg.server}, {cfg.delivery})")
        log_paths = [events_log_path(out_dir, i, cfg.consumers) for i in range(cfg.consumers)]
        consumers = [
            ConsumerService(
                bootstrap, topic, f"harness-{run_id}", log_paths[i],
                output_path=out_dir / f"consumer-{i}.out", client=cfg.client,
            )
            for i in range(cfg.consumers)
        ]  # fmt: skip
        for consumer in consumers:
            stack.enter_context(consumer.starting())
        for consumer in consumers:
            consumer.wait_ready()
        api = ApiService(
            producer_settings(cfg, bootstrap, topic), out_dir / "api.log", server=cfg.server,
            workers=cfg.workers, threads=cfg.worker_threads,
        )  # fmt: skip
        stack.enter_context(api)

        trigger = None
        if cfg.fault != "none":
            steps = faults.plan(cfg, kafka, consumers, api, topic, bootstrap)
            trigger = faults.FaultTrigger(bootstrap, topic, cfg.partitions, steps).start()
            stack.callback(trigger.stop)

        say(f"simulating {cfg.events} events against {api.url}")
        result = outside_event_loop(
            simulate, simulator_config(cfg, api.url, run_id), out_dir, progress=progress
        )
        if trigger is not None:
            report["faults"] = trigger.stop()
            if len(report["faults"]) < len(steps):
                report["faults"].append(
                    {"fault": cfg.fault, "error": "not triggered: run too short"}
                )
        api.stop()  # async delivery: the graceful stop flushes what was only queued

        records = read_client_records(out_dir / RECORDS_FILE)
        accepted = set(records.loc[records["accepted"], "event_id"])
        say(f"waiting for the consumers to log {len(accepted)} accepted events")
        report["drain"] = wait_drained(log_paths, accepted, consumers, cfg.drain_timeout_s)
        report["simulator"] = result.to_dict()
    # Everything is stopped here; analysis reads the files the run left.
    metrics = compute_metrics(
        records, read_events_log(log_paths), cfg.to_dict(), env, ceiling_rps=ceiling
    )
    metrics["run"] = report
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _keep_broker_logs(kafka: EmbeddedKafka, out_dir: Path, root: Path) -> None:
    """Copy each broker's own log into the run directory, then drop the broker's data."""
    for node in kafka.nodes:
        src = node.logs_dir / "server.log"
        if src.exists():
            shutil.copy(src, out_dir / f"kafka-{node.node_id}.log")
    shutil.rmtree(root, ignore_errors=True)


def summary_line(metrics: dict) -> str:
    c, lat = metrics["counts"], metrics["latency_ms"]
    http, e2e = lat["http"] or {}, lat["e2e"] or {}
    tput = metrics.get("throughput_eps") or 0
    return (
        f"{tput:,.0f} events/s; http p50 {http.get('p50', 0):.1f} ms p99 {http.get('p99', 0):.1f} ms; "
        f"e2e p99 {e2e.get('p99', 0):.1f} ms; sent {c['sent']} accepted {c['accepted']} "
        f"consumed {c['consumed']} unique {c['unique_consumed']} lost {c['lost']} "
        f"duplicates {c['duplicates']}"
    )


def cmd_run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    metrics = run_experiment(cfg, Path(args.out), progress=not args.quiet)
    print(summary_line(metrics))
    print(f"metrics: {Path(args.out).resolve() / 'metrics.json'}")
    return 1 if metrics["counts"]["lost"] else 0


def add_parsers(sub) -> None:
    p = sub.add_parser("run", help="one experiment, end to end; writes DIR/metrics.json")
    add_run_arguments(p)
    p.add_argument("--out", required=True, help="the run directory")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_run)
