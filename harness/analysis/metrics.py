"""One run's metrics.json: counts, throughput and latency percentiles (schema in DESIGN.md).

Definitions (all counts are events, except where a name says requests):
- sent: rows of the client records that left the client (sent_at set; the others are counted
  as the extra `not_sent` and ignored: an aborted run never sent them); accepted: answered as accepted (2xx, per event for batches);
  rejected: not accepted with a 4xx, or refused inside a 2xx batch answer; failed: not accepted with
  a 5xx, a transport error/timeout (status 0) or any other status, or marked "failed" inside a 2xx
  batch answer (the records' `delivery_failed`). sent = accepted+rejected+failed.
- consumed: log lines carrying an event_id this run sent; unique_consumed: distinct such ids;
  duplicates = consumed - unique_consumed; lost: accepted events whose id never reached the log.
- duration_s: from the first event the client sent to the latest first consumption of one of
  this run's events (a late duplicate does not stretch it; the client's window, to its last
  answer, when nothing was consumed); throughput_eps = unique_consumed / duration_s.
- latency_ms.http: per request, done_at minus scheduled_at (open loop) or sent_at (closed loop);
  e2e: per event, first consumed_at minus sent_at; send_delay: open loop only, else null.
Extra keys are described in `_load_facts` and `_delivery_facts`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis import latency
from harness.analysis.jsonable import to_jsonable
from harness.analysis.matching import EventMatch, match_events
from harness.analysis.records import normalize_records
from harness.loadgen.result import event_counts

CLIENT_BOUND_FRACTION = 0.8  # at >= 80% of the simulator's own ceiling, it may be the limit
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


def _window(records: pd.DataFrame, match: EventMatch) -> tuple[float | None, float | None]:
    """(first sent_at, latest first consumption of this run's events, or last done_at if none)."""
    start = records["sent_at"].min()
    end = np.nanmax(match.first_consumed_at) if match.consumed.any() else np.nan
    if np.isnan(end):
        end = records["done_at"].max()
    return (None if pd.isna(start) else float(start)), (None if pd.isna(end) else float(end))


def _rate(count: int, seconds: float | None) -> float | None:
    return count / seconds if seconds else None


def _load_facts(records: pd.DataFrame, config: dict, ceiling_rps: float | None) -> dict:
    """What the client achieved, and whether it (not the system) may have been the limit.

    achieved_rate_*: events (requests) over the client's window, first sent_at to last done_at.
    client_bound: achieved request rate >= 80% of `ceiling_rps` (the simulator's own maximum,
    measured against a no-op server); null when no ceiling is known.
    """
    n_requests = int(records["request_id"].nunique())
    client_s = float(records["done_at"].max() - records["sent_at"].min()) if len(records) else None
    client_s = client_s if client_s and np.isfinite(client_s) and client_s > 0 else None
    rps = _rate(n_requests, client_s)
    bound = None
    if ceiling_rps is not None and rps is not None:
        bound = rps >= CLIENT_BOUND_FRACTION * ceiling_rps
    return {
        "requests": n_requests,
        "open_loop": latency.is_open_loop(records),
        "client_duration_s": client_s,
        "target_rate_eps": config.get("rate"),
        "achieved_rate_eps": _rate(len(records), client_s),
        "achieved_rate_rps": rps,
        "ceiling_rps": ceiling_rps,
        "client_bound": bound,
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


def compute_metrics(
    records_df: pd.DataFrame,
    log_df: pd.DataFrame,
    config: dict,
    environment: dict,
    ceiling_rps: float | None = None,
) -> dict:
    """The metrics.json dict of one run (JSON-serializable: plain types, null for missing)."""
    config, environment = config or {}, environment or {}
    records = normalize_records(records_df)
    left = records["sent_at"].notna().to_numpy()  # an aborted run leaves requests never sent
    records = records if left.all() else records[left].reset_index(drop=True)
    match = match_events(records, log_df)
    start, end = _window(records, match)
    duration = end - start if start is not None and end is not None and end > start else None
    counts = {**event_counts(records), **delivery_counts(records, match)}
    metrics = {
        "config": config,
        "environment": environment,
        "counts": counts,
        "duration_s": duration,
        "throughput_eps": _rate(counts["unique_consumed"], duration),
        "latency_ms": {
            "http": latency.summarize(latency.http_ms(records)),
            "e2e": latency.summarize(latency.e2e_ms(match)),
            "send_delay": latency.summarize(latency.send_delay_ms(records)),
        },
        "window": {"start": start, "end": end},  # epoch seconds of duration_s
        **_load_facts(records, config, ceiling_rps),
        **_delivery_facts(records, log_df, match),
        "not_sent": int((~left).sum()),
    }
    return to_jsonable(metrics)
