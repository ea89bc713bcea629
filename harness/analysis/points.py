"""The points table: one row per point of a sweep (or of a repeated run), from its repetitions.

Input: a summary DataFrame with one row per repetition, as `summarize_sweep` makes it, plus the
columns `point`, `label` and `repetition`. Figures are taken over the successful repetitions
(status "ok"); counts of lost and duplicate events are summed over all of them. Intervals and
coefficients of variation are those of `harness.analysis.stats` (see its assumptions): absent
(NaN) with one successful repetition.
"""

from __future__ import annotations

import ast
import json

import numpy as np
import pandas as pd

from harness.analysis import stats
from harness.analysis.metrics import FAILED, NO_WINDOW, OK

THROUGHPUT = "throughput_eps"
HTTP_P99 = "latency_ms.http.p99"
# Figures with a median and an interval of it in the points table (stats.median_interval: a 95%
# CI from 6 repetitions, below that the range, with its coverage in F.ci_coverage).
FIGURES = (
    THROUGHPUT,
    "latency_ms.http.p50",
    HTTP_P99,
    "latency_ms.e2e.p99",
    "latency_ms.send_delay.p99",
    "throughput_mbps",
)
CV_FIGURES = (THROUGHPUT, HTTP_P99)
# The points table's column saying what the intervals are: "95% CI" or "range" (stats).
INTERVAL = "interval"
# Figures where a higher value is better (the others are costs: latencies).
HIGHER_IS_BETTER = {THROUGHPUT: True}
SUMMED = ("counts.sent", "counts.accepted", "counts.lost", "counts.duplicates",
          "order.violations", "order.pairs_checked")  # fmt: skip
# Figures with a median only (facts of the setting rather than measurements to compare).
MEDIANS = ("partitions.imbalance", "bytes.event.mean", "bytes.record.mean",
           "faults.unavailability_s.median", "faults.unavailability_s.max",
           "faults.recovery_s.median", "faults.recovery_s.max", "faults.p_max_ms")  # fmt: skip
STEADY = "steadiness.steady"
CLIENT_BOUND = "client_bound"
SLO = "slo"
# Run parameters that say where or how a point was measured, not what was measured: two runs
# that differ only in these are repetitions of one point.
NOT_POINT_PARAMS = frozenset(
    {"bootstrap_servers", "api_url", "topic", "ceiling_rps", "measure_ceiling", "random_seed",
     "drain_timeout_s", "broker_warmup_s", "repeat", "api_key", "keep_topic", "capacity_from"}
)  # fmt: skip
CONFIG_PREFIX = "config."


def point_params(columns) -> list[str]:
    """The config.* columns that define a point (all but NOT_POINT_PARAMS)."""
    return [
        c
        for c in columns
        if c.startswith(CONFIG_PREFIX) and c[len(CONFIG_PREFIX) :] not in NOT_POINT_PARAMS
    ]


def _ok(summary: pd.DataFrame) -> pd.Series:
    return summary["status"].eq(OK) if "status" in summary else pd.Series(True, summary.index)


def point_status(statuses: pd.Series) -> str:
    """A point's status from its repetitions': failed if one failed, else no-window if one had
    no measured window (every event in the warm-up), else ok."""
    found = set(statuses.fillna(OK))
    if found - {OK, NO_WINDOW}:
        return FAILED
    return NO_WINDOW if NO_WINDOW in found else OK


def _values(rows: pd.DataFrame, column: str) -> np.ndarray:
    if column not in rows:
        return np.zeros(0)
    return stats.clean(pd.to_numeric(rows[column], errors="coerce").to_numpy())


def _first(values: pd.Series):
    present = values.dropna()
    return present.iloc[0] if len(present) else None


def _flags(values: pd.Series) -> list:
    """Booleans of a column that may hold True/False/None, or their text after a CSV round trip."""
    words = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    out = []
    for v in values:
        if isinstance(v, bool | np.bool_):
            out.append(bool(v))
        elif isinstance(v, str) and v.strip().lower() in words:
            out.append(words[v.strip().lower()])
        else:
            out.append(None)
    return out


def all_true(values: pd.Series) -> bool | None:
    """False if any repetition says False, True if all say True, else None (not judged)."""
    flags = _flags(values)
    if False in flags:
        return False
    return True if flags and all(f is True for f in flags) else None


def any_true(values: pd.Series) -> bool | None:
    """True if any repetition says True, False if all say False, else None (not judged)."""
    flags = _flags(values)
    if True in flags:
        return True
    return False if flags and all(f is False for f in flags) else None


def _slo_verdicts(value) -> list | None:
    """A run's SLO verdicts: a list, or its JSON / Python text after a CSV round trip."""
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip().startswith("["):
        for parse in (json.loads, ast.literal_eval):
            try:
                return parse(value)
            except (ValueError, SyntaxError):
                continue
    return None


def slo_ok(values: pd.Series) -> bool | None:
    """True when every SLO of every repetition held, False when one failed, None without SLOs."""
    verdicts = [_slo_verdicts(v) for v in values]
    found = [item for v in verdicts if v for item in v]
    if not found:
        return None
    return all(bool(item.get("ok")) for item in found)


