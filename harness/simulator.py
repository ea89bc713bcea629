"""The load simulator: sends events to the API, closed or open loop, and records each one.

    simulate(SimulatorConfig(url="http://127.0.0.1:5000", events=10_000, threads=200), out_dir)
    simulate(SimulatorConfig(url=..., warmup_s=3, duration_s=10), out_dir)  # timed

A run sends `events` events, or with `duration_s` for warmup_s + duration_s seconds. Each event's
record says its `phase`: "warmup" when its request was due (open loop) or left (closed loop) in the
first `warmup_s` seconds, else "measured"; analysis leaves the warm-up out of its figures.

Closed loop (default): `threads` coroutines, each sending its next request when the previous one
answered. Open loop (`rate` events/s): request i is due at start + i/requests_per_s and leaves then
even if earlier ones are outstanding; its latency counts from the due time, so queueing in the
system under test is not hidden (coordinated omission, as wrk2 and the OpenMessaging Benchmark
avoid it). Per-event records go to `client_records.parquet` (see docs/ARCHITECTURE.md).

Counts are per event: accepted (2xx, or accepted in a batch's per-event results), rejected (4xx,
or refused inside a 2xx batch), failed (5xx, or no HTTP answer: status 0 with the error text).
Latency percentiles cover requests that got an HTTP answer.

The HTTP client is a lean keep-alive HTTP/1.1 one (loadgen/http.py; `http_client="aiohttp"` for
aiohttp's). One generator sends from this process; `generators` > 1 (or a `dask_scheduler`)
splits the same load over generators on Dask workers (loadgen/generators.py), whose records are
merged into the one file with a `generator` column. `measure_ceiling` gives the client's own
limit against a no-op API, and `SimulationResult.with_ceiling` says whether a run came close to
it (client-bound).

Manual use: python -m harness.simulator --url http://127.0.0.1:5000 --events 10000 --out DIR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from harness.loadgen.clock import Clock
from harness.loadgen.config import ENDPOINT_PATHS, HTTP_CLIENTS, SimulatorConfig, new_run_id
from harness.loadgen.drive import DriveStats, drive, share
from harness.loadgen.generators import GeneratorFailed, GeneratorSetupError
from harness.loadgen.records import WARMUP, events_frame, write_records
from harness.loadgen.requestlog import RequestLog
from harness.loadgen.result import SimulationResult, event_counts, latency_summary
from harness.loadgen.schedule import ARRIVALS, parse_stages
from harness.progress import progress_bar

__all__ = ["SimulatorConfig", "SimulationResult", "simulate", "measure_ceiling", "main"]


def _progress_bar(config: SimulatorConfig, enabled: bool):
    """Events against the planned total; a timed run shows seconds instead, and its events (a
    plain line every few seconds when stderr is not a terminal: harness.progress)."""
    if config.total_s is None:
        return progress_bar(total=config.events, unit="ev", file=sys.stderr, disable=not enabled)
    return progress_bar(
        total=config.total_s,
        unit="s",
        file=sys.stderr,
        disable=not enabled,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s{postfix}",
    )


def _ticker(config: SimulatorConfig, clock: Clock, bar) -> Callable[[int], None]:
    """The drive's on_tick for `bar`; its first call marks the start."""
    if config.total_s is None:
        return lambda done: bar.update(done - bar.n)
    start = None

    def on_tick(done: int) -> None:
        nonlocal start
        if start is None:
            start = clock.now()
        elapsed = clock.now() - start
        bar.set_description_str("warm-up" if elapsed < config.warmup_s else "measured", False)
        bar.set_postfix_str(f"{done:,} ev", refresh=False)
        bar.update(min(elapsed, config.total_s) - bar.n)

    return on_tick


def _drive(
    config: SimulatorConfig,
    clock: Clock,
    log: RequestLog,
    bar,
    on_start: Callable[[float], None] | None = None,
) -> tuple[DriveStats, float, float | None]:
    """The drive's stats, the CPU seconds of the thread that ran it, and how busy its event loop
    was: those CPU seconds per second of the drive (1.0 = a whole core). `on_start` gets the
    epoch instant the first request is due (the drive's first tick)."""
    on_tick = _ticker(config, clock, bar)
    if on_start is not None:
        ticks, started = on_tick, []

        def on_tick(done: int) -> None:
            if not started:
                started.append(True)
                on_start(clock.epoch(clock.now()))
            ticks(done)

    cpu = time.thread_time()
    stats = asyncio.run(drive(config, clock, log, share(config, 0, 1), on_tick=on_tick))
    wall, cpu = stats.end - stats.start, time.thread_time() - cpu
    return stats, cpu, (cpu / wall if wall > 0 else None)


def uses_dask(config: SimulatorConfig) -> bool:
    """Generators on Dask; else the one generator is this process (Dask is never imported)."""
    return config.generators != 1 or bool(config.dask_scheduler)


