"""The sweep report: tables the report notebook shows, and its rendering to a standalone HTML file.

`render_report(sweep_dir)` executes notebooks/report.ipynb with papermill into the sweep directory,
then nbconvert turns it into `report.html` without code cells, images embedded: readable alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis import latency_samples, read_client_records, read_events_log
from harness.paths import NOTEBOOKS

REPORT_NOTEBOOK = NOTEBOOKS / "report.ipynb"
DEFAULT_P99_OBJECTIVE_MS = 250.0

# The sweep table's columns a reader needs, with short headings.
KEY_COLUMNS = {
    "point": "point",
    "config.threads": "threads",
    "config.endpoint": "endpoint",
    "config.server": "server",
    "config.delivery": "delivery",
    "config.client": "client",
    "config.acks": "acks",
    "config.linger_ms": "linger ms",
    "config.batch_size": "batch bytes",
    "config.compression": "compression",
    "throughput_eps": "events/s",
    "latency_ms.http.p50": "http p50 ms",
    "latency_ms.http.p99": "http p99 ms",
    "latency_ms.e2e.p99": "e2e p99 ms",
    "counts.accepted": "accepted",
    "counts.lost": "lost",
    "counts.duplicates": "dups",
    "client_bound": "client-bound",
    "status": "status",
}


def load_summary(sweep_dir: str | Path) -> pd.DataFrame:
    return pd.read_csv(Path(sweep_dir) / "summary.csv")


def sweep_environment(sweep_dir: str | Path) -> dict:
    return json.loads((Path(sweep_dir) / "sweep.json").read_text())["environment"]


def key_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The sweep's main columns, renamed for reading; rows in throughput order."""
    cols = [c for c in KEY_COLUMNS if c in summary]
    table = summary[cols].rename(columns=KEY_COLUMNS)
    if "events/s" in table:
        table = table.sort_values("events/s", ascending=False, na_position="last")
    return table.round(1).reset_index(drop=True)


def varying_params(runs: pd.DataFrame, x: str = "config.threads") -> list[str]:
    """The run parameters (besides the x axis) that differ between runs: one plotted line each."""
    skip = {x, "config.bootstrap_servers", "config.topic", "config.ceiling_rps"}
    cols = [c for c in runs if c.startswith("config.") and c not in skip]
    return [c for c in cols if runs[c].astype(str).nunique() > 1]


def ok_runs(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["status"].eq("ok")]


def failures(summary: pd.DataFrame) -> pd.DataFrame:
    failed = summary[~summary["status"].eq("ok")]
    return failed[[c for c in ("point", "error") if c in failed]].reset_index(drop=True)


def is_seed_style(summary: pd.DataFrame) -> pd.Series:
    """The original design's points: Werkzeug dev server, send + flush per request."""
    server = summary.get("config.server", pd.Series(index=summary.index, dtype=object))
    delivery = summary.get("config.delivery", pd.Series(index=summary.index, dtype=object))
    return server.eq("werkzeug") & delivery.eq("flush")


def baseline_comparison(summary: pd.DataFrame, best: pd.Series | None) -> pd.DataFrame | None:
    """Seed-style baseline vs the best setting: throughput and latency side by side, and ratios."""
    runs = ok_runs(summary)
    seed = runs[is_seed_style(runs)]
    if seed.empty or best is None:
        return None
    seed = seed.loc[pd.to_numeric(seed["throughput_eps"]).idxmax()]
    rows = {
        "events/s": "throughput_eps",
        "http p50 ms": "latency_ms.http.p50",
        "http p99 ms": "latency_ms.http.p99",
        "e2e p99 ms": "latency_ms.e2e.p99",
    }
    table = pd.DataFrame(
        {
            "seed-style (" + str(seed["point"]) + ")": [float(seed[c]) for c in rows.values()],
            "best (" + str(best["point"]) + ")": [float(best[c]) for c in rows.values()],
        },
        index=list(rows),
    )
    table["best / seed-style"] = table.iloc[:, 1] / table.iloc[:, 0]
    return table.round(2)


def http_latency_samples(summary: pd.DataFrame, limit: int = 8) -> dict[str, np.ndarray]:
    """{point: http latency samples (ms)} of the successful runs, for the percentile plot."""
    out = {}
    for _, row in ok_runs(summary).head(limit).iterrows():
        run_dir = Path(row["run_dir"])
        records = read_client_records(run_dir / "client_records.parquet")
        out[str(row["point"])] = latency_samples(records, read_events_log([]))["http"]
    return out


def render_report(
    sweep_dir: str | Path, p99_objective_ms: float | None = None, kernel_name: str | None = None
) -> Path:
    """Executes the report notebook on `sweep_dir` and writes `sweep_dir/report.html`."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    sweep_dir = Path(sweep_dir).resolve()
    executed = sweep_dir / "report.ipynb"
    papermill.execute_notebook(
        str(REPORT_NOTEBOOK),
        str(executed),
        parameters={
            "sweep_dir": str(sweep_dir),
            "p99_objective_ms": p99_objective_ms or DEFAULT_P99_OBJECTIVE_MS,
        },
        cwd=str(sweep_dir),
        kernel_name=kernel_name,
        progress_bar=False,
    )
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)  # fmt: skip
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    html = sweep_dir / "report.html"
    html.write_text(body, encoding="utf-8")
    return html


def cmd_report(args: argparse.Namespace) -> int:
    html = render_report(args.sweep_dir, args.p99_objective_ms, args.kernel)
    print(f"report: {html}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="(re)render DIR/report.html from a sweep directory")
    p.add_argument("sweep_dir")
    p.add_argument("--p99-objective-ms", type=float, default=None,
                   help=f"latency objective of the best setting ({DEFAULT_P99_OBJECTIVE_MS:g} ms)")  # fmt: skip
    p.add_argument("--kernel", default=None)
    p.set_defaults(func=cmd_report)
