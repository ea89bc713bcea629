"""`python -m harness compare BASE NEW`: did NEW get faster, slower, or neither?

BASE and NEW are each a sweep directory or a repeated run (`summary.csv`, one row per
repetition), a run directory (`metrics.json`), or a directory of run directories (each
`metrics.json` a repetition; runs with the same parameters are repetitions of one point).
Points are matched by the parameters that define a point (`points.point_params`, on the
parameters both sides know); when each side holds a single point they are compared whatever
their parameters, and the differences are listed. Per matched point, throughput and http p99
are compared with `stats.compare_samples`. Writes a terminal table and compare.html (one chart);
exits 1 when a point got significantly slower beyond the threshold.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from harness.analysis import stats, summarize_sweep
from harness.analysis.metrics import NO_WINDOW, OK
from harness.analysis.points import (
    HIGHER_IS_BETTER,
    HTTP_P99,
    THROUGHPUT,
    point_params,
    repetition_samples,
)
from harness.rundir import FAILURE_FILE, METRICS_FILE, SUMMARY_FILE

COMPARED = (THROUGHPUT, HTTP_P99)
HTML_FILE = "compare.html"
_SHORT = {THROUGHPUT: "throughput", HTTP_P99: "http p99"}


@dataclass
class Side:
    """One side of a comparison: its repetitions (summary rows) and the parameters of its points."""

    path: Path
    summary: pd.DataFrame
    params: dict = field(default_factory=dict)  # point -> {param: canonical value}

    @property
    def points(self) -> list:
        return list(self.summary["point"].drop_duplicates())

    def describe(self) -> str:
        n = len(self.points)
        return f"{self.path} ({n} point{'s' if n != 1 else ''}, {len(self.summary)} run(s))"


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(
            f"--threshold {text!r}: write a percentage like 5% or a fraction like 0.05"
        ) from None
    if not raw.endswith("%") and value >= 1:
        raise ValueError(
            f"--threshold {text!r}: a fraction must be below 1 (write {raw}% for percent)"
        )
    if value < 0:
        raise ValueError(f"--threshold {text!r} must not be negative")
    return value


def canonical(value) -> str | None:
    """A parameter value as comparable text: 200, 200.0 and "200" (a CSV round trip) are equal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if isinstance(value, str) and value.strip().lower() in ("nan", "inf", "-inf", "infinity"):
        return value
    return str(int(number)) if number.is_integer() else repr(number)


def _run_dirs(root: Path) -> list[Path]:
    found = {p.parent for name in (METRICS_FILE, FAILURE_FILE) for p in root.rglob(name)}
    return sorted(found)


def _name_groups(summary: pd.DataFrame, keys: list[tuple], default: str) -> list[str]:
    """Names for groups of runs found by parameters: the parameters that differ between them
    (`default` when all runs are repetitions of one point)."""
    columns = point_params(summary.columns)
    distinct = sorted(set(keys), key=keys.index)
    if len(distinct) == 1:
        return [default] * len(keys)
    varying = [i for i, c in enumerate(columns) if len({k[i] for k in distinct}) > 1]
    names = {
        k: ",".join(f"{columns[i].removeprefix('config.')}={k[i]}" for i in varying)
        for k in distinct
    }
    return [names[k] for k in keys]


def load_side(path: str | Path) -> Side:
    """The repetitions of one side, as a summary with point, label and repetition columns."""
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory (a run or sweep directory is expected)")
    if (path / SUMMARY_FILE).exists():
        summary = pd.read_csv(path / SUMMARY_FILE)
        if "point" not in summary:  # a sweep of single runs written before points existed
            summary["point"] = [Path(str(d)).name for d in summary.get("run_dir", summary.index)]
    else:
        single = (path / METRICS_FILE).exists() or (path / FAILURE_FILE).exists()
        dirs = [path] if single else _run_dirs(path)
        if not dirs:
            raise ValueError(
                f"{path} holds no {SUMMARY_FILE}, no {METRICS_FILE} and no run directories: "
                "pass a run directory (harness run --out) or a sweep directory (harness sweep --out)"
            )
        summary = summarize_sweep(dirs)
        columns = point_params(summary.columns)
        keys = [tuple(canonical(v) for v in row) for row in summary[columns].itertuples(False)]
        summary["point"] = _name_groups(summary, keys, path.name)
    if "label" not in summary:
        summary["label"] = None
    if "repetition" not in summary:
        summary["repetition"] = summary.groupby("point", sort=False).cumcount() + 1
    if "status" not in summary:
        summary["status"] = "ok"
    side = Side(path, summary)
    columns = point_params(summary.columns)
    for point, rows in summary.groupby("point", sort=False):
        first = rows.iloc[0]
        side.params[point] = {c.removeprefix("config."): canonical(first[c]) for c in columns}
    return side


