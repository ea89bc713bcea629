"""What the terminal shows while a sweep or a run goes: one progress bar over the points, with an
estimate of the time left, and after each point one line with what it measured.

    with PointProgress(len(points)) as progress:
        for name, point in ...:
            progress.start(name)
            ...
            progress.done(result_line(name, metrics, elapsed_s=...))

`result_line` reads metrics.json dicts (one, or one per repetition) as harness/analysis/metrics.py
writes them; a figure the dict lacks is left out of the line, never an error.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Mapping, Sequence
from typing import IO

from tqdm import tqdm

CLIENT_BOUND = "client-bound"
UNSTEADY = "unsteady"
FAILED = "FAILED"


def _get(metrics: Mapping, dotted: str) -> float | None:
    """metrics["a"]["b"] for "a.b", as a finite float, or None."""
    value: object = metrics
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _median(runs: Sequence[Mapping], dotted: str) -> float | None:
    values = [v for v in (_get(m, dotted) for m in runs) if v is not None]
    return statistics.median(values) if values else None


def point_flags(runs: Sequence[Mapping]) -> list[str]:
    """client-bound when any repetition was; unsteady when any was judged unsteady (a window too
    short to judge, steady null, is no flag)."""
    flags = []
    if any(m.get("client_bound") for m in runs):
        flags.append(CLIENT_BOUND)
    if any((m.get("steadiness") or {}).get("steady") is False for m in runs):
        flags.append(UNSTEADY)
    return flags


def _figures(runs: Sequence[Mapping]) -> list[str]:
    parts = []
    tput = _median(runs, "throughput_eps")
    if tput is not None:
        parts.append(f"{tput:>9,.0f} events/s")
    p99 = _median(runs, "latency_ms.http.p99")
    if p99 is not None:
        parts.append(f"http p99 {p99:7.1f} ms")
    lost = [v for v in (_get(m, "counts.lost") for m in runs) if v is not None]
    if lost:
        total = int(sum(lost))
        parts.append(f"LOST {total:,}" if total else "lost 0")
    if len(runs) > 1:
        parts.append(f"median of {len(runs)} reps")
    return parts


def result_line(
    name: str,
    metrics: Mapping | Sequence[Mapping] | None,
    error: str | None = None,
    elapsed_s: float | None = None,
) -> str:
    """One line for a finished point: its figures (the median over repetitions when given a list),
    its flags, or FAILED and the error."""
    parts = [name]
    if error is not None or metrics is None:
        parts.append(f"{FAILED}: {error or 'no metrics'}")
    else:
        runs = [metrics] if isinstance(metrics, Mapping) else list(metrics)
        parts += _figures(runs) + point_flags(runs)
    if elapsed_s is not None:
        parts.append(f"({elapsed_s:.0f} s)")
    return "  ".join(parts)


class PointProgress:
    """A tqdm bar over a sweep's points (time left estimated from the points done so far); result
    lines are printed above it. Disabled, it prints nothing at all."""

    def __init__(
        self, total: int, desc: str = "points", enabled: bool = True, file: IO[str] | None = None
    ) -> None:
        self.total = total
        self.desc = desc
        self.enabled = enabled
        self.file = file
        self.bar: tqdm | None = None

    def __enter__(self) -> PointProgress:
        if self.enabled:
            self.bar = tqdm(
                total=self.total,
                desc=self.desc,
                unit="point",
                file=self.file or sys.stderr,
                dynamic_ncols=True,
                bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {elapsed} elapsed, "
                "{remaining} left {postfix}",
            )
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def start(self, name: str) -> None:
        """Shows which point is running now."""
        if self.bar is not None:
            self.bar.set_postfix_str(name)

    def done(self, line: str) -> None:
        """Prints a point's result line and advances the bar."""
        if self.bar is not None:
            self.bar.write(line, file=self.file or sys.stderr)
            self.bar.set_postfix_str("")
            self.bar.update(1)
