"""A run as a timeline: one row per bin of `bin_s` seconds, `timeline.parquet` in the run directory.

Bin 0 starts at the run's first request (the first one due in open loop, else the first sent);
bins run on until the last answer or log line of the run. Each event belongs to the bin of its
request's *origin*: when it was due (open loop), else when it left (closed loop). Per bin:

| column | what |
| --- | --- |
| `t_s`, `start` | the bin's start: seconds since bin 0, and epoch seconds |
| `warmup` | the bin starts before the measured window |
| `offered` | events due by the schedule in the bin (open loop; NaN in closed loop) |
| `sent` | events whose request left in the bin |
| `accepted`, `rejected` | events of the bin's requests answered accepted / refused (4xx) |
| `failed_503`, `failed_refused`, `failed_timeout`, `failed_other` | events of the bin's requests that failed: a 503, a refused connection, no answer in time, anything else (another status or transport error, "failed" inside a batch) |
| `logged` | events of the run first logged by the consumers in the bin |
| `http_p50_ms`, `http_p99_ms`, `http_max_ms` | http latency of the bin's requests (from the schedule in open loop, as metrics.json's) |
| `e2e_p99_ms` | e2e latency of the bin's events that reached the log |
| `lag` | at the bin's end: events accepted by then and not yet logged |
| `lag_mean` | the same, averaged over the bin (steadier than one instant: the recovery rule reads it) |

The rows add up to the run's counts: offered to the events due (sent + not sent), sent, accepted,
rejected and the four failed columns to metrics.json's counts, logged to `unique_consumed`; and
in open loop each bin's offered = accepted + rejected + failed (+ never sent). Pure: records and
the log in, a DataFrame out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.matching import match_events
from harness.analysis.records import MEASURED, normalize_records

FAILURE_KINDS = ("503", "refused", "timeout", "other")
FAILED_COLUMNS = [f"failed_{kind}" for kind in FAILURE_KINDS]
COUNT_COLUMNS = ["offered", "sent", "accepted", "rejected", *FAILED_COLUMNS, "logged"]
COLUMNS = ["t_s", "start", "warmup", *COUNT_COLUMNS, "http_p50_ms", "http_p99_ms",
           "http_max_ms", "e2e_p99_ms", "lag", "lag_mean"]  # fmt: skip


def failure_kinds(records: pd.DataFrame) -> np.ndarray:
    """Per event: "" when it did not fail (accepted or refused with a 4xx), else its kind of
    failure (FAILURE_KINDS). The same events as metrics.json's `failed`."""
    status = records["status"].to_numpy()
    accepted = records["accepted"].to_numpy(dtype=bool)
    answered = ((status >= 200) & (status < 300)) | ((status >= 400) & (status < 500))
    answered &= ~records["delivery_failed"].to_numpy(dtype=bool)
    failed = ~accepted & ~answered
    error = records["error"].astype(str)
    kinds = np.full(len(records), "", dtype=object)
    kinds[failed] = "other"
    transport = failed & (status == 0)
    refused = error.str.contains("refused", case=False).to_numpy()
    timeout = error.str.contains("timeout", case=False).to_numpy()
    kinds[transport & timeout] = "timeout"
    kinds[transport & refused] = "refused"
    kinds[failed & (status == 503)] = "503"
    return kinds


def origins(records: pd.DataFrame) -> np.ndarray:
    """Per event: when its request was due (open loop), else when it left."""
    return records["scheduled_at"].fillna(records["sent_at"]).to_numpy(dtype=float)


def _bins(times: np.ndarray, t0: float, bin_s: float, n: int) -> np.ndarray:
    """Each instant's bin (-1 when unknown)."""
    out = np.full(len(times), -1, dtype=np.int64)
    known = np.isfinite(times)
    out[known] = np.clip(np.floor((times[known] - t0) / bin_s), 0, n - 1).astype(np.int64)
    return out


def _count(bins: np.ndarray, n: int, mask: np.ndarray | None = None) -> np.ndarray:
    chosen = bins >= 0 if mask is None else (bins >= 0) & mask
    return np.bincount(bins[chosen], minlength=n)


def _per_bin(values: np.ndarray, bins: np.ndarray, n: int, how: dict) -> pd.DataFrame:
    """Statistics of `values` grouped by bin (NaN where a bin has none)."""
    keep = (bins >= 0) & np.isfinite(values)
    frame = pd.DataFrame({"bin": bins[keep], "v": values[keep]})
    grouped = frame.groupby("bin")["v"]
    out = pd.DataFrame(index=pd.RangeIndex(n))
    for name, (kind, arg) in how.items():
        found = grouped.quantile(arg) if kind == "q" else grouped.max()
        out[name] = found.reindex(out.index)
    return out


