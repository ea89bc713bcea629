"""Figures of a run's faults, from its timeline (timeline.py): how long the service was unavailable
after each fault instant, the worst latency inside that span, the errors, and how long until the
consumers caught up. Pure: the timeline, the records and the fault reports in, a dict out
(metrics.json's `faults`, docs/analysis.md).

- A bin is **good** when it holds requests, none of them failed, and its http p99 is within the
  objective (`p99_objective_ms`). **Unavailability**: from the fault's instant to the start of the
  first `GOOD_BINS` consecutive good bins (searched from the bin the fault began in; 0 when those
  come at once). It must be seen before the next fault instant (or the end of the load): else it
  is null, with `recovered: false`.
- **pMax**: the largest http latency of the requests due (open loop; sent, in closed loop) inside
  the span [instant, instant + unavailability); **errors** by kind and **accepted** events of
  those requests.
- **Recovery**: from the fault's instant to the end of the first bin, at or after the span's end,
  from which the consumer lag (accepted, not yet logged; its mean over each bin, `lag_mean`)
  stays within its pre-fault level for `GOOD_BINS` bins; the level is the largest mean lag of a
  measured bin before the fault (after the previous fault's recovery), `LAG_TOLERANCE` more and
  one event. Null when not seen before the next fault instant or the timeline's end. So recovery
  >= unavailability: the service answers again *and* the consumers have caught up.
- Across a run's fault instants (every cycle; every broker of a rolling restart): min, median and
  max of unavailability and recovery, null when one instant has none (a figure nobody measured is
  not a figure); pMax the largest; errors and accepted summed.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd

from harness.analysis.timeline import FAILED_COLUMNS, FAILURE_KINDS

GOOD_BINS = 3  # K: consecutive good bins that end an unavailability span
# The lag is "back within its pre-fault level" within this share above the pre-fault peak (and
# one event): the mean lag of a steady bin wanders by a few percent around rate x waiting time.
LAG_TOLERANCE = 0.25
DEFAULT_P99_OBJECTIVE_MS = 250.0
STAT_KEYS = ("min", "median", "max")


def _bin_s(tl: pd.DataFrame) -> float:
    steps = np.diff(tl["t_s"].to_numpy(dtype=float))
    return float(steps[0]) if len(steps) else 1.0


def _events(tl: pd.DataFrame) -> np.ndarray:
    return tl[["accepted", "rejected", *FAILED_COLUMNS]].to_numpy(dtype=float).sum(axis=1)


def good_bins(tl: pd.DataFrame, objective_ms: float) -> np.ndarray:
    """Per bin: requests, none failed, http p99 within the objective."""
    failed = tl[FAILED_COLUMNS].to_numpy(dtype=float).sum(axis=1)
    p99 = tl["http_p99_ms"].to_numpy(dtype=float)
    return (_events(tl) > 0) & (failed == 0) & (p99 <= objective_ms)


def _bin_of(tl: pd.DataFrame, instant: float) -> int:
    t0, bin_s = float(tl["start"].iloc[0]), _bin_s(tl)
    return max(0, int(math.floor((instant - t0) / bin_s)))


def _first_run(ok: np.ndarray, starts: np.ndarray, first: int, k: int, until: float) -> int | None:
    """The first bin j >= first starting k consecutive True bins, the last of which starts
    before `until`."""
    for j in range(first, len(ok) - k + 1):
        if starts[j + k - 1] >= until:
            return None
        if ok[j : j + k].all():
            return j
    return None


def unavailability_span(
    tl: pd.DataFrame, at: float, objective_ms: float, until: float = math.inf, k: int = GOOD_BINS
) -> float | None:
    """The instant the span that began at `at` ends (the start of the first k good bins), or
    None when it does not end before `until`."""
    if tl.empty:
        return None
    starts = tl["start"].to_numpy(dtype=float)
    j = _first_run(good_bins(tl, objective_ms), starts, _bin_of(tl, at), k, until)
    return None if j is None else max(at, float(starts[j]))


def lag_level(tl: pd.DataFrame, at: float, since: float) -> float:
    """The pre-fault lag level: LAG_TOLERANCE above the largest mean lag of a measured bin that
    ended by `at` and began at or after `since` (else of any measured bin before `at`; else 0),
    plus one event."""
    ends = tl["start"].to_numpy(dtype=float) + _bin_s(tl)
    before = (ends <= at) & ~tl["warmup"].to_numpy(dtype=bool)
    lag = tl["lag_mean"].to_numpy(dtype=float)
    peak = 0.0
    for chosen in (before & (tl["start"].to_numpy(dtype=float) >= since), before):
        if chosen.any():
            peak = float(lag[chosen].max())
            break
    return round(peak * (1 + LAG_TOLERANCE) + 1, 3)


def recovered_at(
    tl: pd.DataFrame, after: float, level: float, until: float = math.inf, k: int = GOOD_BINS
) -> float | None:
    """The end of the first bin, from the one holding `after` on, from which the lag stays within
    `level` for k bins (the last starting before `until`); None when there is none."""
    starts = tl["start"].to_numpy(dtype=float)
    ok = tl["lag_mean"].to_numpy(dtype=float) <= level
    j = _first_run(ok, starts, _bin_of(tl, after), k, until)
    return None if j is None else float(starts[j] + _bin_s(tl))


def _inside(requests: pd.DataFrame, start: float, end: float) -> pd.DataFrame:
    origin = requests["origin"].to_numpy(dtype=float)
    return requests[(origin >= start) & (origin < end)]


def instant_figures(
    tl: pd.DataFrame,
    requests: pd.DataFrame,
    at: float,
    objective_ms: float,
    until: float,
    since: float,
    k: int = GOOD_BINS,
    lag_until: float = math.inf,
) -> dict:
    """The figures of one fault instant (see the module's docstring). `requests`: one row per
    request (timeline.request_frame); `until`: the next fault instant or the load's end;
    `lag_until`: the next fault instant (the lag may catch up after the load); `since`: where
    its pre-fault lag level is taken from."""
    end = unavailability_span(tl, at, objective_ms, until, k)
    span = _inside(requests, at, end if end is not None else until)
    level = lag_level(tl, at, since)
    recovery = None if end is None else recovered_at(tl, end, level, lag_until, k)
    p_max = span["http_ms"].max() if len(span) else None
    return {
        "unavailability_s": None if end is None else round(end - at, 3),
        "recovered": end is not None,
        "span_end": end,
        "p_max_ms": None if p_max is None or not np.isfinite(p_max) else float(p_max),
        "requests_in_span": int(len(span)),
        "errors": {kind: int(span[kind].sum()) for kind in FAILURE_KINDS},
        "accepted_in_span": int(span["accepted"].sum()),
        "lag_level": level,
        "recovery_s": None if recovery is None else round(recovery - at, 3),
        "recovered_at_lag": recovery,
    }


def _stats(values: list) -> dict:
    if not values or any(v is None for v in values):
        return dict.fromkeys(STAT_KEYS)
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def fault_figures(
    tl: pd.DataFrame,
    requests: pd.DataFrame,
    reports: list[dict],
    kind: str,
    objective_ms: float = DEFAULT_P99_OBJECTIVE_MS,
    load_end: float | None = None,
    cycles: int | None = None,
    k: int = GOOD_BINS,
) -> dict:
    """metrics.json's `faults`: the figures of every fault instant that landed (`instants`, in
    order), their spread, and how many cycles were planned, landed and missed."""
    landed = sorted((r for r in reports if r.get("at") is not None and not r.get("missed")),
                    key=lambda r: r["at"])  # fmt: skip
    until_end = load_end if load_end is not None else math.inf
    instants = []
    since = float(tl["start"].iloc[0]) if len(tl) else 0.0
    for i, report in enumerate(landed):
        following = landed[i + 1]["at"] if i + 1 < len(landed) else math.inf
        until = min(following, until_end)
        found = instant_figures(tl, requests, report["at"], objective_ms, until, since, k,
                                following) if len(tl) else {}  # fmt: skip
        instants.append({key: report.get(key) for key in ("fault", "target", "cycle", "at",
                                                          "end", "recovered_at", "after_load",
                                                          "error")} | found)  # fmt: skip
        if found.get("recovered_at_lag") is not None:
            since = found["recovered_at_lag"]
    errors = {kind_: sum(i.get("errors", {}).get(kind_, 0) for i in instants)
              for kind_ in FAILURE_KINDS}  # fmt: skip
    p_max = [i["p_max_ms"] for i in instants if i.get("p_max_ms") is not None]
    return {
        "kind": kind,
        "cycles": cycles,
        "landed": sum(not r.get("after_load") for r in landed),
        "missed": sum(bool(r.get("missed") or r.get("after_load")) for r in reports),
        "p99_objective_ms": objective_ms,
        "good_bins": k,
        "unavailability_s": _stats([i.get("unavailability_s") for i in instants]),
        "recovery_s": _stats([i.get("recovery_s") for i in instants]),
        "p_max_ms": max(p_max) if p_max else None,
        "errors": errors,
        "accepted_in_span": sum(i.get("accepted_in_span", 0) for i in instants),
        "unrecovered": sum(not i.get("recovered", False) for i in instants),
        "instants": instants,
    }


def no_faults() -> dict:
    """metrics.json's `faults` of a run without one (its keys, for --slo, with nothing in them)."""
    found = fault_figures(pd.DataFrame(), pd.DataFrame(), [], "none")
    found.update(landed=0, missed=0, unrecovered=0, accepted_in_span=None, p99_objective_ms=None,
                 errors=dict.fromkeys(FAILURE_KINDS))  # fmt: skip
    return found
