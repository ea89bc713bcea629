"""One experiment, end to end: `python -m harness run [parameters] --out DIR`.

Broker(s) (embedded unless `bootstrap_servers`) -> topic -> consumers -> API -> simulator -> drain ->
stop everything -> analysis. Every process is owned by an ExitStack, so it stops on success,
failure and Ctrl-C. The run directory gets metrics.json, config.json, the consumers' logs, the
simulator's records and the services' own logs.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.settings import NO_KEY, KafkaSecurity
from harness import admin, audit, faults
from harness.analysis import compute_metrics, read_client_records, read_events_log
from harness.analysis.metrics import NO_WINDOW
from harness.analysis.order import audit_order
from harness.analysis.recovery import DEFAULT_P99_OBJECTIVE_MS, fault_figures
from harness.analysis.timeline import request_frame, timeline
from harness.cluster import cluster_security
from harness.environment import environment
from harness.kafka import EmbeddedKafka
from harness.loadgen.config import new_run_id
from harness.params import ParameterError, RunConfig, add_run_arguments, config_from_args
from harness.paths import harness_home
from harness.progress import PointProgress, result_line
from harness.rundir import (
    API_LOG,
    CONFIG_FILE,
    METRICS_FILE,
    POINTS_FILE,
    RECORDS_FILE,
    SUMMARY_FILE,
    TIMELINE_FILE,
    LogCounter,
    broker_log_path,
    consumer_output_path,
    events_log_paths,
    repetition_dir,
    write_json,
)
from harness.services import ApiService, ConsumerService
from harness.simulator import measure_ceiling, simulate

Say = Callable[[str], None]


def outside_event_loop(fn, *args, **kwargs):
    """Calls `fn` here, or in a thread of its own when this thread runs an asyncio loop (a Jupyter
    kernel does): the simulator runs its own loop, and asyncio allows one loop per thread.

    The thread is a daemon that nobody waits for once the caller is interrupted: on Ctrl-C (a
    kernel interrupted) the caller's clean-up stops the system at once, and the simulation, left
    sending to a stopped API, ends with the process. An executor's thread was waited for, to the
    end of the load, while the brokers, API and consumers kept running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn(*args, **kwargs)
    outcome: dict = {}

    def call() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # raised again in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=call, name="simulator", daemon=True)
    thread.start()
    thread.join()  # KeyboardInterrupt ends the wait
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def wait_drained(
    log_paths: list[Path],
    accepted_ids: set[str],
    consumers: list[ConsumerService],
    timeout: float,
    lines_before: int = 0,
) -> dict:
    """Until every accepted event id is in the logs, a consumer dies, or `timeout` passes.

    The logs are read whole only once they hold as many lines as were accepted since
    `lines_before` (their line count before this load): a system measured many times (capacity
    steps) would otherwise re-read every earlier step's lines at each poll."""

    def unlogged() -> int:
        return len(accepted_ids - set(read_events_log(log_paths)["event_id"]))

    counter = LogCounter(log_paths)
    start = time.monotonic()
    while True:
        if counter.poll() - lines_before >= len(accepted_ids) and not unlogged():
            return {"drained": True, "drain_s": round(time.monotonic() - start, 3)}
        dead = [c for c in consumers if not c.process.running()]
        if dead or time.monotonic() - start > timeout:
            return {
                "drained": False,
                "drain_s": round(time.monotonic() - start, 3),
                "missing_at_timeout": unlogged(),
                "reason": "a consumer exited" if dead else f"drain timeout ({timeout:.0f} s)",
            }
        time.sleep(0.1)


def measure_api_ceiling(
    cfg: RunConfig, log_dir: Path, events: int = 20_000, repeats: int = 3
) -> float:
    """The simulator's requests/s against the run's server with a no-op handler (no Kafka)."""
    settings = cfg.producer_settings(cfg.bootstrap_servers or "127.0.0.1:9", cfg.topic,
                                     delivery="noop")  # fmt: skip
    log_dir.mkdir(parents=True, exist_ok=True)
    with ApiService(settings, log_dir / "api-noop.log", server=cfg.server,
                    workers=cfg.workers, worker_threads=cfg.worker_threads) as noop:  # fmt: skip
        return outside_event_loop(
            measure_ceiling,
            noop.url,
            threads=cfg.threads,
            endpoint=cfg.endpoint,
            events_per_request=cfg.events_per_request,
            events=min(cfg.events, events),
            repeats=repeats,
        )


