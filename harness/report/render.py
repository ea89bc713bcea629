"""`python -m harness report DIR`: executes notebooks/report.ipynb on a sweep directory with
papermill, then nbconvert writes `DIR/report.html` without code cells, images embedded."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.kernels import papermill_kernel_kwargs
from harness.paths import NOTEBOOKS
from harness.report.sweepdata import DEFAULT_P99_OBJECTIVE_MS, ReportError, load_sweep, objective_ms

REPORT_NOTEBOOK = NOTEBOOKS / "report.ipynb"
REPORT_HTML = "report.html"


def render_report(
    sweep_dir: str | Path, p99_objective_ms: float | None = None, kernel_name: str | None = None
) -> Path:
    """Executes the report notebook on `sweep_dir` and writes `sweep_dir/report.html`."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    sweep_dir = Path(sweep_dir).resolve()
    sweep = load_sweep(sweep_dir)  # a clear error before a kernel starts
    executed = sweep_dir / "report.ipynb"
    papermill.execute_notebook(
        str(REPORT_NOTEBOOK),
        str(executed),
        parameters={
            "sweep_dir": str(sweep_dir),
            "p99_objective_ms": objective_ms(sweep, p99_objective_ms),
        },
        cwd=str(sweep_dir),
        kernel_name=kernel_name,
        progress_bar=False,
        **papermill_kernel_kwargs(),
    )
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True)  # fmt: skip
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    out = sweep_dir / REPORT_HTML
    out.write_text(body, encoding="utf-8")
    return out


def cmd_report(args: argparse.Namespace) -> int:
    try:
        out = render_report(args.sweep_dir, args.p99_objective_ms, args.kernel)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {out}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="(re)render DIR/report.html from a sweep directory")
    p.add_argument("sweep_dir")
    p.add_argument("--p99-objective-ms", type=float, default=None,
                   help=f"latency objective of the best setting ({DEFAULT_P99_OBJECTIVE_MS:g} ms)")  # fmt: skip
    p.add_argument("--kernel", default=None)
    p.set_defaults(func=cmd_report)
