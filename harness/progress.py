"""What the terminal shows while a sweep or a run goes: one progress bar over the points, with an
estimate of the time left, and after each point one line with what it measured.

    with PointProgress(len(points)) as progress:
        for name, point in ...:
            progress.start(name)
            ...
            progress.done(result_line(name, metrics, elapsed_s=...))

`result_line` reads metrics.json dicts (one, or one per repetition) as harness/analysis/metrics.py
writes them; a figure the dict lacks is left out of the line, never an error.

On a terminal the bars redraw in place (tqdm). Written to a file or a CI log, thousands of `\r`
redraws would make one unreadable line, so there each bar is a plain line every PLAIN_EVERY_S
seconds instead (`progress_bar`). The command line decides once, from its own stderr, and tells
the notebook kernels it starts through HARNESS_PROGRESS (`bar` or `plain`), since a kernel's
stderr is never a terminal.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from typing import IO

from tqdm import tqdm

PROGRESS_ENV = "HARNESS_PROGRESS"
BAR, PLAIN = "bar", "plain"
PLAIN_EVERY_S = 5.0


def progress_style(file: IO[str] | None = None) -> str:
    """`bar` or `plain`: HARNESS_PROGRESS when set, else a bar on a terminal (and in a Jupyter
    kernel run by hand, whose front end draws `\r` redraws in place), else plain lines."""
    style = os.environ.get(PROGRESS_ENV)
    if style in (BAR, PLAIN):
        return style
    stream = file or sys.stderr
    in_kernel = type(stream).__module__.startswith("ipykernel")  # its OutStream
    if in_kernel or getattr(stream, "isatty", lambda: False)():
        return BAR
    return PLAIN


def decide_progress_style() -> None:
    """Called once by the command line: its children (kernels, workers) inherit the choice."""
    os.environ.setdefault(PROGRESS_ENV, BAR if sys.stderr.isatty() else PLAIN)


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


class PlainBar:
    """tqdm's interface as used here, printed as one plain line every `every_s` seconds (and at
    the end): `desc: n/total unit (pct%), elapsed, left, postfix`."""

    def __init__(self, total: float | None = None, desc: str = "", unit: str = "it",
                 file: IO[str] | None = None, disable: bool = False,
                 every_s: float = PLAIN_EVERY_S, **_ignored) -> None:  # fmt: skip
        self.total, self.desc, self.unit = total, desc, unit
        self.file, self.disable, self.every_s = file or sys.stderr, disable, every_s
        self.n: float = 0
        self.postfix = ""
        self.started = self._printed = time.monotonic()

    def __enter__(self) -> PlainBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        done = f"{self.n:,.0f}" if float(self.n).is_integer() else f"{self.n:,.1f}"
        parts = [f"{self.desc + ': ' if self.desc else ''}{done}"]
        if self.total:
            total = f"{self.total:,.0f}" if float(self.total).is_integer() else f"{self.total:,.1f}"
            parts[0] += f"/{total} {self.unit} ({100 * self.n / self.total:.0f}%)"
            if 0 < self.n < self.total:
                parts.append(f"~{_clock(elapsed * (self.total - self.n) / self.n)} left")
        else:
            parts[0] += f" {self.unit}"
        parts.insert(1, f"{_clock(elapsed)} elapsed")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def _maybe_print(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.disable and (force or now - self._printed >= self.every_s):
            print(self.line(), file=self.file, flush=True)
            self._printed = now

    def update(self, n: float = 1) -> None:
        self.n += n
        self._maybe_print()

    def set_description_str(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def write(self, text: str, file: IO[str] | None = None) -> None:
        if not self.disable:
            print(text, file=file or self.file, flush=True)

    def close(self) -> None:
        if not self.disable and self.n:
            self._maybe_print(force=True)
        self.disable = True


def progress_bar(**kwargs) -> tqdm | PlainBar:
    """A tqdm bar on a terminal, a PlainBar elsewhere (same interface, see progress_style)."""
    if progress_style(kwargs.get("file")) == BAR:
        return tqdm(**kwargs)
    return PlainBar(**kwargs)


CLIENT_BOUND = "client-bound"
UNSTEADY = "unsteady"
FAILED = "FAILED"
NO_WINDOW = "NO MEASURED WINDOW (every event fell in the warm-up: lower --warmup-s or send more)"


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
    """no measured window when a repetition had none; client-bound when any repetition was;
    unsteady when any was judged unsteady (a window too short to judge, steady null, is no
    flag)."""
    from harness.analysis.metrics import NO_WINDOW as EMPTY

    flags = []
    empty = sum(m.get("status") == EMPTY for m in runs)
    if empty:
        flags.append(NO_WINDOW if len(runs) == 1 else f"{empty} of {len(runs)} runs: {NO_WINDOW}")
    if any(m.get("client_bound") for m in runs):
        flags.append(CLIENT_BOUND)
    if any((m.get("steadiness") or {}).get("steady") is False for m in runs):
        flags.append(UNSTEADY)
    return flags


def _figures(runs: Sequence[Mapping]) -> list[str]:
    from harness.analysis.stats import median_interval

    parts = []
    tput = _median(runs, "throughput_eps")
    if tput is not None:
        values = [v for v in (_get(m, "throughput_eps") for m in runs) if v is not None]
        interval = median_interval(values).text(",.0f") if len(values) > 1 else ""
        parts.append(f"{tput:>9,.0f} events/s" + (f" ({interval})" if interval else ""))
    p99 = _median(runs, "latency_ms.http.p99")
    if p99 is not None:
        parts.append(f"http p99 {p99:7.1f} ms")
    mbps = _median(runs, "throughput_mbps")
    if mbps is not None:
        parts.append(f"{mbps:,.2f} MB/s")
    lost = [v for v in (_get(m, "counts.lost") for m in runs) if v is not None]
    if lost:
        total = int(sum(lost))
        parts.append(f"LOST {total:,}" if total else "lost 0")
    violations = [v for v in (_get(m, "order.violations") for m in runs) if v is not None]
    if violations:
        total = int(sum(violations))
        parts.append(f"ORDER VIOLATED {total:,}" if total else "order kept")
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
        self.bar: tqdm | PlainBar | None = None

    def __enter__(self) -> PointProgress:
        if self.enabled:
            self.bar = progress_bar(
                total=self.total,
                desc=self.desc,
                unit="points",
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
