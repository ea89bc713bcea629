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
aiohttp's); `processes` > 1 spreads the load over client processes (loadgen/fanout.py) when one
process cannot keep up. `measure_ceiling` gives the client's own limit against a no-op API, and
`SimulationResult.with_ceiling` says whether a run came close to it (client-bound).

Manual use: python -m harness.simulator --url http://127.0.0.1:5000 --events 10000 --out DIR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from harness.loadgen.clock import Clock
from harness.loadgen.config import ENDPOINT_PATHS, HTTP_CLIENTS, SimulatorConfig, new_run_id
from harness.loadgen.drive import DriveStats, drive, share
from harness.loadgen.fanout import run_processes
from harness.loadgen.records import WARMUP, events_frame, write_records
from harness.loadgen.requestlog import RequestLog
from harness.loadgen.result import SimulationResult, event_counts, latency_summary

__all__ = ["SimulatorConfig", "SimulationResult", "simulate", "measure_ceiling", "main"]


def _progress_bar(config: SimulatorConfig, enabled: bool) -> tqdm:
    """Events against the planned total; a timed run shows seconds instead, and its events."""
    if config.total_s is None:
        return tqdm(total=config.events, unit="ev", file=sys.stderr, disable=not enabled)
    return tqdm(
        total=config.total_s,
        file=sys.stderr,
        disable=not enabled,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s{postfix}",
    )


def _ticker(config: SimulatorConfig, clock: Clock, bar: tqdm) -> Callable[[int], None]:
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
    config: SimulatorConfig, clock: Clock, log: RequestLog, bar: tqdm
) -> tuple[DriveStats, float | None]:
    """The drive's stats, and how busy its event loop was: CPU seconds of the thread that ran it
    per second of the drive (1.0 = a whole core; None with several client processes)."""
    on_tick = _ticker(config, clock, bar)
    if config.processes > 1:
        return run_processes(config, clock, log, on_tick), None
    cpu = time.thread_time()
    stats = asyncio.run(drive(config, clock, log, share(config, 0, 1), on_tick=on_tick))
    wall = stats.end - stats.start
    return stats, ((time.thread_time() - cpu) / wall if wall > 0 else None)


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
        target_eps=config.rate,
        target_rps=config.rate_requests,
        send_rate_eps=_send_rate(config, log, start, len(ids)),
        latency_ms=latency_summary((done - origin)[answered]),
        response_ms=latency_summary((done - sent)[answered]),
        send_delay_ms=latency_summary(sent - scheduled) if config.open_loop else None,
        cap_waits=stats.cap_waits,
        max_in_flight=stats.max_in_flight,
        records_path=path,
        busy=busy,
    )


def simulate(
    config: SimulatorConfig, out_dir: Path | None, progress: bool = True
) -> SimulationResult:
    """Runs one simulation; writes out_dir/client_records.parquet (unless out_dir is None).

    Prints the closing line (`Finished in X seconds (...)`) to stdout when `progress` is on.
    """
    clock = Clock()
    log = RequestLog(config)
    with _progress_bar(config, progress) as bar:
        stats, busy = _drive(config, clock, log, bar)
    frame = events_frame(log, clock, stats.start)
    path = write_records(frame, Path(out_dir)) if out_dir is not None else None
    result = _summarise(config, log, frame, stats, path, busy)
    if progress:
        print(result.closing_line(), flush=True)
    return result


def measure_ceiling(
    url: str,
    threads: int = 200,
    endpoint: str = "single",
    events_per_request: int = 500,
    events: int = 20_000,
    repeats: int = 3,
    api_key: str | None = None,
    processes: int = 1,
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
            processes=processes,
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
    p.add_argument("--endpoint", choices=sorted(ENDPOINT_PATHS), default="single")
    p.add_argument("--events-per-request", type=int, default=500)
    p.add_argument("--run-id", default=None)
    p.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    p.add_argument("--api-key", default=None)
    p.add_argument("--max-in-flight", type=int, default=2048, help="open-loop cap")
    p.add_argument("--random-seed", type=int, default=None, help="reproducible payloads")
    p.add_argument("--http-client", choices=HTTP_CLIENTS, default="raw")
    p.add_argument("--processes", type=int, default=1, help="client processes sharing the load")
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
    result = simulate(config, args.out, progress=not args.no_progress)
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
        processes=args.processes,
    )


if __name__ == "__main__":
    sys.exit(main())
