"""The hockey-stick chart of a capacity search: latency against offered rate, per step.

`plot_capacity_steps(capacity)` takes the capacity.json dict (docs/capacity.md) and draws http p50
and p99 of every step against its target rate (log latency axis: past the knee latency grows by
orders of magnitude), the p99 objective as a horizontal line and the capacity found as a vertical
one (dashed for an "at least" or "below" bound). Sustainable steps are filled dots, unsustainable
ones crosses, and generator-bound steps hollow grey triangles: they measured the generator, not the
system. Like harness/plots.py it builds a Figure without pyplot, unless given an Axes to draw on.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from harness.capacity.criteria import GENERATOR_BOUND, SUSTAINABLE, UNSUSTAINABLE

_MARKERS = {
    SUSTAINABLE: {"marker": "o"},
    UNSUSTAINABLE: {"marker": "X"},
    GENERATOR_BOUND: {"marker": "^", "facecolors": "none", "edgecolors": "grey"},
}
_PERCENTILES = (("http_p50_ms", "http p50", "tab:blue"), ("http_p99_ms", "http p99", "tab:red"))
_BOUND_WORDS = {"found": "capacity", "at_least": "at least", "below": "below"}


def plot_capacity_steps(capacity: dict, ax=None) -> Figure:
    """The chart of one capacity.json dict; draws on `ax` when given, returns its Figure."""
    if ax is None:
        fig = Figure(figsize=(8, 4.5), layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    steps = sorted(capacity.get("steps") or [], key=lambda s: s["rate_eps"])
    for key, name, color in _PERCENTILES:
        system = [s for s in steps if s["verdict"] != GENERATOR_BOUND and s.get(key) is not None]
        ax.plot([s["rate_eps"] for s in system], [s[key] for s in system], color=color,
                label=name, linewidth=1.2)  # fmt: skip
        for verdict, style in _MARKERS.items():
            points = [s for s in steps if s["verdict"] == verdict and s.get(key) is not None]
            if points:
                kwargs = {"color": color, **style} if verdict != GENERATOR_BOUND else style
                ax.scatter([s["rate_eps"] for s in points], [s[key] for s in points], zorder=3,
                           s=36, **kwargs)  # fmt: skip
    for verdict, style in _MARKERS.items():  # one legend entry per verdict, in neutral colours
        if any(s["verdict"] == verdict for s in steps):
            ax.scatter([], [], color="black" if verdict != GENERATOR_BOUND else None,
                       label=verdict, **style)  # fmt: skip
    objective = (capacity.get("objective") or {}).get("p99_ms")
    if objective:
        ax.axhline(
            objective, color="tab:red", linestyle=":", label=f"p99 objective {objective:g} ms"
        )
    bound = capacity.get("bound_eps")
    if bound:
        result = capacity.get("result", "found")
        ax.axvline(bound, color="black", linestyle="-" if result == "found" else "--",
                   label=f"{_BOUND_WORDS.get(result, result)} {bound:,.0f} events/s")  # fmt: skip
    if any(s.get("http_p99_ms") for s in steps):
        ax.set_yscale("log")
    ax.set_xlabel("offered rate (events/s)")
    ax.set_ylabel("latency from the schedule (ms)")
    ax.set_title(capacity.get("title") or _title(capacity))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    return fig


def _title(capacity: dict) -> str:
    setting = capacity.get("setting") or {}
    shape = ", ".join(
        f"{k}={setting[k]}" for k in ("server", "delivery", "endpoint") if k in setting
    )
    return f"Capacity search{': ' + shape if shape else ''}"