def in_process_generator(log: RequestLog, cpu_s: float, busy: float | None) -> dict:
    """metrics.json's `generators` entry of the one in-process generator."""
    return {"index": 0, "host": socket.gethostname(), "worker": None, "pid": os.getpid(),
            "requests": int(np.isfinite(log.sent).sum()), "busy": busy, "cpu_s": cpu_s,
            "clock_offset_ms": 0.0, "round_trip_ms": None, "late_start_ms": 0.0,
            "returned": True}  # fmt: skip


def _send_rate(config: SimulatorConfig, log: RequestLog, start: float, requests: int) -> float:
    """Events/s at which requests left: n requests span n-1 intervals of the schedule."""
    span = float(np.nanmax(log.sent)) - start if requests else 0.0
    return (requests - 1) * config.batch_size / span if span > 0 else float("nan")


def _summarise(
    config: SimulatorConfig,
    log: RequestLog,
    frame: pd.DataFrame,
    stats: DriveStats,
    path: Path | None,
    busy: float | None = None,
    generators: list[dict] | None = None,
) -> SimulationResult:
    start, duration = stats.start, stats.end - stats.start
    ids = log.run_requests()
    scheduled, sent, done = log.scheduled[ids], log.sent[ids], log.done[ids]
    answered = log.answered()[ids]
    origin = scheduled if config.open_loop else sent
    return SimulationResult(
        run_id=config.run_id,
        mode="open" if config.open_loop else "closed",
        endpoint=config.endpoint,
        requests=len(ids),
        **event_counts(frame),
        events_warmup=int((frame["phase"] == WARMUP).sum()),
        requests_failed=int((~answered).sum()),
        duration_s=duration,
        achieved_eps=len(frame) / duration,
        achieved_rps=len(ids) / duration,
        target_eps=config.mean_rate,
        target_rps=config.rate_requests,
        send_rate_eps=_send_rate(config, log, start, len(ids)),
        latency_ms=latency_summary((done - origin)[answered]),
        response_ms=latency_summary((done - sent)[answered]),
        send_delay_ms=latency_summary(sent - scheduled) if config.open_loop else None,
        cap_waits=stats.cap_waits,
        max_in_flight=stats.max_in_flight,
        records_path=path,
        busy=busy,
        generators=generators,
    )


def simulate(
    config: SimulatorConfig,
    out_dir: Path | None,
    progress: bool = True,
    generators=None,
    on_start: Callable[[float], None] | None = None,
) -> SimulationResult:
    """Runs one simulation; writes out_dir/client_records.parquet (unless out_dir is None).

    `generators`: a GeneratorPool (loadgen/generators.py) to send from, opened by the caller
    for several simulations; without one, a config that asks for generators on Dask opens its
    own for this call. When a generator fails mid-run (GeneratorFailed), what the others measured
    is written before the error goes on. Prints the closing line (`Finished in X seconds
    (...)`) to stdout when `progress` is on. `on_start(epoch)` is called once, with the instant
    the first request is due (faults placed in time count from it): on Dask, the generators'
    common start, in this process's clock.
    """
    if generators is None and uses_dask(config):
        from harness.loadgen.generators import open_generators

        with open_generators(config.generators, config.dask_scheduler) as pool:
            return simulate(config, out_dir, progress, pool, on_start)
    clock = Clock()
    log = RequestLog(config)
    with _progress_bar(config, progress) as bar:
        if generators is None:
            stats, cpu, busy = _drive(config, clock, log, bar, on_start)
            frame = events_frame(log, clock, stats.start)
            info = [in_process_generator(log, cpu, busy)]
        else:
            try:
                fan = generators.run(config, _ticker(config, clock, bar), on_start)
            except GeneratorFailed as exc:
                if exc.partial is not None and out_dir is not None:
                    write_records(_fanout_frame(exc.partial), Path(out_dir))
                raise
            log, stats, info = fan.log, fan.stats, fan.generators
            frame = _fanout_frame(fan)
            busy = max((g["busy"] for g in info if g["busy"] is not None), default=None)
    path = write_records(frame, Path(out_dir)) if out_dir is not None else None
    result = _summarise(config, log, frame, stats, path, busy, info)
    if progress:
        print(result.closing_line(), flush=True)
    return result


def _fanout_frame(fan):
    """The merged records: times are each generator's own epoch seconds already."""
    return events_frame(fan.log, Clock.from_base(0.0, 0.0), fan.starts)


