"""What every benchmark script records: raw runs, their medians, ratios with targets, the machine.

    figs = Figures("api", "Producer API", params=vars(args))
    figs.runs("full", [812.0, 790.5, 805.1], "events/s")
    figs.ratio("full / noop", 2, "full", "noop", target=0.7)
    figs.finish(args.json)   # prints the ratios, writes the JSON when a path is given

The JSON (read by `python -m harness bench`, rendered into docs/BENCHMARKS.md):
{"benchmark", "title", "params", "machine": environment(), "libraries", "loadavg": {"start", "end"},
 "started_at", "duration_s", "figures": {name: {"unit", "runs", "median"}},
 "ratios": [{"item", "name", "value", "target", "op", "met", "numerator", "denominator", "unit"}],
 "notes": [str]}
A "ratio" with `denominator` None is an absolute figure checked against its target (e.g. seconds).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

from harness.environment import environment, library_version

LIBRARIES = ("kafka-python", "confluent-kafka", "gunicorn", "gevent", "granian", "flask", "werkzeug", "aiohttp",
             "pandas", "pyarrow", "orjson", "crc32c")  # fmt: skip
OPS = {">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t, "<": lambda v, t: v < t}


def add_runner_flags(parser, quick_help: str) -> None:
    """The flags `python -m harness bench` passes every script (harness/bench.py::script_command)."""
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument(
        "--bootstrap-servers",
        help="an external cluster instead of an embedded one (ignored by scripts without Kafka)",
    )


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Figures:
    def __init__(self, benchmark: str, title: str, params: dict | None = None) -> None:
        self._t0 = time.perf_counter()
        self.data: dict = {
            "benchmark": benchmark,
            "title": title,
            "params": {k: v for k, v in (params or {}).items() if k != "json"},
            "machine": environment(),
            "libraries": {lib: library_version(lib) for lib in LIBRARIES},
            "loadavg": {"start": loadavg()},
            "figures": {},
            "ratios": [],
            "notes": [],
        }

    def runs(self, name: str, values: list[float], unit: str) -> float:
        """Records the repetitions of one figure; returns their median."""
        median = statistics.median(values)
        self.data["figures"][name] = {"unit": unit, "runs": list(values), "median": median}
        return median

    def median(self, name: str) -> float:
        return self.data["figures"][name]["median"]

    def ratio(
        self,
        name: str,
        item: int | None,
        numerator: str,
        denominator: str | None,
        target: float | None = None,
        op: str = ">=",
    ) -> float:
        """median(numerator) / median(denominator) (or the numerator's median alone), vs target."""
        value = self.median(numerator)
        if denominator is not None:
            value /= self.median(denominator)
        unit = "x" if denominator is not None else self.data["figures"][numerator]["unit"]
        met = None if target is None else OPS[op](value, target)
        self.data["ratios"].append({
            "item": item, "name": name, "value": value, "target": target, "op": op, "met": met,
            "numerator": numerator, "denominator": denominator, "unit": unit,
        })  # fmt: skip
        return value

    def note(self, text: str) -> None:
        self.data["notes"].append(text)

    def finish(self, json_path: str | Path | None) -> dict:
        """Prints the ratios; writes the JSON when a path was given."""
        self.data["loadavg"]["end"] = loadavg()
        self.data["duration_s"] = round(time.perf_counter() - self._t0, 1)
        print(
            f"load average: start {self.data['loadavg']['start']}, end {self.data['loadavg']['end']}"
        )
        for r in self.data["ratios"]:
            target = "" if r["target"] is None else f"  target {r['op']} {r['target']:g}"
            verdict = "" if r["met"] is None else ("  met" if r["met"] else "  MISSED")
            print(
                f"  [{r['item'] or '-'}] {r['name']:<48} {r['value']:8.2f} {r['unit']}{target}{verdict}"
            )
        if json_path:
            Path(json_path).write_text(json.dumps(self.data, indent=2, default=str) + "\n")
            print(f"figures: {json_path}")
        return self.data