def progress_printer(progress: bool) -> Say:
    if not progress:
        return lambda msg: None
    return lambda msg: print(f"[harness] {msg}", file=sys.stderr, flush=True)


@dataclass
class System:
    """The system under test while it runs: the cluster, the topic, and the API to load.

    `api` and `consumers` are None / empty when the system is someone else's (`api_url`)."""

    bootstrap: str
    topic: str
    api_url: str
    kafka: EmbeddedKafka | None = None
    api: ApiService | None = None
    consumers: list[ConsumerService] = field(default_factory=list)
    log_paths: list[Path] = field(default_factory=list)
    ceiling_rps: float | None = None
    broker_warmup: dict | None = None  # what warm_up_broker did, when it warmed this broker
    security: KafkaSecurity = field(default_factory=KafkaSecurity)  # the cluster's SASL/SSL
    generators: object | None = None  # a GeneratorPool on Dask; None: one, in this process


def warm_up_broker(cfg: RunConfig, bootstrap: str, say: Say = print) -> dict:
    """Drives `cfg.broker_warmup_s` seconds of `cfg`'s load through a broker the harness has just
    started, and throws it away: its own topic, API and consumers (stopped, their files deleted).
    The real path (not a raw producer) is what the JVM must compile: a 15 s raw produce/consume
    blast left the broker at ~3x its warm CPU per event in the first run after it."""
    import tempfile

    seconds = cfg.broker_warmup_s
    say(f"warming the broker up: {seconds:g} s of this run's load, not measured")
    warm = warmup_config(cfg, bootstrap)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=harness_home()) as tmp:
        # The harness's own broker: plaintext, whatever the environment says of other clusters.
        with open_system(warm, Path(tmp), lambda msg: None, security=KafkaSecurity()) as system:
            sim = warm.simulator_config(system.api_url, new_run_id(), warmup_s=0.0,
                                        duration_s=seconds, rate=None, stages=None,
                                        arrivals="uniform")  # fmt: skip
            result = outside_event_loop(simulate, sim, None, progress=False)
    return {"seconds": seconds, "events": result.sent, "accepted": result.accepted,
            "events_per_s": round(result.achieved_eps, 1),
            "took_s": round(time.monotonic() - started, 1)}  # fmt: skip


def warmup_config(cfg: RunConfig, bootstrap: str) -> RunConfig:
    """The broker warm-up's run: `cfg`'s load on the cluster just started (as a cluster the run
    does not start itself: brokers=1 says so; its topic keeps the replication factor), without
    a fault, from the one in-process generator (not measured: it warms the JVM as well as
    several)."""
    return replace(cfg, bootstrap_servers=bootstrap, brokers=1, broker_warmup_s=0.0, fault="none",
                   fault_at_s=None, fault_cycles=1, fault_every_s=None,
                   measure_ceiling=False, generators=None, dask_scheduler=None)  # fmt: skip