def measure_ceiling(
    url: str,
    threads: int = 200,
    endpoint: str = "single",
    events_per_request: int = 500,
    events: int = 20_000,
    repeats: int = 3,
    api_key: str | None = None,
    http_client: str = "raw",
    min_requests: int = 1000,
) -> float:
    """The client's own ceiling in requests/s: the median of `repeats` closed-loop runs against a
    no-op endpoint (the API with `--delivery noop`). Compare a run with it via
    `SimulationResult.with_ceiling`.

    Each run sends at least `min_requests` requests (more events than `events` for big batches):
    a few requests per sender would measure connection set-up, not a rate.
    """
    batch = events_per_request if endpoint == "batch" else 1
    events = max(events, min_requests * batch)
    rates = []
    for _ in range(repeats):
        config = SimulatorConfig(
            url=url,
            events=events,
            threads=threads,
            endpoint=endpoint,
            events_per_request=events_per_request,
            api_key=api_key,
            http_client=http_client,
        )
        rates.append(simulate(config, out_dir=None, progress=False).achieved_rps)
    return statistics.median(rates)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness.simulator", description="Sends events to the API; records each."
    )
    p.add_argument("--url", required=True, help="the API's base URL, e.g. http://127.0.0.1:5000")
    p.add_argument("--events", type=int, default=10_000, help="ignored with --duration-s")
    p.add_argument(
        "--warmup-s", type=float, default=SimulatorConfig.warmup_s, help="seconds marked warm-up"
    )
    p.add_argument(
        "--duration-s", type=float, default=None, help="send for warmup + this many seconds"
    )
    p.add_argument("--threads", type=int, default=200, help="closed-loop concurrency")
    p.add_argument("--rate", type=float, default=None, help="events/s: open loop when set")
    p.add_argument(
        "--stages",
        default=None,
        help="open loop over time, SECONDS:RATE,... (replaces --rate, --duration-s)",
    )
    p.add_argument(
        "--arrivals",
        choices=ARRIVALS,
        default="uniform",
        help="open loop: evenly spaced (uniform) or a Poisson process",
    )
    p.add_argument("--endpoint", choices=sorted(ENDPOINT_PATHS), default="single")
    p.add_argument("--events-per-request", type=int, default=500)
    p.add_argument("--run-id", default=None)
    p.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    p.add_argument("--api-key", default=None)
    p.add_argument("--max-in-flight", type=int, default=2048, help="open-loop cap")
    p.add_argument("--random-seed", type=int, default=None, help="reproducible payloads")
    p.add_argument("--http-client", choices=HTTP_CLIENTS, default="raw")
    p.add_argument("--generators", type=int, default=1,
                   help="load generators sharing the load: more than 1 runs them on Dask "
                        "(a LocalCluster of this command's own unless --dask-scheduler)")  # fmt: skip
    p.add_argument("--dask-scheduler", default=None,
                   help="a Dask cluster's scheduler (tcp://host:8786) whose workers generate")  # fmt: skip
    p.add_argument(
        "--event-bytes", type=int, default=None, help="each event's JSON size (a payload)"
    )
    p.add_argument("--payload-random", type=float, default=SimulatorConfig.payload_random,
                   help="share of the payload's characters drawn at random")  # fmt: skip
    p.add_argument("--events-file", default=None, help="JSON Lines of your events, cycled")
    p.add_argument("--key", default=SimulatorConfig.key,
                   help="the field the API keys records by (sized events then carry user_id)")  # fmt: skip
    p.add_argument("--users", type=int, default=SimulatorConfig.users, help="distinct user ids")
    p.add_argument("--key-skew", type=float, default=0.0, help="Zipf exponent of user ids")
    p.add_argument("--out", type=Path, required=True, help="directory for client_records.parquet")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = _config(args)
    except ValueError as exc:
        parser.error(str(exc))  # exits 2 with the usage and what was wrong
    try:
        result = simulate(config, args.out, progress=not args.no_progress)
    except GeneratorSetupError as exc:
        parser.error(str(exc))
    except GeneratorFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.no_progress:
        print(result.closing_line())
    (args.out / "simulation.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return 0


def _config(args: argparse.Namespace) -> SimulatorConfig:
    return SimulatorConfig(
        url=args.url,
        events=args.events,
        threads=args.threads,
        rate=args.rate,
        endpoint=args.endpoint,
        events_per_request=args.events_per_request,
        run_id=args.run_id or new_run_id(),
        timeout_s=args.timeout,
        api_key=args.api_key,
        max_in_flight=args.max_in_flight,
        random_seed=args.random_seed,
        warmup_s=args.warmup_s,
        duration_s=args.duration_s,
        http_client=args.http_client,
        generators=args.generators,
        dask_scheduler=args.dask_scheduler,
        event_bytes=args.event_bytes,
        payload_random=args.payload_random,
        events_file=args.events_file,
        key=args.key,
        users=args.users,
        key_skew=args.key_skew,
        stages=parse_stages(args.stages) if args.stages else None,
        arrivals=args.arrivals,
    )


if __name__ == "__main__":
    sys.exit(main())
