"""`python -m harness up` / `python -m harness down`: the whole system in the background.

`up` starts (or reuses) the broker, then the consumer (its log in `logs/events.log` under the current
directory, as the original system had it), then the API, each detached so they outlive the command;
it waits until each is ready, records them in `.harness/up.json`, and prints the API's URL.
`down` stops what `up` started, in the order that loses nothing: the API first (its workers flush
their producers), then the consumer once its log has stopped growing, then the broker, if `up`
started it. A broker named by `--bootstrap-servers`/`KAFKA_BOOTSTRAP_SERVERS`, or one already started
with `python -m harness kafka start`, is used and left running.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from app.flags import add_producer_flags, add_server_flags, producer_overrides
from app.settings import ProducerSettings
from harness import admin, kafka
from harness.cluster import choose_bootstrap
from harness.paths import harness_home
from harness.ports import port_in_use
from harness.processes import pid_alive, pid_cmdline, terminate_pid
from harness.services import ApiService, ConsumerService

CONSUMER_GROUP = "events-logger"


def state_path() -> Path:
    return harness_home() / "up.json"


def read_up_state() -> dict | None:
    try:
        return json.loads(state_path().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _alive_as(pid: int | None, marker: str) -> bool:
    """`pid` still runs and is still what we started (pids get reused)."""
    return bool(pid) and pid_alive(pid) and marker in pid_cmdline(pid)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _broker(args: argparse.Namespace) -> tuple[str, bool]:
    """(bootstrap servers, whether `up` started the broker and so `down` must stop it)."""
    external = choose_bootstrap(args.bootstrap_servers)
    if external:
        _say(f"using the external cluster {external}")
        return external, False
    running, _ = kafka.status_detached()
    if running:
        bootstrap = kafka.read_state()["bootstrap_servers"]
        _say(f"using the embedded Kafka already running at {bootstrap}")
        return bootstrap, False
    _say("starting the embedded Kafka broker")
    state = kafka.start_detached(port=args.kafka_port)
    return state["bootstrap_servers"], True


def cmd_up(args: argparse.Namespace) -> int:
    state = read_up_state()
    if state and _alive_as(state["api"]["pid"], "app.producer"):
        _say(f"already up at {state['api']['url']} (`python -m harness down` stops it)")
        print(state["api"]["url"])
        return 1
    if port_in_use(args.port, args.host):
        _say(f"port {args.port} is taken: pass --port")
        return 1
    settings = ProducerSettings.from_env(topic=args.topic, **producer_overrides(args))
    run_dir = harness_home() / "up"
    log_file = Path.cwd() / "logs" / "events.log"
    started: dict = {"kafka_started": False}
    try:
        bootstrap, started["kafka_started"] = _broker(args)
        settings = settings.replace(bootstrap_servers=bootstrap)
        if admin.ensure_topic(bootstrap, settings.topic, args.partitions):
            _say(f"created topic {settings.topic} ({args.partitions} partitions)")
        consumer = ConsumerService(
            bootstrap, settings.topic, CONSUMER_GROUP, log_file,
            output_path=run_dir / "consumer.out", client=settings.client, detached=True,
        )  # fmt: skip
        consumer.start()
        started["consumer_pid"] = consumer.pid
        api = ApiService(
            settings, run_dir / "api.log", port=args.port, host=args.host, server=args.server,
            workers=args.workers, worker_threads=args.worker_threads,
            backpressure=args.backpressure, detached=True,
        )  # fmt: skip
        api.start()
    except BaseException:
        _say("start-up failed: stopping what was started")
        _stop_started(started)
        raise
    state = {
        "api": {"pid": api.pid, "url": api.url, "log": str(api.process.log_path)},
        "consumer": {"pid": consumer.pid, "log_file": str(log_file),
                     "output": str(consumer.output_path)},
        "kafka": {"bootstrap_servers": bootstrap, "started_by_up": started["kafka_started"]},
        "settings": settings.public_dict(),
    }  # fmt: skip
    state_path().parent.mkdir(parents=True, exist_ok=True)
    state_path().write_text(json.dumps(state, indent=2))
    _say(
        f"consumer logging to {log_file}; API logs in {run_dir}; stop with `python -m harness down`"
    )
    print(api.url)
    return 0


def _stop_started(started: dict) -> None:
    if started.get("consumer_pid"):
        terminate_pid(started["consumer_pid"])
    if started.get("kafka_started"):
        kafka.stop_detached()


def wait_log_quiet(path: Path, quiet_s: float = 1.0, timeout: float = 15.0) -> None:
    """Until `path` has not grown for `quiet_s` (the consumer caught up), at most `timeout`."""
    deadline = time.monotonic() + timeout
    last_size, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if size != last_size:
            last_size, last_change = size, time.monotonic()
        elif time.monotonic() - last_change >= quiet_s:
            return
        time.sleep(0.1)


def cmd_down(args: argparse.Namespace) -> int:
    state = read_up_state()
    if not state:
        _say("nothing is up")
        return 0
    api_pid = state["api"]["pid"]
    if _alive_as(api_pid, "app.producer"):
        # The server's graceful stop: in-flight requests finish and every worker flushes.
        terminate_pid(api_pid, timeout=60)
        _say(f"stopped the API (pid {api_pid})")
    consumer_pid = state["consumer"]["pid"]
    if _alive_as(consumer_pid, "app.consumer"):
        wait_log_quiet(Path(state["consumer"]["log_file"]))
        terminate_pid(consumer_pid, timeout=30)
        _say(
            f"stopped the consumer (pid {consumer_pid}); events in {state['consumer']['log_file']}"
        )
    if state["kafka"]["started_by_up"]:
        stopped = kafka.stop_detached()
        _say(f"stopped Kafka (pids {stopped})")
    state_path().unlink(missing_ok=True)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("up", help="broker + consumer + API in the background; prints the API URL")
    add_server_flags(p)
    p.add_argument(
        "--bootstrap-servers",
        help="use this external cluster (also KAFKA_BOOTSTRAP_SERVERS); start no broker",
    )
    p.add_argument(
        "--kafka-port",
        type=int,
        default=kafka.DEFAULT_PORT,
        help="port of the embedded broker when one is started (default 9092)",
    )
    p.add_argument("--topic", default=None, help="topic (default: EVENTS_TOPIC or events)")
    p.add_argument("--partitions", type=int, default=3, help="partitions when the topic is new")
    add_producer_flags(p)
    p.set_defaults(func=cmd_up)  # fmt: skip

    p = sub.add_parser("down", help="stop what `up` started")
    p.set_defaults(func=cmd_down)
