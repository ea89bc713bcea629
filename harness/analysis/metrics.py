"""One run's metrics.json: counts, throughput and latency percentiles (docs/analysis.md).

Counts cover the whole run; every figure (throughput, latency, rates, durations) covers the
measured window only: the events the client records mark `phase == "measured"`, i.e. all but
those of the first warmup_s seconds. Loss is never excused by the warm-up.

Definitions (all counts are events, except where a name says requests):
- sent: rows of the client records that left the client (sent_at set; the others are counted
  as the extra `not_sent` and ignored: an aborted run never sent them); accepted: answered as accepted (2xx, per event for batches);
  rejected: not accepted with a 4xx, or refused inside a 2xx batch answer; failed: not accepted with
  a 5xx, a transport error/timeout (status 0) or any other status, or marked "failed" inside a 2xx
  batch answer (the records' `delivery_failed`). sent = accepted+rejected+failed.
- consumed: log lines carrying an event_id this run sent; unique_consumed: distinct such ids;
  duplicates = consumed - unique_consumed; lost: accepted events whose id never reached the log.
- window: the measured window, from the first measured event's sent_at to the latest first
  consumption of a measured event (a late duplicate does not stretch it; the last measured answer
  when none was consumed); duration_s is its length. throughput_eps = measured events consumed
  at least once / duration_s: the drain after the last send is inside the window, the warm-up
  events consumed within it are not counted.
- latency_ms.http: per measured request, done_at minus scheduled_at (open loop) or sent_at
  (closed loop); e2e: per measured event, first consumed_at minus sent_at; send_delay: open loop
  only, else null.
- steadiness: a trend test on the window's per-second throughput and e2e latency (steadiness.py).
- bytes, throughput_mbps, partitions: harness/analysis/volume.py; order: the per-key order audit
  (harness/analysis/order.py), run by the caller, which reads the topic for it; faults: the
  figures of the run's faults (harness/analysis/recovery.py), from its timeline.
- generators: per load generator, its host, Dask worker (null in-process), requests sent, busy
  share, clock offset and round trip (harness/loadgen/generators.py); client_bound when any was
  busy >= 90%, client_bound_message naming it; e2e_uncertain_ms: the largest clock offset of a
  generator when over 5 ms (e2e latency subtracts a generator's clock from the consumer's).
Extra keys are described in `_load_facts` and `_delivery_facts`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis import latency
from harness.analysis.jsonable import to_jsonable
from harness.analysis.matching import EventMatch, match_events
from harness.analysis.order import NO_KEY_REASON, not_audited
from harness.analysis.records import MEASURED, normalize_records
from harness.analysis.recovery import no_faults
from harness.analysis.steadiness import steadiness, window_series
from harness.analysis.volume import byte_sizes, partition_spread, throughput_mbps
from harness.loadgen.result import event_counts

# A run's `status` (metrics.json, summary.csv, points.csv): figures measured; every event fell
# inside the warm-up (counts only: every figure is null, and every place that shows the run says
# so); or (summary.csv, points.csv) the run failed.
OK = "ok"
NO_WINDOW = "no-window"
FAILED = "failed"
CLIENT_BOUND_FRACTION = 0.8  # at >= 80% of the simulator's own ceiling, it may be the limit
# The simulator's event loop busy this share of the drive: it was sending as fast as it could.
CLIENT_BUSY_SHARE = 0.9
_TOP_ERRORS = 5


def _accepted_events(records: pd.DataFrame, match: EventMatch) -> np.ndarray:
    """Per matched event: did any of its records get accepted?"""
    if len(match.events) == len(records):  # event ids are unique: no join needed
        return match.events["accepted"].to_numpy(dtype=bool)
    accepted_ids = records.loc[records["accepted"], "event_id"].unique()
    return match.events["event_id"].isin(accepted_ids).to_numpy()


def delivery_counts(records: pd.DataFrame, match: EventMatch) -> dict[str, int]:
    """consumed / unique_consumed / lost / duplicates, from the matched log."""
    consumed = int(match.times_logged.sum())
    unique = int(match.consumed.sum())
    lost = int((_accepted_events(records, match) & ~match.consumed).sum())
    return {
        "consumed": consumed,
        "unique_consumed": unique,
        "lost": lost,
        "duplicates": consumed - unique,
    }


def _warmup_s(records: pd.DataFrame, given: float | None) -> float | None:
    """The warm-up's length: the one given, else (auto) from the records: from the first
    request's origin (due in open loop, sent in closed loop) to the first measured one's."""
    if given is not None:
        return float(given)
    origin = records["scheduled_at"].fillna(records["sent_at"])
    measured = origin[records["phase"] == MEASURED]
    if not len(measured) or not len(origin):
        return None
    return max(0.0, float(measured.min() - origin.min()))


def _window(records: pd.DataFrame, match: EventMatch, measured: np.ndarray, config: dict) -> dict:
    """metrics.json's "window": the measured events' span (epoch s) and the events per phase.

    `measured` is per event of `match`. Start: the first measured sent_at; end: the latest first
    consumption of a measured event, or its last done_at when none was consumed. `warmup_s` is
    the warm-up's length (the run's, or the auto warm-up's as the records show it), `warmup_auto`
    whether it was auto.
    """
    events = match.events[measured]
    start = events["sent_at"].min()
    consumed = match.first_consumed_at[measured]
    end = np.nanmax(consumed) if np.isfinite(consumed).any() else events["done_at"].max()
    start = None if pd.isna(start) else float(start)
    end = None if pd.isna(end) else float(end)
    duration = end - start if start is not None and end is not None and end > start else None
    n_measured = int((records["phase"] == MEASURED).sum())
    return {
        "warmup_s": _warmup_s(records, config.get("warmup_s")),
        "warmup_auto": config.get("warmup_s") is None,
        "start": start,
        "end": end,
        "duration_s": duration,
        "events_measured": n_measured,
        "events_warmup": len(records) - n_measured,
    }


def _steadiness(match: EventMatch, measured: np.ndarray, window: dict) -> dict:
    """The window's steadiness verdict, from its per-second throughput and median e2e latency."""
    sent_at = match.events["sent_at"].to_numpy(dtype=float)
    if window["start"] is None:  # nothing measured
        return steadiness(np.zeros(0), np.zeros(0))
    last_send = float(np.nanmax(sent_at[measured]))
    series = window_series(sent_at, match.first_consumed_at, measured, window["start"], last_send)
    return steadiness(*series)


