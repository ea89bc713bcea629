"""Analysis of benchmark runs: pure functions, files or DataFrames in, DataFrames or dicts out.

`read_events_log` and `read_client_records` load one run; `compute_metrics` makes its
metrics.json dict; `per_second` its time series; `summarize_sweep` and `best_setting` compare runs.
"""

from harness.analysis.latency import latency_samples
from harness.analysis.latency import summarize as summarize_latency
from harness.analysis.logs import read_events_log
from harness.analysis.matching import match_events
from harness.analysis.metrics import compute_metrics
from harness.analysis.records import read_client_records
from harness.analysis.sweep import best_setting, summarize_sweep
from harness.analysis.timeseries import per_second

__all__ = [
    "best_setting",
    "compute_metrics",
    "latency_samples",
    "match_events",
    "per_second",
    "read_client_records",
    "read_events_log",
    "summarize_latency",
    "summarize_sweep",
]