def _point_row(point, rows: pd.DataFrame, config_columns: list[str]) -> dict:
    ok = rows[_ok(rows)]
    row: dict = {"point": point, "label": _first(rows["label"]) if "label" in rows else None}
    row.update({c: _first(rows[c]) for c in config_columns})
    statuses = rows["status"] if "status" in rows else pd.Series(OK, index=rows.index)
    errors = rows.loc[~_ok(rows), "error"].dropna().astype(str) if "error" in rows else []
    errors = list(dict.fromkeys(errors))
    empty = int(statuses.eq(NO_WINDOW).sum())
    if empty:
        errors.append(f"no measured window in {empty} of {len(rows)} run(s): every event was "
                      "sent during the warm-up")  # fmt: skip
    row.update({
        "repeats": len(rows),
        "repeats_ok": len(ok),
        "status": point_status(statuses),
        "error": "; ".join(errors) or None,
    })  # fmt: skip
    for figure in FIGURES:
        values = _values(ok, figure)
        found = stats.median_interval(values)
        row.update({figure: stats.median(values), f"{figure}.ci_lo": found.lo,
                    f"{figure}.ci_hi": found.hi, f"{figure}.ci_coverage": found.coverage})  # fmt: skip
        if figure == THROUGHPUT:
            row[INTERVAL] = found.label or None
    for figure in CV_FIGURES:
        row[f"{figure}.cv"] = stats.cv(_values(ok, figure))
    for column in SUMMED:
        values = _values(rows, column)
        row[column] = int(values.sum()) if len(values) else None
    for column in MEDIANS:
        values = _values(ok, column)
        row[column] = stats.median(values) if len(values) else None
    row["steady"] = all_true(ok[STEADY]) if STEADY in ok else None
    row["client_bound"] = any_true(ok[CLIENT_BOUND]) if CLIENT_BOUND in ok else None
    if SLO in rows:
        row["slo_ok"] = slo_ok(rows[SLO])
    if any(column.startswith("capacity") for column in rows.columns):
        from harness.capacity.tables import point_capacity

        if rows.filter(like="capacity_result").notna().any().any():
            row.update(point_capacity(rows[_ok(rows)] if _ok(rows).any() else rows))
    return row


def points_table(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per point, in the order the points first appear: point, label, the config.*
    columns, repeats (all repetitions), repeats_ok, status ("ok" when every repetition
    succeeded), error; for each of FIGURES its median F with F.ci_lo / F.ci_hi and the interval's
    coverage F.ci_coverage (stats.median_interval: a 95% CI from 6 repetitions, the range with
    its coverage below that, NaN with one repetition), and `interval` ("95% CI" or "range"); the
    coefficient of variation of throughput and http p99 (F.cv); the SUMMED counts summed (null
    when no repetition has them); the median of each of MEDIANS; steady (every repetition steady),
    client_bound (any), slo_ok (every objective of every repetition held; only when the summary
    has SLO verdicts), and capacity* columns passed through."""
    if summary.empty:
        return pd.DataFrame(columns=["point", "label", "repeats", "status"])
    if "point" not in summary:
        raise ValueError("the summary has no `point` column: one row per repetition of a point")
    config_columns = [c for c in summary.columns if c.startswith(CONFIG_PREFIX)]
    rows = [
        _point_row(point, group, config_columns)
        for point, group in summary.groupby("point", sort=False, dropna=False)
    ]
    return pd.DataFrame(rows)


def best_point(
    points: pd.DataFrame, p99_ms_max: float, latency: str = HTTP_P99, throughput: str = THROUGHPUT
) -> pd.Series | None:
    """The successful point with the highest median throughput whose median p99 latency is
    strictly below `p99_ms_max`, or None when no point meets the objective."""
    if points.empty or latency not in points or throughput not in points:
        return None
    lat = pd.to_numeric(points[latency], errors="coerce")
    thr = pd.to_numeric(points[throughput], errors="coerce")
    feasible = points["status"].eq(OK) & (lat < p99_ms_max) & thr.notna()
    if not feasible.any():
        return None
    return points.loc[thr[feasible].idxmax()]


def repetition_samples(summary: pd.DataFrame, point, figure: str) -> np.ndarray:
    """The figure's values over the successful repetitions of one point."""
    rows = summary[summary["point"].eq(point) & _ok(summary)]
    return _values(rows, figure)


def compare_to_best(
    summary: pd.DataFrame,
    best: str,
    threshold: float = stats.DEFAULT_THRESHOLD,
    figures: tuple[str, ...] = (THROUGHPUT, HTTP_P99),
) -> pd.DataFrame:
    """Every other point against the best one, figure by figure (`stats.compare_samples`, BASE =
    the best point, NEW = the other): for each figure F the ratio of medians F.ratio (other /
    best) with F.ratio_ci_lo / F.ratio_ci_hi and F.verdict; and `indistinguishable`: no figure
    differs by a significant change beyond `threshold` (a point with one repetition cannot be
    told apart, so it counts as indistinguishable, and its verdicts say "cannot tell")."""
    base = {f: repetition_samples(summary, best, f) for f in figures}
    rows = []
    ok_points = summary.loc[_ok(summary), "point"].drop_duplicates()
    for point in ok_points:
        if point == best:
            continue
        labels = summary.loc[summary["point"].eq(point), "label"] if "label" in summary else []
        row: dict = {"point": point, "label": _first(pd.Series(labels, dtype=object))}
        verdicts = []
        for figure in figures:
            c = stats.compare_samples(
                base[figure], repetition_samples(summary, point, figure),
                higher_is_better=HIGHER_IS_BETTER.get(figure, False), threshold=threshold,
            )  # fmt: skip
            row.update({
                figure: c.median_new, f"{figure}.ratio": c.ratio,
                f"{figure}.ratio_ci_lo": c.ratio_ci_lo, f"{figure}.ratio_ci_hi": c.ratio_ci_hi,
                f"{figure}.verdict": c.verdict,
            })  # fmt: skip
            verdicts.append(c.verdict)
        row["indistinguishable"] = not ({stats.FASTER, stats.SLOWER} & set(verdicts))
        rows.append(row)
    return pd.DataFrame(rows)