@dataclass
class Matching:
    pairs: list[tuple]  # (base point, new point)
    unmatched_base: list
    unmatched_new: list
    differences: dict  # param -> (base value, new value), for a single-point comparison
    one_sided: list[str]  # parameters only one side knows (ignored for matching)


def match_points(base: Side, new: Side) -> Matching:
    """Pairs of points with equal parameters (those both sides know); a single point on each
    side is paired whatever its parameters, and its differences are listed."""
    base_keys = set().union(*base.params.values()) if base.params else set()
    new_keys = set().union(*new.params.values()) if new.params else set()
    shared = sorted(base_keys & new_keys)
    one_sided = sorted(base_keys ^ new_keys)
    if len(base.points) == 1 and len(new.points) == 1:
        b, n = base.points[0], new.points[0]
        bp, np_ = base.params.get(b, {}), new.params.get(n, {})
        diff = {
            k: (bp.get(k), np_.get(k))
            for k in sorted(set(bp) | set(np_))
            if bp.get(k) != np_.get(k)
        }
        return Matching([(b, n)], [], [], diff, one_sided)

    def key(params: dict) -> tuple:
        return tuple(params.get(k) for k in shared)

    by_key: dict[tuple, list] = {}
    for point in new.points:
        by_key.setdefault(key(new.params[point]), []).append(point)
    pairs, unmatched_base = [], []
    for point in base.points:
        candidates = by_key.get(key(base.params[point]))
        if candidates:
            pairs.append((point, candidates.pop(0)))
        else:
            unmatched_base.append(point)
    matched_new = {n for _, n in pairs}
    unmatched_new = [p for p in new.points if p not in matched_new]
    return Matching(pairs, unmatched_base, unmatched_new, {}, one_sided)


def _no_window(side: Side, point) -> bool:
    """The point ran, but no repetition had a measured window (every event in the warm-up)."""
    status = side.summary.loc[side.summary["point"].eq(point), "status"]
    return bool(status.eq(NO_WINDOW).any() and not status.eq(OK).any())


def compare_sides(base: Side, new: Side, matching: Matching, threshold: float) -> pd.DataFrame:
    """One row per matched point and figure: the `stats.Comparison` fields, plus the point's
    overall verdict (`stats.overall_verdict` over its figures)."""
    rows = []
    for b, n in matching.pairs:
        label = _label(new.summary, n) or _label(base.summary, b)
        empty = [name for name, side, p in (("BASE", base, b), ("NEW", new, n))
                 if _no_window(side, p)]  # fmt: skip
        for figure in COMPARED:
            c = stats.compare_samples(
                repetition_samples(base.summary, b, figure),
                repetition_samples(new.summary, n, figure),
                higher_is_better=HIGHER_IS_BETTER.get(figure, False), threshold=threshold,
            )  # fmt: skip
            if empty:  # the runs succeeded, but measured nothing: say so, not "no success"
                c = replace(c, note=f"no measured window on {' and '.join(empty)}: every event "
                            "was sent during the warm-up (lower --warmup-s or leave it unset, "
                            "or send more events)")  # fmt: skip
            rows.append({"base_point": b, "new_point": n, "label": label, "figure": figure,
                         **c.to_dict()})  # fmt: skip
    table = pd.DataFrame(rows)
    if not table.empty:
        overall = table.groupby(["base_point", "new_point"], sort=False)["verdict"].agg(
            stats.overall_verdict
        )
        table["point_verdict"] = [overall[(b, n)] for b, n in zip(table["base_point"],
                                                                   table["new_point"], strict=True)]  # fmt: skip
    return table


