"""The sweep report: what notebooks/report.ipynb shows, and its rendering to a standalone HTML file.

- `sweepdata`: a sweep directory as tables (`load_sweep`), the settings that varied, the names of
  the points, the best setting under the objective and the seed-style baseline;
- `summary`: the sentences and warnings at the top;
- `charts`: the charts, chosen for the sweep's shape (drawn by harness/plots.py);
- `tables`: "All points", the failed points, how to reproduce;
- `fault_points`: the "Failures" and "Load over time" sections' data (fault figures pooled over a
  point's instants, timelines);
- `volume`: MB/s beside events/s when the events' size, content or compression vary; partition
  balance and the order per key when records are keyed;
- `render`: `render_report(dir)` and `python -m harness report DIR`.

A column the sweep lacks (no repetitions, no capacity search, an older sweep) leaves its part of
the report saying what is missing, never an exception.
"""

from harness.report.render import REPORT_HTML, add_parsers, cmd_report, render_report
from harness.report.sweepdata import DEFAULT_P99_OBJECTIVE_MS, ReportError, Sweep, load_sweep
from harness.report.tables import failures, key_table

__all__ = [
    "DEFAULT_P99_OBJECTIVE_MS",
    "REPORT_HTML",
    "ReportError",
    "Sweep",
    "add_parsers",
    "cmd_report",
    "failures",
    "key_table",
    "load_sweep",
    "render_report",
]
