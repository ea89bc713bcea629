"""The report's sections on what the events were: MB/s beside events/s when the events' size,
content or compression vary between points (a figure in events/s alone would compare unlike
things), and, when records are keyed, how they spread over the partitions and whether the order
per key held. Each part is None or empty when it does not apply."""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from harness import plots
from harness.analysis.points import THROUGHPUT
from harness.report.charts import grid_layout
from harness.report.sweepdata import (
    Sweep,
    closed_loop,
    grid_points,
    measured,
    number,
    setting_names,
    varying_settings,
)

MBPS = "throughput_mbps"
# Settings that change how many bytes an event is, or become on the way to Kafka.
BYTE_SETTINGS = ("config.event_bytes", "config.events_file", "config.compression",
                 "config.payload_random")  # fmt: skip
KEY = "config.key"
VIOLATIONS = "order.violations"


def _figure(row: pd.Series, column: str, fmt: str) -> str:
    """`1,234 [1,100–1,300]`: the median, with its interval when the table has one."""
    value = number(row, column)
    if not math.isfinite(value):
        return ""
    lo, hi = number(row, f"{column}.ci_lo"), number(row, f"{column}.ci_hi")
    interval = f" [{format(lo, fmt)}–{format(hi, fmt)}]" if math.isfinite(lo + hi) else ""
    return format(value, fmt) + interval


def shows_bytes(sweep: Sweep) -> bool:
    """MB/s is shown when a setting that changes the bytes varies between points."""
    points = sweep.points
    return MBPS in points and bool(set(varying_settings(points)) & set(BYTE_SETTINGS))


def bytes_table(sweep: Sweep) -> pd.DataFrame:
    """Per run point (capacity searches are not settings here), highest MB/s first: its name,
    events/s and MB/s (medians, with intervals), the mean size of an event as sent and of its
    Kafka record."""
    points = closed_loop(sweep.points)
    names = setting_names(sweep.points)
    rows = []
    for i, row in points.iterrows():
        rows.append({
            "setting": names[i],
            "events/s": _figure(row, THROUGHPUT, ",.0f"),
            "MB/s": _figure(row, MBPS, ",.2f"),
            "event bytes": _figure(row, "bytes.event.mean", ",.0f"),
            "record bytes": _figure(row, "bytes.record.mean", ",.0f"),
            "_sort": -number(row, MBPS) if math.isfinite(number(row, MBPS)) else math.inf,
        })  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.sort_values("_sort", kind="stable").drop(columns="_sort").reset_index(drop=True)


def bytes_heatmap(sweep: Sweep) -> Figure | None:
    """MB/s over the grid's two main settings (as the throughput heatmap draws events/s)."""
    layout = grid_layout(sweep)
    if not layout or "row" not in layout or MBPS not in sweep.points:
        return None
    return plots.grid_heatmap(measured(grid_points(sweep.points)), value=MBPS, fmt=",.1f",
                              row=layout["row"], col=layout["col"],
                              facet=layout["heat_facet"])  # fmt: skip


def keyed(sweep: Sweep) -> bool:
    points = sweep.points
    return KEY in points and points[KEY].fillna("none").astype(str).ne("none").any()


def _partition_records(sweep: Sweep, point: str) -> str:
    """The records per partition of a point's first successful run (a list in summary.csv)."""
    runs = sweep.runs[sweep.runs["point"].eq(point)]
    if "status" in runs:
        runs = runs[runs["status"].eq("ok")]
    values = runs.get("partitions.records", pd.Series(dtype=object)).dropna()
    return str(values.iloc[0]) if len(values) else ""


def keys_table(sweep: Sweep) -> pd.DataFrame:
    """Per point: its key, records per partition (first run), the imbalance (largest partition
    over the mean, median over the runs: 1.0 is even), and the order audit's pairs and
    violations (summed over the runs)."""
    points = sweep.points
    names = setting_names(points)
    rows = []
    for i, row in points.iterrows():
        violations = number(row, VIOLATIONS)
        rows.append({
            "setting": names[i],
            "key": str(row.get(KEY) or "none"),
            "records per partition": _partition_records(sweep, row.get("point")),
            "imbalance": _figure(row, "partitions.imbalance", ".2f"),
            "pairs checked": _figure(row, "order.pairs_checked", ",.0f"),
            "order violations": f"{violations:,.0f}" if math.isfinite(violations) else "",
        })  # fmt: skip
    return pd.DataFrame(rows)


def order_warnings(sweep: Sweep) -> list[str]:
    """A warning per point whose order audit found violations: a finding, not a failure."""
    points = sweep.points
    if VIOLATIONS not in points:
        return []
    names = setting_names(points)
    out = []
    for i, row in points.iterrows():
        found = number(row, VIOLATIONS)
        if math.isfinite(found) and found > 0:
            out.append(
                f"The order per key was NOT kept in {names[i]}: {found:,.0f} pair(s) of events "
                "with one key are in Kafka out of the order the client saw them answered "
                "(metrics.json `order.first_violations` names them)."
            )
    return out
