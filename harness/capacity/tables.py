"""capacity.json as tables: the steps one row each, and the columns a sweep's tables get."""

from __future__ import annotations

import statistics

import pandas as pd

STEP_COLUMNS = {
    "index": "step",
    "role": "role",
    "rate_eps": "rate (events/s)",
    "achieved_eps": "achieved (events/s)",
    "http_p50_ms": "http p50 (ms)",
    "http_p99_ms": "http p99 (ms)",
    "e2e_p99_ms": "e2e p99 (ms)",
    "send_delay_p99_ms": "send delay p99 (ms)",
    "error_rate": "error rate",
    "lost": "lost",
    "steady": "steady",
    "verdict": "verdict",
    "reason": "reason",
}


def steps_frame(capacity: dict) -> pd.DataFrame:
    """One row per step, in the order the search ran them, with readable column names."""
    rows = [{key: step.get(key) for key in STEP_COLUMNS} for step in capacity.get("steps") or []]
    frame = pd.DataFrame(rows, columns=list(STEP_COLUMNS))
    frame["reason"] = ["; ".join(step.get("reasons") or []) for step in capacity.get("steps") or []]
    return frame.rename(columns=STEP_COLUMNS).set_index("step")


def summary_fields(capacity: dict) -> dict:
    """The columns a sweep point that is a capacity search adds to summary.csv: capacity_eps
    (null unless a capacity was found), capacity_reason (the criterion that stopped the search),
    capacity_result (found / at_least / below), capacity_bound_eps (the rate that result refers
    to), and the search's bracket: capacity_sustainable_eps (the highest sustainable rate) and
    capacity_failing_eps (the lowest failing rate above it)."""
    return {
        "capacity_eps": capacity.get("capacity_eps"),
        "capacity_reason": capacity.get("reason"),
        "capacity_result": capacity.get("result"),
        "capacity_bound_eps": capacity.get("bound_eps"),
        "capacity_sustainable_eps": capacity.get("sustainable_eps"),
        "capacity_failing_eps": capacity.get("failing_eps"),
    }


def _numbers(values) -> list[float]:
    found = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").dropna()
    return [float(v) for v in found]


def _median(values) -> float | None:
    found = _numbers(values)
    return statistics.median(found) if found else None


def _mode(values) -> object:
    found = [v for v in values if isinstance(v, str) and v]
    return statistics.mode(found) if found else None


def point_capacity(rows: pd.DataFrame) -> dict:
    """A capacity point's columns in points.csv, from its searches (summary.csv rows, one per
    repetition): capacity_eps is the median of the capacities found, capacity_eps.min / .max
    their range, capacity_searches how many searches ran and capacity_found how many found a
    capacity; the bracket (capacity_sustainable_eps, capacity_failing_eps) and the bound are
    medians over the searches; capacity_result and capacity_reason the most common."""

    def column(name: str) -> pd.Series:
        return rows[name] if name in rows else pd.Series(dtype=object)

    found = _numbers(column("capacity_eps"))
    return {
        "capacity_eps": statistics.median(found) if found else None,
        "capacity_eps.min": min(found) if found else None,
        "capacity_eps.max": max(found) if found else None,
        "capacity_searches": len(rows),
        "capacity_found": len(found),
        "capacity_result": _mode(column("capacity_result")),
        "capacity_reason": _mode(column("capacity_reason")),
        "capacity_bound_eps": _median(column("capacity_bound_eps")),
        "capacity_sustainable_eps": _median(column("capacity_sustainable_eps")),
        "capacity_failing_eps": _median(column("capacity_failing_eps")),
    }


def combine_searches(docs: list[dict], run_dirs: list[str]) -> dict:
    """A point's capacity.json when it was searched several times: each search's answer and
    bracket, the median capacity of those that found one and their range, and a summary line."""
    searches = [
        {"run_dir": run_dir, "result": doc.get("result"), "capacity_eps": doc.get("capacity_eps"),
         "sustainable_eps": doc.get("sustainable_eps"), "failing_eps": doc.get("failing_eps"),
         "reason": doc.get("reason"), "summary": doc.get("summary")}
        for doc, run_dir in zip(docs, run_dirs, strict=False)
    ]  # fmt: skip
    found = _numbers(s["capacity_eps"] for s in searches)
    median = statistics.median(found) if found else None
    if found:
        summary = (f"capacity {median:,.0f} events/s, the median of {len(found)} search(es) that "
                   f"found one (range {min(found):,.0f}–{max(found):,.0f}), of {len(searches)}")  # fmt: skip
    else:
        summary = f"no capacity found in {len(searches)} search(es)"
    return {
        "searches": searches,
        "capacity_eps": median,
        "capacity_min_eps": min(found) if found else None,
        "capacity_max_eps": max(found) if found else None,
        "found": len(found),
        "setting": (docs[0] if docs else {}).get("setting"),
        "objective": (docs[0] if docs else {}).get("objective"),
        "summary": summary,
    }


def measured_capacity(path: str) -> dict:
    """The capacity a run's rate may be taken from (`capacity_from`): DIR/capacity.json (or the
    file itself), of either shape: one search's (`result`, `capacity_eps`) or a point searched
    several times (`searches`, `capacity_eps` their median). Returns where it came from:
    `file`, `capacity_eps`, `shape` (search or searches) and `summary`; ValueError (what to do)
    when there is no file or it holds no capacity."""
    import json
    from pathlib import Path

    from harness.rundir import CAPACITY_FILE

    given = Path(path).expanduser()
    file = given / CAPACITY_FILE if given.is_dir() else given
    if not file.is_file():
        raise ValueError(
            f"capacity_from={path}: no {CAPACITY_FILE} there (give the directory of a capacity "
            "search, e.g. `python -m harness capacity --out DIR`, or its capacity.json)"
        )
    try:
        doc = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"capacity_from={path}: {file} is not readable JSON ({exc})") from None
    capacity = doc.get("capacity_eps") if isinstance(doc, dict) else None
    if not isinstance(capacity, int | float) or not capacity > 0:
        said = doc.get("summary") if isinstance(doc, dict) else None
        raise ValueError(
            f"capacity_from={path}: {file} holds no capacity ({said or 'capacity_eps is null'}); "
            "search again, or set --rate"
        )
    return {
        "file": str(file.resolve()),
        "capacity_eps": float(capacity),
        "shape": "searches" if "searches" in doc else "search",
        "summary": doc.get("summary"),
    }
