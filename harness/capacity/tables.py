"""capacity.json as tables: the steps one row each, and the columns a sweep's tables get."""

from __future__ import annotations

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
    """The columns a sweep point that is a capacity search adds to summary.csv / points.csv:
    capacity_eps (null unless a capacity was found), capacity_reason (the criterion that stopped
    the search), capacity_result (found / at_least / below) and capacity_bound_eps (the rate
    that result refers to)."""
    return {
        "capacity_eps": capacity.get("capacity_eps"),
        "capacity_reason": capacity.get("reason"),
        "capacity_result": capacity.get("result"),
        "capacity_bound_eps": capacity.get("bound_eps"),
    }