def timeline(records_df: pd.DataFrame, log_df: pd.DataFrame, bin_s: float = 1.0) -> pd.DataFrame:
    """The run's timeline (see the table above); empty (with its columns) without records."""
    if not bin_s > 0:
        raise ValueError(f"bin_s must be > 0 seconds, not {bin_s!r}")
    records = normalize_records(records_df)
    if not len(records):
        return pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS})
    sent_mask = records["sent_at"].notna().to_numpy()
    origin = origins(records)
    t0 = float(np.nanmin(origin))
    match = match_events(records[sent_mask].reset_index(drop=True), log_df)
    events = match.events
    consumed = match.first_consumed_at
    done = records["done_at"].to_numpy(dtype=float)
    last = np.nanmax(np.concatenate([origin, done, consumed, [t0]]))
    n = int(np.floor((last - t0) / bin_s)) + 1

    open_loop = bool(records["scheduled_at"].notna().any())
    origin_bin = _bins(origin, t0, bin_s, n)
    kinds = failure_kinds(records)
    accepted = records["accepted"].to_numpy(dtype=bool)
    rejected = ~accepted & (kinds == "") & sent_mask
    frame = pd.DataFrame({"t_s": np.arange(n) * bin_s, "start": t0 + np.arange(n) * bin_s})
    measured = origin[(records["phase"] == MEASURED).to_numpy()]
    window_start = float(np.nanmin(measured)) if np.isfinite(measured).any() else np.inf
    frame["warmup"] = frame["start"].to_numpy() < window_start
    frame["offered"] = _count(origin_bin, n) if open_loop else np.nan
    frame["sent"] = _count(_bins(records["sent_at"].to_numpy(dtype=float), t0, bin_s, n), n)
    frame["accepted"] = _count(origin_bin, n, accepted & sent_mask)
    frame["rejected"] = _count(origin_bin, n, rejected)
    for kind, column in zip(FAILURE_KINDS, FAILED_COLUMNS, strict=True):
        frame[column] = _count(origin_bin, n, (kinds == kind) & sent_mask)
    frame["logged"] = _count(_bins(consumed, t0, bin_s, n), n)

    # http latency per request (the first event of each stands for it), from its origin
    first = ~records["request_id"].duplicated().to_numpy() & sent_mask
    http = (done[first] - origin[first]) * 1000.0
    frame = frame.join(_per_bin(http, origin_bin[first], n, {
        "http_p50_ms": ("q", 0.5), "http_p99_ms": ("q", 0.99), "http_max_ms": ("max", None)}))  # fmt: skip
    e2e = (consumed - events["sent_at"].to_numpy(dtype=float)) * 1000.0
    event_bin = _bins(origins(events), t0, bin_s, n)
    frame = frame.join(_per_bin(e2e, event_bin, n, {"e2e_p99_ms": ("q", 0.99)}))

    # lag: accepted by the bin's end and not yet logged (an event logged before its answer came
    # back was never waiting)
    ok = events["accepted"].to_numpy(dtype=bool)
    answered_at = events["done_at"].to_numpy(dtype=float)[ok]
    logged_at = np.fmax(answered_at, np.nan_to_num(consumed[ok], nan=np.inf))
    waiting = np.cumsum(_count(_bins(answered_at, t0, bin_s, n), n))
    caught_up = np.cumsum(_count(_bins(np.where(np.isinf(logged_at), np.nan, logged_at), t0,
                                       bin_s, n), n))  # fmt: skip
    frame["lag"] = waiting - caught_up
    frame["lag_mean"] = _mean_waiting(answered_at, logged_at, t0 + np.arange(n + 1) * bin_s)
    return frame[COLUMNS]


def _mean_waiting(start: np.ndarray, end: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The mean number of intervals [start, end) open during each bin between `edges`: the
    integral of the count up to instant T is sum(min(end, T) - start) over starts before T,
    i.e. (sum of ends before T) + T x (open at T) - (sum of starts before T)."""
    keep = np.isfinite(start)
    starts, ends = np.sort(start[keep]), np.sort(end[keep])
    start_sums = np.concatenate([[0.0], np.cumsum(starts)])
    end_sums = np.concatenate([[0.0], np.cumsum(np.where(np.isinf(ends), 0.0, ends))])
    begun, ended = np.searchsorted(starts, edges), np.searchsorted(ends, edges)
    integral = end_sums[ended] + edges * (begun - ended) - start_sums[begun]
    return np.diff(integral) / np.diff(edges)


def request_frame(records_df: pd.DataFrame) -> pd.DataFrame:
    """One row per sent request: its origin (epoch s), http latency (ms), and per event of it
    (summed): accepted and failed by kind. What the fault figures read inside a span."""
    records = normalize_records(records_df)
    records = records[records["sent_at"].notna()]
    kinds = failure_kinds(records)
    frame = pd.DataFrame({
        "request_id": records["request_id"].to_numpy(),
        "origin": origins(records),
        "http_ms": (records["done_at"] - records["scheduled_at"].fillna(records["sent_at"]))
        .to_numpy(dtype=float) * 1000.0,
        "accepted": records["accepted"].to_numpy(dtype=bool),
        **{kind: kinds == kind for kind in FAILURE_KINDS},
    })  # fmt: skip
    if not frame["request_id"].duplicated().any():  # single events: a request is an event
        return frame.set_index("request_id").astype({k: int for k in ("accepted", *FAILURE_KINDS)})
    return frame.groupby("request_id", sort=False).agg(
        origin=("origin", "first"), http_ms=("http_ms", "first"), accepted=("accepted", "sum"),
        **{kind: (kind, "sum") for kind in FAILURE_KINDS},
    )  # fmt: skip