def _rate(count: int, seconds: float | None) -> float | None:
    return count / seconds if seconds else None


def _load_facts(
    records: pd.DataFrame,
    measured: pd.DataFrame,
    config: dict,
    ceiling_rps: float | None,
    simulator_busy: float | None,
) -> dict:
    """What the client achieved, and whether it (not the system) was the limit.

    requests: all of the run's requests (a count). client_duration_s and achieved_rate_*: the
    measured events (requests) over the client's measured window, first sent_at to last done_at.
    client_bound: the simulator's event loop was busy >= 90% of the drive (`simulator_busy`, CPU
    seconds of its thread per second: it could not have sent faster). Without that figure (records
    analysed on their own, several client processes): achieved request rate >= 80% of
    `ceiling_rps`, the simulator's rate against a no-op server; null when neither is known.
    """
    n_requests = int(measured["request_id"].nunique())
    client_s = (
        float(measured["done_at"].max() - measured["sent_at"].min()) if len(measured) else None
    )
    client_s = client_s if client_s and np.isfinite(client_s) and client_s > 0 else None
    rps = _rate(n_requests, client_s)
    bound = None
    if simulator_busy is not None:
        bound = simulator_busy >= CLIENT_BUSY_SHARE
    elif ceiling_rps is not None and rps is not None:
        bound = rps >= CLIENT_BOUND_FRACTION * ceiling_rps
    return {
        "requests": int(records["request_id"].nunique()),
        "open_loop": latency.is_open_loop(records),
        "client_duration_s": client_s,
        "target_rate_eps": config.get("rate"),
        "achieved_rate_eps": _rate(len(measured), client_s),
        "achieved_rate_rps": rps,
        "ceiling_rps": ceiling_rps,
        "simulator_busy": simulator_busy,
        "client_bound": bound,
    }


def _generator_facts(generators: list[dict] | None) -> dict:
    """metrics.json's `generators`, the message that names a busy one, and how uncertain the
    generators' clocks make e2e latency."""
    from harness.loadgen.generators import clock_uncertainty_ms

    busy = [g for g in generators or [] if (g.get("busy") or 0) >= CLIENT_BUSY_SHARE]
    message = None
    if busy:
        names = ", ".join(
            f"generator {g['index']}" + (f" ({g['worker']})" if g.get("worker") else "")
            + f" busy {g['busy']:.0%}"
            for g in busy
        )  # fmt: skip
        message = (
            f"CLIENT-BOUND: {names} of the run: the load generators were the limit, the figures "
            f"are a floor; add generators (--generators {len(generators) + len(busy)})"
        )
    return {
        "generators": generators,
        "client_bound_message": message,
        "e2e_uncertain_ms": clock_uncertainty_ms(generators),
    }


