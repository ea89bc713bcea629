"""The Python cost per event of the batch endpoint, without HTTP server or Kafka.

    .venv/bin/python benchmarks/bench_batch_path.py [--events-per-request 500] [--requests 200]
        [--repeats 5] [--quick] [--json PATH]

POST /events goes through Flask's test client to the app with `noop` delivery, so what is timed
is the app's own work per event: parse the body, validate, stamp and serialize each event, and
build the answer with a result per event. Beside it, the floors of that work: orjson parsing the
same body, and orjson serializing each event once (what Kafka needs); "python work" is the
endpoint minus both floors. The body is what the simulator sends (harness/loadgen/payload.py).
CPU time of this process (time.process_time), medians of `--repeats`; one core, so it is a
per-event figure that a loaded machine disturbs little. The heap is set up as the API's own
(app.producer.keep_freed_heap); `--no-heap-tuning` leaves glibc's default to show what that saves.
"""

from __future__ import annotations

import argparse
import sys
import time

import orjson
from figures import Figures, add_runner_flags

from app.api import create_app
from app.producer import keep_freed_heap
from app.settings import ProducerSettings
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.payload import BodyFactory, render


def batch_body(events_per_request: int) -> bytes:
    config = SimulatorConfig(url="http://unused", events=events_per_request, endpoint="batch",
                             events_per_request=events_per_request, random_seed=1)  # fmt: skip
    return render(BodyFactory(config).template(0), time.time())


def per_event_us(work, requests: int, events_per_request: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        work()
    return (time.process_time() - started) / (requests * events_per_request) * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events-per-request", type=int, default=500)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-heap-tuning", action="store_true", help="glibc's default trim threshold")
    add_runner_flags(p, "40 requests, 3 repetitions")
    args = p.parse_args(argv)
    if args.quick:
        args.requests, args.repeats = min(args.requests, 40), min(args.repeats, 3)

    if not args.no_heap_tuning:
        keep_freed_heap()
    n = args.events_per_request
    body = batch_body(n)
    events = orjson.loads(body)
    settings = ProducerSettings(delivery="noop", max_batch_events=max(1000, n))
    client = create_app(settings).test_client()

    def endpoint():
        answer = client.post("/events", data=body, content_type="application/json")
        assert answer.status_code == 202, answer.data[:200]

    works = {
        "endpoint": endpoint,
        "parse floor": lambda: orjson.loads(body),
        "serialize floor": lambda: [orjson.dumps(e) for e in events],
    }
    runs: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(args.repeats):  # interleaved: drift hits every figure alike
        for name, work in works.items():
            runs[name].append(per_event_us(work, args.requests, n))

    figs = Figures("batch-path", "The batch endpoint's Python work per event", vars(args))
    medians = {name: figs.runs(name, values, "CPU-us/event") for name, values in runs.items()}
    python = figs.runs(
        "python work",
        [e - p - s for e, p, s in zip(*runs.values(), strict=True)],
        "CPU-us/event",
    )
    print(f"{n} events per request, {len(body) / n:.0f} bytes per event, medians of {args.repeats}")
    for name, value in {**medians, "python work": python}.items():
        print(f"  {name:16s} {value:6.2f} CPU-us/event")
    figs.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
