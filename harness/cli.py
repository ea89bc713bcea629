"""`python -m harness ...`: the command line of docs/CONTRACTS.md.

Each feature module contributes its subcommands through `add_parsers(subparsers)`; this module only
wires them together, turns SIGTERM into a clean exit (so every context manager stops its processes),
and prints errors as one clear message instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from harness import kafka
from harness.cluster import choose_bootstrap
from harness.java import SetupError
from harness.loadgen.generators import GeneratorFailed
from harness.params import ParameterError
from harness.progress import decide_progress_style

# Each subcommand and the module that adds it (its `add_parsers(subparsers)`). A command line
# imports only its command's module: all of them took 1.3 CPU-s to import (matplotlib, pandas,
# Jupyter), `harness kafka status` 1.4 CPU-s in all where it needs none of them.
COMMANDS = {
    "up": "harness.updown",
    "down": "harness.updown",
    "run": "harness.run",
    "sweep": "harness.sweep",
    "report": "harness.report",
    "bench": "harness.bench",
    "compare": "harness.compare",
    "capacity": "harness.capacity",
}


def cmd_kafka(args: argparse.Namespace) -> int:
    external = choose_bootstrap(args.bootstrap_servers)
    if external:
        if args.action == "stop":
            print(f"Using the external cluster {external}: nothing to stop.")
            return 0
        try:
            info = kafka.describe_cluster(external, timeout_s=5)
        except Exception as exc:
            print(f"The external cluster {external} does not answer: {exc}", file=sys.stderr)
            return 1
        print(external)
        print(
            f"(external cluster, {len(info['brokers'])} broker(s); nothing started)",
            file=sys.stderr,
        )
        return 0
    if args.action == "start":
        state = kafka.start_detached(brokers=args.brokers, port=args.port, host=args.host,
                                     controller_port=args.controller_port)  # fmt: skip
        print(state["bootstrap_servers"])
        print(
            f"Kafka {state['kafka_version']} started (pids {state['pids']}, data in {state['root']}); "
            "stop it with `python -m harness kafka stop`.",
            file=sys.stderr,
        )
        return 0
    if args.action == "status":
        ok, message = kafka.status_detached()
        print(message)
        return 0 if ok else 1
    stopped = kafka.stop_detached()
    print(f"Stopped Kafka (pids {stopped})." if stopped else "No embedded Kafka was running.")
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; for `command` alone when it names one (the parser of any other
    command line, `--help` or a misspelled command, has them all)."""
    parser = argparse.ArgumentParser(
        prog="python -m harness", description="Benchmark harness for HTTP -> Kafka event ingestion."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("kafka", help="start, inspect or stop the embedded Kafka broker(s)")
    p.add_argument("action", choices=["start", "status", "stop"])
    p.add_argument("--brokers", type=int, default=1, help="number of brokers (default 1)")
    p.add_argument("--port", type=int, default=kafka.DEFAULT_PORT,
                   help="the (first) broker's port (default: 9092)")  # fmt: skip
    p.add_argument("--controller-port", type=int, default=None,
                   help="the (first) KRaft controller's port (default: a free port)")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--bootstrap-servers",
        help="use this external cluster and start nothing (also KAFKA_BOOTSTRAP_SERVERS)",
    )
    p.set_defaults(func=cmd_kafka)

    if command == "kafka":
        return parser
    wanted = [COMMANDS[command]] if command in COMMANDS else COMMANDS.values()
    for name in dict.fromkeys(wanted):
        importlib.import_module(name).add_parsers(sub)
    return parser


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    decide_progress_style()  # bars on a terminal, plain lines in a log; kernels inherit it
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return args.func(args) or 0
    except (SetupError, kafka.KafkaStartError, ParameterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GeneratorFailed as exc:  # a load generator died or stalled mid-run
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: stopped everything this command started", file=sys.stderr)
        return 130