@contextmanager
def open_system(
    cfg: RunConfig,
    out_dir: Path,
    say: Say = print,
    security: KafkaSecurity | None = None,
    kafka: EmbeddedKafka | None = None,
) -> Iterator[System]:
    """Starts (or attaches to) the system of `cfg`; stops what it started on exit, also on
    failure and Ctrl-C. The consumers' logs and the services' own logs go to `out_dir`.

    `security`: the cluster's SASL/SSL settings for every client (default: those of the
    environment for an external cluster, none for an embedded one). A topic the run creates on
    an external cluster is deleted at the end unless `keep_topic`. `kafka`: an embedded cluster
    the caller owns and keeps running (it is neither warmed nor stopped here; broker faults act
    on it, and a fault run leaves it whole: every broker running, replicas in sync, except after
    the count-triggered kill-broker, whose broker stays down); the run gets a topic of its own."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    if security is None:
        security = cluster_security(None if kafka else cfg.bootstrap_servers)
    with ExitStack() as stack:
        # First: a Dask scheduler that cannot be reached is refused before anything starts.
        generators = open_generator_pool(cfg, stack, say)
        given = kafka
        if given is not None:
            if given.brokers != cfg.brokers:
                raise ValueError(f"brokers={cfg.brokers}, but the cluster given has "
                                 f"{given.brokers}")  # fmt: skip
            bootstrap = given.bootstrap_servers
        elif cfg.bootstrap_servers:
            bootstrap = cfg.bootstrap_servers
        else:
            say(f"starting {cfg.brokers} embedded Kafka broker(s)")
            root = harness_home() / "kafka" / f"run-{new_run_id()}"
            kafka = EmbeddedKafka(brokers=cfg.brokers, root=root, min_insync_replicas=cfg.isr())
            stack.callback(_keep_broker_logs, kafka, out_dir, root)  # runs after the brokers stop
            stack.enter_context(kafka)
            bootstrap = kafka.bootstrap_servers
        warmed = None
        if kafka and not given and cfg.broker_warmup_s > 0 and not cfg.api_url:
            warmed = warm_up_broker(cfg, bootstrap, say)
        if cfg.api_url:
            # Someone else's API produces to its own topic: the run's `topic` must name it.
            say(f"driving the API at {cfg.api_url}; auditing topic {cfg.topic} on {bootstrap}")
            yield System(bootstrap, cfg.topic, cfg.api_url, kafka=kafka, security=security,
                         generators=generators)  # fmt: skip
            return
        # An external cluster, or one the caller keeps, may hold older events: a topic of its
        # own keeps them apart.
        topic = cfg.topic if kafka and not given else f"{cfg.topic}-{new_run_id()}"
        admin_config = security.for_client("kafka-python")
        # LogAppendTime: a record's timestamp is when the broker appended it (the topic audit's
        # end of e2e latency), whatever the producer's clock says.
        admin.create_topic(
            bootstrap, topic, cfg.partitions, cfg.replication_factor,
            config={"min.insync.replicas": str(cfg.isr()), **audit.LOG_APPEND_TIME},
            **admin_config,
        )  # fmt: skip
        if not kafka and not given:
            say(f"created topic {topic} on {bootstrap} (replication factor "
                f"{cfg.replication_factor}: --replication-factor to match your own topics)")  # fmt: skip
            if not cfg.keep_topic:
                stack.callback(_delete_topic, bootstrap, topic, admin_config, say)
        ceiling = cfg.ceiling_rps
        if cfg.measure_ceiling:
            say("measuring the simulator's ceiling against a no-op API")
            ceiling = measure_api_ceiling(replace(cfg, bootstrap_servers=bootstrap), out_dir)
        say(f"starting {cfg.consumers} consumer(s) and the API ({cfg.server}, {cfg.delivery})")
        log_paths = events_log_paths(out_dir, cfg.consumers)
        group = f"harness-{new_run_id()}"
        consumers = [
            ConsumerService(bootstrap, topic, group, log_paths[i],
                            output_path=consumer_output_path(out_dir, i), client=cfg.client,
                            security=security)
            for i in range(cfg.consumers)
        ]  # fmt: skip
        for consumer in consumers:
            stack.enter_context(consumer.starting())
        for consumer in consumers:
            consumer.wait_ready()
        api = ApiService(
            cfg.producer_settings(bootstrap, topic, security=security), out_dir / API_LOG,
            server=cfg.server, workers=cfg.workers, worker_threads=cfg.worker_threads,
        )  # fmt: skip
        stack.enter_context(api)
        yield System(bootstrap, topic, api.url, kafka, api, consumers, log_paths, ceiling, warmed,
                     security, generators)  # fmt: skip


def open_generator_pool(cfg: RunConfig, stack: ExitStack, say: Say = print):
    """The run's generators on Dask (entered on `stack`: a LocalCluster of its own is closed
    with it), or None for the one in-process generator, which imports no Dask."""
    if not cfg.uses_dask():
        return None
    from harness.loadgen.generators import GeneratorSetupError, open_generators

    count = cfg.generator_count()
    if cfg.dask_scheduler:
        say(f"using the Dask cluster at {cfg.dask_scheduler} ({count or 'all its'} worker(s) as "
            "generators; nothing of it is started or stopped)")  # fmt: skip
    else:
        say(f"starting a Dask LocalCluster of {count} generator processes")
    try:
        pool = stack.enter_context(open_generators(count, cfg.dask_scheduler))
    except GeneratorSetupError as exc:
        raise ParameterError(str(exc)) from None
    return pool


def _delete_topic(bootstrap: str, topic: str, admin_config: dict, say: Say) -> None:
    """The run's own topic on someone's cluster goes once the run is over (keep_topic keeps
    it); a failure to delete it is said, never raised over the run's own outcome."""
    try:
        admin.delete_topic(bootstrap, topic, **admin_config)
        say(f"deleted topic {topic} (keep it with --keep-topic)")
    except Exception as exc:
        say(f"could not delete topic {topic} on {bootstrap}: {exc}")


