"""Capacity search: the highest rate one setting sustains under a latency objective.

    from harness.capacity import Objective, search_capacity
    result = search_capacity(cfg, out_dir, Objective(p99_ms=250))   # also writes capacity.json

Modules: criteria (the verdict on a step), search (which rate next; pure), steps (step runners:
the harness's own system, or any HTTP endpoint), driver (probe, steps, capacity.json), cli
(`python -m harness capacity`), plotting (`plot_capacity_steps`, the hockey-stick chart).
"""

from harness.capacity.cli import add_parsers
from harness.capacity.criteria import Objective
from harness.capacity.driver import CAPACITY_FILE, read_capacity, search_capacity
from harness.capacity.search import SearchSettings
from harness.capacity.steps import HttpSteps, SystemSteps, system_steps

__all__ = [
    "CAPACITY_FILE",
    "HttpSteps",
    "Objective",
    "SearchSettings",
    "SystemSteps",
    "add_parsers",
    "plot_capacity_steps",
    "read_capacity",
    "search_capacity",
    "system_steps",
]


def __getattr__(name: str):
    if name == "plot_capacity_steps":  # matplotlib loads only when a chart is drawn
        from harness.capacity.plotting import plot_capacity_steps

        return plot_capacity_steps
    raise AttributeError(name)