def _delivery_facts(records: pd.DataFrame, log: pd.DataFrame, match: EventMatch) -> dict:
    """Extras: error_rate (not accepted / sent), unexpected (log lines of ids never sent),
    consumed_unaccepted (events that reached the log although the client did not see them
    accepted, e.g. a timeout after the produce), status_counts, top errors, unparsed log lines."""
    accepted = _accepted_events(records, match)
    errors = records.loc[records["error"] != "", "error"].value_counts().head(_TOP_ERRORS)
    return {
        "error_rate": float((~records["accepted"]).mean()) if len(records) else None,
        "unexpected": int((~match.in_run).sum()),
        "consumed_unaccepted": int((~accepted & match.consumed).sum()),
        "status_counts": {str(k): int(v) for k, v in records["status"].value_counts().items()},
        # a list, not a dict: error texts must not become columns of the sweep table
        "top_errors": [{"error": str(k), "count": int(v)} for k, v in errors.items()],
        "unparsed_lines": int(log.attrs.get("unparsed_lines", 0)),
        "dead_letters": int(log.attrs.get("dead_letters", 0)),
    }


def _unaudited_order(config: dict) -> dict:
    key = config.get("key")
    if key in (None, "none"):
        return not_audited(NO_KEY_REASON)
    return not_audited(f"key={key}, but the run's topic was not read")


def compute_metrics(
    records_df: pd.DataFrame,
    log_df: pd.DataFrame,
    config: dict,
    environment: dict,
    ceiling_rps: float | None = None,
    simulator_busy: float | None = None,
    end_offsets: list[int] | None = None,
    order: dict | None = None,
    kafka_records: pd.DataFrame | None = None,
    generators: list[dict] | None = None,
    faults: dict | None = None,
) -> dict:
    """The metrics.json dict of one run (JSON-serializable: plain types, null for missing).

    `end_offsets`: records per partition of the run's own topic (end offsets after the run minus
    before), else the partitions are counted from `log_df`; `order`: the order audit's result
    (harness.analysis.order.audit_order), else the run's order counts as not audited;
    `kafka_records`: the run's records as read from its topic (their value sizes are Kafka's);
    `generators`: what each load generator reported (SimulationResult.generators); `faults`:
    the figures of the run's faults (harness.analysis.recovery.fault_figures), else those of a
    run without one."""
    config, environment = config or {}, environment or {}
    records = normalize_records(records_df)
    left = records["sent_at"].notna().to_numpy()  # an aborted run leaves requests never sent
    records = records if left.all() else records[left].reset_index(drop=True)
    match = match_events(records, log_df)
    measured = (match.events["phase"] == MEASURED).to_numpy()
    window = _window(records, match, measured, config)
    measured_records = records[records["phase"] == MEASURED]
    counts = {**event_counts(records), **delivery_counts(records, match)}
    metrics = {
        "status": OK if window["events_measured"] and window["duration_s"] else NO_WINDOW,
        "config": config,
        "environment": environment,
        "counts": counts,
        "duration_s": window["duration_s"],
        "throughput_eps": _rate(int(match.consumed[measured].sum()), window["duration_s"]),
        "latency_ms": {
            "http": latency.summarize(latency.http_ms(measured_records)),
            "e2e": latency.summarize(latency.e2e_ms(match, measured)),
            "send_delay": latency.summarize(latency.send_delay_ms(measured_records)),
        },
        "throughput_mbps": throughput_mbps(match, measured, window["duration_s"]),
        "bytes": byte_sizes(records, log_df, match, kafka_records),
        "partitions": partition_spread(log_df, match, config.get("partitions"), end_offsets),
        "order": order if order is not None else _unaudited_order(config),
        "faults": faults if faults is not None else no_faults(),
        "window": window,
        "steadiness": _steadiness(match, measured, window),
        **_load_facts(records, measured_records, config, ceiling_rps, simulator_busy),
        **_generator_facts(generators),
        **_delivery_facts(records, log_df, match),
        "not_sent": int((~left).sum()),
    }
    return to_jsonable(metrics)