def this_run(log, run_id: str):
    """The log lines of one run's events: a system measured several times (repetitions, capacity
    steps) logs them all to the same files, and event ids start with their run's id."""
    return log[log["event_id"].str.startswith(run_id + "-", na=False)]


def wait_logged(log_paths: list[Path], run_id: str, lines: int, timeout: float):
    """The run's log lines once there are `lines` of them (the topic audit's count, duplicates
    included, which may reach the log after the last accepted id), or at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        logged = this_run(read_events_log(log_paths), run_id)
        if len(logged) >= lines or time.monotonic() > deadline:
            return logged
        time.sleep(0.2)


def measure(
    system: System,
    cfg: RunConfig,
    run_dir: Path,
    progress: bool = True,
    slos=(),
    simulator_overrides: dict | None = None,
    p99_objective_ms: float = DEFAULT_P99_OBJECTIVE_MS,
) -> dict:
    """One load phase against a running system: simulate, wait until every accepted event is
    accounted for, and write run_dir/metrics.json (returned) and run_dir/timeline.parquet. Steps
    of a capacity search call this once per step on the same system (with a shorter request
    timeout: simulator_overrides reach the simulator's settings). `p99_objective_ms` judges the
    timeline's bins for the fault figures. A fault that missed the load raises FaultMissedLoad
    once metrics.json is written."""
    say = progress_printer(progress)
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    env = environment(cfg.client)
    write_json(run_dir / CONFIG_FILE, {"run_id": run_id, **cfg.to_dict(), "topic": system.topic})
    report: dict = {"run_id": run_id, "topic": system.topic, "audit": cfg.audit}
    if system.broker_warmup:
        report["broker_warmup"] = system.broker_warmup
    topic_audit = cfg.audit == "topic"
    audit_security = system.security.for_client("confluent-kafka")
    keyed = cfg.key != NO_KEY
    # Before the load: where the topic audit and the order audit start reading, and the base of
    # the records per partition.
    offsets = audit.start_offsets(system.bootstrap, system.topic, audit_security)
    lines_before = LogCounter(system.log_paths).poll()
    if cfg.capacity_from:
        report["rate_from"] = rate_source(cfg)
    trigger = None
    if cfg.fault != "none":
        trigger = faults.trigger(cfg, system.kafka, system.consumers, system.api, system.topic,
                                 system.bootstrap, system.security.for_client("kafka-python"))  # fmt: skip
    try:
        say(f"simulating against {system.api_url}")
        result = outside_event_loop(
            simulate, cfg.simulator_config(system.api_url, run_id, **(simulator_overrides or {})),
            run_dir, progress=progress, generators=system.generators,
            on_start=trigger.load_started if trigger else None,
        )  # fmt: skip
    finally:
        if trigger is not None:
            report["faults"] = [{"fault": cfg.fault, **r} for r in trigger.stop()]
    records = read_client_records(run_dir / RECORDS_FILE)
    accepted = set(records.loc[records["accepted"], "event_id"])
    if system.log_paths:
        say(f"waiting for the consumers to log {len(accepted)} accepted events")
        report["drain"] = wait_drained(system.log_paths, accepted, system.consumers,
                                       cfg.drain_timeout_s, lines_before)  # fmt: skip
    report["simulator"] = result.to_dict()
    ceiling = system.ceiling_rps
    # The run's own topic (not a deployed system's, which other traffic may share): records per
    # partition from its end offsets.
    per_partition = None
    if not cfg.api_url:
        per_partition = audit.records_per_partition(
            offsets, audit.end_offsets(system.bootstrap, system.topic, audit_security)
        )
    found = None
    if topic_audit or keyed:
        say(f"reading topic {system.topic} for {len(accepted)} accepted events"
            + (f" (order per {cfg.key})" if keyed else ""))  # fmt: skip
        started = time.perf_counter()
        found = audit.audit_topic(system.bootstrap, system.topic, offsets, accepted,
                                  cfg.drain_timeout_s, run_id=run_id, keys=keyed,
                                  security=audit_security)  # fmt: skip
        read_s = time.perf_counter() - started
        report["topic_audit"] = found.attrs.get(audit.AUDIT_ATTR, {})
    consumed = found if topic_audit else this_run(read_events_log(system.log_paths), run_id)
    order = None
    if keyed:
        started = time.perf_counter()
        order = audit_order(records, found, cfg.key)
        report["order_audit"] = {"read_s": round(read_s, 3),
                                 "check_s": round(time.perf_counter() - started, 3),
                                 "records_read": len(found)}  # fmt: skip
    tl = timeline(records, consumed, cfg.bin_s)
    tl.to_parquet(run_dir / TIMELINE_FILE, index=False)
    figures = None
    if trigger is not None:
        figures = fault_figures(tl, request_frame(records), report["faults"], cfg.fault,
                                p99_objective_ms, load_end(records), cfg.fault_cycles)  # fmt: skip
    metrics = compute_metrics(records, consumed, cfg.to_dict(), env, ceiling_rps=ceiling,
                              simulator_busy=result.busy, end_offsets=per_partition,
                              order=order, kafka_records=found, generators=result.generators,
                              faults=figures)  # fmt: skip
    if topic_audit and system.log_paths:
        # Both audits of one run: the consumers' log must account for the same events.
        logged = wait_logged(system.log_paths, run_id, len(found), timeout=10)
        report["log_audit_counts"] = compute_metrics(records, logged, cfg.to_dict(), env)["counts"]
    metrics["run"] = report
    if slos:
        from harness.slo import evaluate_slos

        metrics["slo"] = evaluate_slos(slos, metrics)
        metrics["slo_ok"] = all(v["ok"] for v in metrics["slo"])
    write_json(run_dir / METRICS_FILE, metrics)
    missed = faults.missed(report.get("faults") or [])
    if missed:
        raise FaultMissedLoad(missed_text(missed, run_dir))
    return metrics


class FaultMissedLoad(RuntimeError):
    """A fault that did not land while the load ran: the run measured no fault and fails
    (its metrics.json is written, with the reports, for a look)."""


def missed_text(missed: list[dict], run_dir: Path) -> str:
    first = missed[0]
    why = first.get("error") or f"{first.get('fault')} began after the load had ended"
    return (f"{faults.MISSED.upper()}: {len(missed)} fault instant(s) did not land during the "
            f"load ({why}); see {Path(run_dir) / METRICS_FILE} run.faults")  # fmt: skip


def load_end(records) -> float | None:
    """The instant the last request was due (open loop) or left: the end of the load."""
    origin = records["scheduled_at"].fillna(records["sent_at"])
    return float(origin.max()) if len(origin) and origin.notna().any() else None


def rate_source(cfg: RunConfig) -> dict:
    """Where a run's rate came from, when it is a share of a measured capacity."""
    from harness.capacity.tables import measured_capacity

    return {**measured_capacity(cfg.capacity_from), "rate_fraction": cfg.rate_fraction,
            "rate": cfg.rate}  # fmt: skip


def run_experiment(
    cfg: RunConfig,
    out_dir: Path,
    progress: bool = True,
    slos=(),
    p99_objective_ms: float = DEFAULT_P99_OBJECTIVE_MS,
    kafka: EmbeddedKafka | None = None,
) -> dict:
    """Runs one experiment into `out_dir` and returns its metrics (also in metrics.json);
    `kafka`: a cluster of the caller's to run on (open_system)."""
    say = progress_printer(progress)
    with open_system(cfg, out_dir, say, kafka=kafka) as system:
        return measure(system, cfg, out_dir, progress=progress, slos=slos,
                       p99_objective_ms=p99_objective_ms)  # fmt: skip


def _keep_broker_logs(kafka: EmbeddedKafka, out_dir: Path, root: Path) -> None:
    """Copy each broker's own log into the run directory, then drop the broker's data."""
    for node in kafka.nodes:
        src = node.logs_dir / "server.log"
        if src.exists():
            shutil.copy(src, broker_log_path(out_dir, node.node_id))
    shutil.rmtree(root, ignore_errors=True)


def summary_line(metrics: dict) -> str:
    c, lat = metrics["counts"], metrics["latency_ms"]
    http, e2e = lat["http"] or {}, lat["e2e"] or {}
    tput = metrics.get("throughput_eps")
    counts = (
        f"sent {c['sent']} accepted {c['accepted']} consumed {c['consumed']} "
        f"unique {c['unique_consumed']} lost {c['lost']} duplicates {c['duplicates']}"
    )
    if metrics.get("status") == NO_WINDOW:
        warmup = (metrics.get("window") or {}).get("warmup_s")
        seconds = f"{warmup:g} s " if isinstance(warmup, int | float) else ""
        return (
            f"NO MEASURED WINDOW, no figures: every event was sent during the {seconds}"
            f"warm-up (lower --warmup-s or leave it unset, send more --events, or set "
            f"--duration-s); {counts}" + order_text(metrics.get("order"))
        )
    if tput is None:  # measured, but nothing reached the log (or no log to read)
        return f"no events/s: no measured event reached the log; {counts}"

    def ms(stats: dict, key: str) -> str:
        value = stats.get(key)
        return "-" if value is None else f"{value:.1f} ms"

    mbps = metrics.get("throughput_mbps")
    volume = f" ({mbps:,.2f} MB/s)" if mbps is not None else ""
    uncertain = metrics.get("e2e_uncertain_ms")
    clocks = f" (uncertain by {uncertain:.0f} ms: generators' clocks)" if uncertain else ""
    bound = metrics.get("client_bound_message")
    return (
        f"{tput:,.0f} events/s{volume}; http p50 {ms(http, 'p50')} p99 {ms(http, 'p99')}; "
        f"e2e p99 {ms(e2e, 'p99')}{clocks}; {counts}"
        + order_text(metrics.get("order"))
        + fault_text(metrics.get("faults"))
        + (f"; {bound}" if bound else "")
    )


def fault_text(found: dict | None) -> str:
    """The fault figures in the terminal's line: nothing without a fault."""
    if not found or found.get("kind") in (None, "none"):
        return ""

    def spread(stats: dict) -> str:
        if stats.get("median") is None:
            return "not seen (a span did not end before the next fault or the load's end)"
        return f"median {stats['median']:.1f} s, max {stats['max']:.1f} s"

    n = len(found.get("instants") or [])
    return (f"; {found['kind']} x{n}: unavailable {spread(found['unavailability_s'])}; "
            f"recovered {spread(found['recovery_s'])}")  # fmt: skip


def order_text(order: dict | None) -> str:
    """The order audit in the terminal's line: nothing when not audited; a violation loudly."""
    if not order or not order.get("audited"):
        return ""
    text = f"; order per {order['key']}: {order['pairs_checked']:,} pairs checked, "
    if not order["violations"]:
        return text + "0 violations"
    first = (order.get("first_violations") or [{}])[0]
    example = ""
    if first:
        a, b = first["earlier"], first["later"]
        example = (f" (first: {a['event_id']} at {a['partition']}/{a['offset']} answered before "
                   f"{b['event_id']} was sent, which Kafka holds first at "
                   f"{b['partition']}/{b['offset']})")  # fmt: skip
    return text + f"ORDER VIOLATED in {order['violations']:,} pairs{example}"


def run_repetitions(
    cfg: RunConfig,
    out_dir: Path,
    repeat: int,
    progress: bool = True,
    slos=(),
    p99_objective_ms: float = DEFAULT_P99_OBJECTIVE_MS,
) -> list[dict]:
    """`repeat` measurements of one setting on one system, each in its own run directory
    (rundir.repetition_dir); writes out_dir/summary.csv and out_dir/points.csv."""
    from harness.analysis import summarize_sweep
    from harness.analysis.points import points_table

    say = progress_printer(progress)
    out_dir = Path(out_dir).resolve()
    dirs = [repetition_dir(out_dir, k, repeat) for k in range(1, repeat + 1)]
    results = []
    with open_system(cfg, out_dir, say) as system:
        with PointProgress(repeat, desc="repetitions", enabled=progress and repeat > 1) as bar:
            for k, run_dir in enumerate(dirs, 1):
                bar.start(f"rep {k}/{repeat}")
                started = time.monotonic()
                # One bar: the repetitions' (each repetition's own output would interleave with it).
                results.append(measure(system, cfg, run_dir, progress=repeat == 1 and progress,
                                       slos=slos, p99_objective_ms=p99_objective_ms))  # fmt: skip
                bar.done(result_line(f"rep {k}/{repeat}", results[-1],
                                     elapsed_s=time.monotonic() - started))  # fmt: skip
    if repeat > 1:
        summary = summarize_sweep(dirs)
        summary.insert(1, "point", "run")
        summary.insert(2, "label", None)
        summary.insert(3, "repetition", range(1, repeat + 1))
        summary.to_csv(out_dir / SUMMARY_FILE, index=False)
        points_table(summary).to_csv(out_dir / POINTS_FILE, index=False)
    return results


def slo_failures(metrics: dict) -> list[dict]:
    return [v for v in metrics.get("slo") or [] if not v["ok"]]


def cmd_run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    slos = []
    if args.slo:
        from harness.slo import parse_slos

        try:  # a malformed objective fails before anything starts
            slos = parse_slos(args.slo)
        except ValueError as exc:
            raise ParameterError(f"--slo: {exc}") from None
    if args.repeat < 1:
        raise ParameterError(f"--repeat must be >= 1, not {args.repeat}")
    if not args.p99_objective_ms > 0:
        raise ParameterError(f"--p99-objective-ms must be > 0, not {args.p99_objective_ms}")
    try:
        results = run_repetitions(cfg, Path(args.out), args.repeat, progress=not args.quiet,
                                  slos=slos, p99_objective_ms=args.p99_objective_ms)  # fmt: skip
    except FaultMissedLoad as exc:
        print(str(exc), file=sys.stderr)
        return 1
    out = Path(args.out).resolve()
    if args.repeat == 1:
        print(summary_line(results[0]))
        print(f"metrics: {out / METRICS_FILE}")
    else:
        print(result_line("all repetitions", results))
        print(f"points: {out / POINTS_FILE} ({args.repeat} repetitions)")
    failed = [f for m in results for f in slo_failures(m)]
    for verdict in failed:
        print(f"SLO failed: {verdict['expr']} (value {verdict['value']})", file=sys.stderr)
    lost = any(m["counts"]["lost"] for m in results)
    return 1 if lost or failed else 0


def add_parsers(sub) -> None:
    p = sub.add_parser("run", help="one experiment, end to end; writes DIR/metrics.json")
    add_run_arguments(p)
    p.add_argument("--out", required=True, help="the run directory")
    p.add_argument("--repeat", type=int, default=1,
                   help="repetitions on the same system, each in DIR/rep-<k>/; "
                        "DIR/points.csv gets medians and their intervals (a 95%% CI from 6 "
                        "repetitions, below that the range and its coverage)")  # fmt: skip
    p.add_argument("--slo", action="append", metavar="EXPR",
                   help="an objective on metrics.json keys, e.g. 'latency_ms.http.p99 < 250'; "
                        "repeatable; the command exits 1 when one fails")  # fmt: skip
    p.add_argument("--p99-objective-ms", type=float, default=DEFAULT_P99_OBJECTIVE_MS,
                   help="the http p99 a bin of the timeline must stay within to count as good, "
                        "for the fault figures (unavailability; default "
                        f"{DEFAULT_P99_OBJECTIVE_MS:g})")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_run)
