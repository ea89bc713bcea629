"""The run directory: the one owner of its file names and of the client records' schema.

A run directory (`harness run --out DIR`, or one repetition of a sweep point) holds:

| file | written by | what |
| --- | --- | --- |
| `config.json` | run | the run parameters and the run id |
| `client_records.parquet` | simulator | one row per event the client sent (`RECORD_COLUMNS`) |
| `events.log` / `events-<i>.log` | consumer(s) | the consumers' logs, one line per event |
| `metrics.json` | run | counts, throughput and latency (docs/CONTRACTS.md) |
| `timeline.parquet` | run | one row per bin of `bin_s` seconds (harness/analysis/timeline.py) |
| `failure.json` | sweep | a failed point: its error and config |
| `rep-<k>/` | run, sweep | repetition k, a run directory of its own (when a point repeats) |
| `summary.csv`, `points.csv` | run, sweep | one row per run; one row per point (medians, intervals) |
| `api.log`, `consumer-<i>.out`, `kafka-<n>.log` | services | the processes' own logs |

Everything that reads or writes these files imports the names from here.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

CONFIG_FILE = "config.json"
RECORDS_FILE = "client_records.parquet"
TIMELINE_FILE = "timeline.parquet"
METRICS_FILE = "metrics.json"
FAILURE_FILE = "failure.json"
API_LOG = "api.log"
# A sweep directory (or a run with repetitions): one row per run, one row per point.
SUMMARY_FILE = "summary.csv"
POINTS_FILE = "points.csv"
SWEEP_FILE = "sweep.json"
# A capacity search's answer and its steps (a sweep point that is a capacity search holds it).
CAPACITY_FILE = "capacity.json"

# The client records: column -> dtype. `scheduled_at` is NaN in closed loop; times are epoch
# seconds; status 0 = transport error or timeout; `delivery_failed` = marked "failed" inside a 2xx
# batch answer; `phase` = "warmup" or "measured" (figures cover the measured phase only);
# `bytes` = the size of the event's JSON as the simulator sent it (0: never sent; NaN: records
# written before the column existed); `generator` = the index of the load generator that sent
# it, or was to send it by the split (i mod N; 0 with one generator; harness/loadgen/generators.py);
# its times are that generator's clock.
RECORD_COLUMNS = {
    "event_id": "str",
    "request_id": "int64",
    "scheduled_at": "float64",
    "sent_at": "float64",
    "done_at": "float64",
    "status": "int64",
    "accepted": "bool",
    "error": "str",
    "delivery_failed": "bool",
    "phase": "str",
    "bytes": "float64",
    "generator": "int64",
}
# Columns an older or simpler writer may omit, with the value they mean.
OPTIONAL_RECORD_COLUMNS = {
    "scheduled_at": np.nan,
    "error": "",
    "delivery_failed": False,
    "phase": "measured",
    "bytes": np.nan,
    "generator": 0,
}
PHASES = ("warmup", "measured")


def repetition_dir(point_dir: Path, k: int, repeat: int) -> Path:
    """Repetition k (1-based) of a point: the point's own directory when it runs once,
    `rep-<k>/` inside it when it repeats."""
    return Path(point_dir) if repeat == 1 else Path(point_dir) / f"rep-{k}"


def events_log_path(run_dir: Path, index: int, consumers: int) -> Path:
    """`events.log` for a single consumer, `events-<i>.log` for consumer i of several."""
    return Path(run_dir) / ("events.log" if consumers == 1 else f"events-{index}.log")


def events_log_paths(run_dir: Path, consumers: int) -> list[Path]:
    return [events_log_path(run_dir, i, consumers) for i in range(consumers)]


def consumer_output_path(run_dir: Path, index: int) -> Path:
    return Path(run_dir) / f"consumer-{index}.out"


def broker_log_path(run_dir: Path, node_id: int) -> Path:
    return Path(run_dir) / f"kafka-{node_id}.log"


def write_json(path: Path, data: dict) -> Path:
    Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")
    return Path(path)


def read_json(path: Path) -> object:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


class LogCounter:
    """Counts the lines of the consumers' logs incrementally (cheap to poll while draining)."""

    def __init__(self, paths: list[Path]) -> None:
        self.offsets = {Path(p): 0 for p in paths}
        self.lines = 0

    def poll(self) -> int:
        for path, offset in self.offsets.items():
            try:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except FileNotFoundError:
                continue
            self.offsets[path] = offset + len(data)
            self.lines += data.count(b"\n")
        return self.lines

    def wait_for(self, lines: int, timeout: float, interval: float = 0.02, alive=None) -> int:
        """Polls until `lines` lines are logged, `timeout` passes, or `alive()` turns false."""
        deadline = time.monotonic() + timeout
        while self.poll() < lines and time.monotonic() < deadline:
            if alive is not None and not alive():
                break
            time.sleep(interval)
        return self.lines