def _label(summary: pd.DataFrame, point) -> str | None:
    labels = summary.loc[summary["point"].eq(point), "label"].dropna()
    return str(labels.iloc[0]) if len(labels) else None


def _fmt(x: float, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _ratio_text(row) -> str:
    ci = (
        f" [{_fmt(row['ratio_ci_lo'])}, {_fmt(row['ratio_ci_hi'])}]"
        if not math.isnan(row["ratio_ci_lo"])
        else " [no interval]"
    )
    return f"{_fmt(row['ratio'])}{ci}"


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison as text: one row per matched point and figure."""
    rows = []
    for r in table.itertuples(index=False):
        name = r.base_point if r.base_point == r.new_point else f"{r.base_point} -> {r.new_point}"
        rows.append({
            "point": name, "figure": _SHORT.get(r.figure, r.figure),
            "reps": f"{r.n_base} vs {r.n_new}", "base": _fmt(r.median_base, 1),
            "new": _fmt(r.median_new, 1), "new/base [interval]": _ratio_text(r._asdict()),
            "p": _fmt(r.p_value, 3), "verdict": r.verdict,
        })  # fmt: skip
    return pd.DataFrame(rows)


def point_verdicts(table: pd.DataFrame) -> dict:
    """(base point, new point) -> its overall verdict."""
    return dict(
        zip(zip(table["base_point"], table["new_point"], strict=True), table["point_verdict"],
            strict=True)
    )  # fmt: skip


def chart(table: pd.DataFrame, threshold: float) -> Figure:
    """Ratio NEW/BASE of each matched point's medians with its 95% interval, per figure; the band
    is the threshold around 1 (a change inside it is never called)."""
    points = list(dict.fromkeys(zip(table["base_point"], table["new_point"], strict=True)))
    fig = Figure(figsize=(8, 1.2 + 0.5 * max(len(points), 1)), layout="constrained")
    ax = fig.add_subplot()
    ax.axvspan(1 / (1 + threshold), 1 + threshold, color="0.9")
    ax.axvline(1, color="0.5", lw=0.8)
    colors = {stats.SLOWER: "tab:red", stats.FASTER: "tab:green"}
    markers = dict(zip(COMPARED, "os", strict=True))
    for offset, figure in zip((-0.15, 0.15), COMPARED, strict=True):
        rows = table[table["figure"].eq(figure)]
        for i, (b, n) in enumerate(points):
            r = rows[rows["base_point"].eq(b) & rows["new_point"].eq(n)]
            if r.empty or math.isnan(r["ratio"].iloc[0]):
                continue
            r = r.iloc[0]
            lo, hi = r["ratio_ci_lo"], r["ratio_ci_hi"]
            err = None if math.isnan(lo) else [[r["ratio"] - lo], [hi - r["ratio"]]]
            ax.errorbar(r["ratio"], i + offset, xerr=err, fmt=markers[figure], capsize=3,
                        color=colors.get(r["verdict"], "0.3"))  # fmt: skip
    handles = [Line2D([], [], ls="", marker=markers[f], color="0.3", label=_SHORT[f])
               for f in COMPARED]  # fmt: skip
    handles += [Patch(color=c, label=v) for v, c in colors.items()]
    handles.append(Patch(color="0.9", label=f"within ±{threshold:.0%}"))
    ax.set_yticks(range(len(points)), [b if b == n else f"{b} -> {n}" for b, n in points])
    ax.set_ylim(len(points) - 0.5, -0.5)
    ax.set_xlabel(
        "NEW / BASE (median, bootstrap interval); throughput: higher is faster, p99: lower"
    )
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    return fig


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _items(title: str, items) -> str:
    if not items:
        return ""
    lis = "".join(f"<li>{html.escape(str(i))}</li>" for i in items)
    return f"<h2>{html.escape(title)}</h2><ul>{lis}</ul>"


def render_html(base: Side, new: Side, matching: Matching, table: pd.DataFrame,
                threshold: float) -> str:  # fmt: skip
    """compare.html: sides, differences, the chart, the table, unmatched points, notes."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>harness compare</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 6px;font-size:90%}</style></head><body>",
        "<h1>Compare</h1>",
        f"<p>BASE: {html.escape(base.describe())}<br>NEW: {html.escape(new.describe())}<br>"
        f"threshold {threshold:.0%}; verdicts as in docs/analysis.md (Compare)</p>",
        _items(
            "Settings that differ (BASE -> NEW)",
            [f"{k}: {b} -> {n}" for k, (b, n) in matching.differences.items()],
        ),  # fmt: skip
    ]
    if not table.empty:
        parts.append(
            f"<img alt='ratios' src='data:image/png;base64,{_png(chart(table, threshold))}'>"
        )
        parts.append(display_table(table).to_html(index=False, escape=True))
        parts.append(_items("Verdict per point", [
            f"{b if b == n else f'{b} -> {n}'}: {v}" for (b, n), v in point_verdicts(table).items()
        ]))  # fmt: skip
    parts += [
        _items("Only in BASE (unmatched)", matching.unmatched_base),
        _items("Only in NEW (unmatched)", matching.unmatched_new),
        _items("Parameters only one side records (not used to match)", matching.one_sided),
        _items("Notes", notes(table)),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def notes(table: pd.DataFrame) -> list[str]:
    """The distinct reasons behind the verdicts, when a test could not run as usual."""
    if table.empty:
        return []
    found = table.loc[table["test"].ne(stats.TEST_MANN_WHITNEY), "note"]
    return list(dict.fromkeys(found))


def regressed(table: pd.DataFrame) -> bool:
    return bool(not table.empty and table["verdict"].eq(stats.SLOWER).any())


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        threshold = parse_threshold(args.threshold)
        base, new = load_side(args.base), load_side(args.new)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    matching = match_points(base, new)
    table = compare_sides(base, new, matching, threshold)
    print(f"BASE {base.describe()}\nNEW  {new.describe()}")
    if matching.differences:
        diffs = "; ".join(f"{k}: {b} -> {n}" for k, (b, n) in matching.differences.items())
        print(f"settings that differ: {diffs}")
    if not table.empty:
        with pd.option_context("display.width", 250, "display.max_columns", None):
            print(display_table(table).to_string(index=False))
        for (b, n), verdict in point_verdicts(table).items():
            print(f"{b if b == n else f'{b} -> {n}'}: {verdict}")
    for title, items in (("only in BASE", matching.unmatched_base),
                         ("only in NEW", matching.unmatched_new)):  # fmt: skip
        if items:
            print(f"{title} (unmatched): {', '.join(map(str, items))}")
    for note in notes(table):
        print(f"note: {note}")
    out = Path(args.out) if args.out else new.path / HTML_FILE
    out.write_text(render_html(base, new, matching, table, threshold), encoding="utf-8")
    print(f"compare: {out.resolve()}")
    if table.empty:
        print("error: no point of BASE matches a point of NEW: nothing was compared",
              file=sys.stderr)  # fmt: skip
        return 2
    if regressed(table):
        slow = table.loc[table["verdict"].eq(stats.SLOWER)]
        names = ", ".join(f"{r.new_point} ({_SHORT[r.figure]})" for r in slow.itertuples())
        print(f"REGRESSION beyond {threshold:.0%}: {names}", file=sys.stderr)
        return 1
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "compare", help="BASE against NEW (run or sweep directories): faster, slower or no change"
    )
    p.add_argument("base", help="the run or sweep directory before the change")
    p.add_argument("new", help="the run or sweep directory after the change")
    p.add_argument(
        "--threshold", default=f"{stats.DEFAULT_THRESHOLD:.0%}",
        help="smallest change that counts, e.g. 5%% (default) or 0.05",
    )  # fmt: skip
    p.add_argument("--out", help=f"the HTML report (default: NEW/{HTML_FILE})")
    p.set_defaults(func=cmd_compare)
