"""The report's sections, each as the list of things it displays (Markdown, HTML, figures), in
order: a section with nothing to show is an empty list, so the report never draws an empty chart
nor a heading over nothing. notebooks/report.ipynb shows them one cell each.

    for item in sections.settings(sweep, objective):
        display(item)
"""

from __future__ import annotations

from IPython.display import HTML, Markdown

from harness.report import charts, fault_points, summary, tables, volume
from harness.report.sweepdata import (
    Sweep,
    best_index,
    closed_loop,
    interval_words,
    measured,
    repetitions,
    searches,
)


def _present(*items) -> list:
    return [item for item in items if item is not None]


def _intervals(sweep: Sweep) -> str:
    runs = measured(sweep.points)
    most = max((repetitions(row) for _, row in runs.iterrows()), default=1)
    return interval_words(most)


def top(sweep: Sweep, objective: float) -> list:
    """The summary paragraph, the warnings, where and when, and what was missing."""
    return [
        HTML(summary.summary_html(sweep, objective)),
        Markdown(summary.context_line(sweep)),
        *(Markdown(f"*{note}*") for note in sweep.notes),
    ]


def settings(sweep: Sweep, objective: float) -> list:
    """Every run point side by side (none: no run has a measured window)."""
    chart = charts.setting_chart(sweep, objective)
    if chart is None:
        return []
    return [
        Markdown(
            "## Every setting at a glance\n\n"
            "Throughput (higher is better) and http p99 latency (lower is better) of each setting "
            "with a measured window, highest throughput on top. The best setting under the "
            "objective is blue, the seed-style baseline (the original design: Werkzeug dev "
            "server, a Kafka `send` + `flush` per request) vermillion. Error bars: "
            f"{_intervals(sweep)}. Capacity searches are not settings here: they have their own "
            "section."
        ),
        chart,
    ]


def events(sweep: Sweep, objective: float) -> list:
    """Bytes per second when the events' size, content or compression vary between settings, and
    the partition balance and the order per key when records are keyed (each only then)."""
    items: list = []
    if volume.shows_bytes(sweep):
        items += [
            Markdown(
                "## Bytes per second\n\nThe events differ in size, content or compression between "
                "settings, so events/s alone compares unlike things: MB/s is the events' JSON as "
                "sent (MB = 10^6 bytes), over the same measured window. Medians, with their "
                f"interval in brackets ({_intervals(sweep)})."
            ),
            HTML(tables.table_html(volume.bytes_table(sweep))),
            volume.bytes_heatmap(sweep),
        ]
    if volume.keyed(sweep):
        items += [
            Markdown(
                "## Keys: partition balance and the order per key\n\nRecords per partition (from "
                "the topic's end offsets), the imbalance (the largest partition over the mean: 1.0 "
                "is even; a hot key pushes it up), and the order audit: pairs of events with one "
                "key where the first was answered before the second was sent, and how many of "
                "them Kafka holds out of that order."
            ),
            HTML(tables.table_html(volume.keys_table(sweep))),
        ]
    return _present(*items)


def capacity(sweep: Sweep, objective: float) -> list:
    """The capacity searches: their table, the capacities with the range of their searches, and
    the search with the most capacity step by step."""
    found = searches(sweep.points)
    heading = Markdown(
        "## Capacity under the objective\n\n"
        "The highest offered rate each searched setting sustains with http p99 within the "
        "objective, nothing lost and the consumer keeping up (an open-loop search: these are not "
        "the closed-loop runs above). A setting searched several times shows the median and the "
        "range of its searches; one search shows its bracket, the highest sustainable rate and "
        "the lowest failing one, and is only as sure as one measurement on a shared machine."
    )
    if found.empty:
        return [Markdown("## Capacity under the objective\n\n" + charts.capacity_note(sweep))]
    note = charts.capacity_note(sweep)
    return _present(
        heading,
        HTML(tables.table_html(tables.capacity_table(sweep))),
        Markdown(note) if note else None,
        charts.capacity_chart(sweep, objective),
        charts.hockey_stick(sweep, objective),
    )


def failures(sweep: Sweep, objective: float) -> list:
    """The fault points: their figures in a table, and each one's timeline (none: no fault)."""
    table = fault_points.failures_table(sweep)
    if table.empty:
        return []
    return [
        Markdown(
            "## Failures\n\n"
            "What each fault did at the rate it ran at. *Unavailable*: from the fault's instant "
            "to the start of the first 3 good bins (a bin is good when its requests had no error "
            "and an http p99 within the objective); *recovery*: until the consumer lag is back "
            "within its level before the fault (so it includes the unavailability); median and "
            "max over every fault instant of the point (each cycle, each broker of a rolling "
            'restart), "not seen" when a span did not end before the next fault or the load\'s '
            "end. *pMax*: the largest latency of the requests due inside a span; *errors*: the "
            "failed events of those requests, by kind. `lost` must be 0 (docs/analysis.md, "
            '"Faults").'
        ),
        HTML(tables.table_html(table)),
        Markdown(
            "Each fault point's first run over time: events/s offered, accepted and failed; the "
            "http p99 of each bin's requests against the objective; the consumer lag. Dashed "
            "lines: the fault instants; shaded: each one's unavailability."
        ),
        *fault_points.fault_charts(sweep),
    ]


def over_time(sweep: Sweep, objective: float) -> list:
    """Points whose offered load changes over time (stages): offered against achieved, p99."""
    charts = fault_points.stage_charts(sweep)
    if not charts:
        return []
    return [
        Markdown(
            "## Load over time\n\n"
            "Points run with `stages`: the rate offered by the schedule against the rate "
            "accepted, and the http p99 of each bin's requests (from the schedule), per bin."
        ),
        *charts,
    ]


def grid(sweep: Sweep, objective: float) -> list:
    """Heatmaps and small multiples over the grid's settings (none: fewer than two values vary)."""
    found = charts.heatmaps(sweep) + charts.load_charts(sweep)
    if not found:
        return []
    return [
        Markdown(
            "## Over the grid\n\n"
            "The grid's settings as categories: heatmaps with the figure in each cell, and the "
            "figures against the load setting, one panel per value of a further setting. Only an "
            "ordered setting (a number, e.g. threads) is drawn as lines; settings without an "
            "order (servers, clients) are points."
        ),
        *found,
    ]


def latency(sweep: Sweep, objective: float) -> list:
    chart = charts.percentile_chart(sweep, objective) if not measured(sweep.points).empty else None
    if chart is None:
        return []
    return [
        Markdown(
            "## Latency distribution\n\n"
            "HTTP latency by percentile for the best setting, the seed-style baseline and the "
            "fastest few others, over all their repetitions' measured windows. The percentile "
            "axis is stretched as HdrHistogram draws it, so the tail gets as much room as the "
            "median."
        ),
        chart,
    ]


def best_over_time(sweep: Sweep, objective: float) -> list:
    if best_index(sweep.points, objective) is None:
        return []
    chart = charts.best_run_chart(sweep, objective)
    return [Markdown("## The best setting over time"), chart] if chart is not None else []


def all_points(sweep: Sweep, objective: float) -> list:
    """Every run point with its figures and counts (also those without a measured window)."""
    if closed_loop(sweep.points).empty:
        return []
    return [
        Markdown(
            "## All points\n\n"
            "Medians over the repetitions; in brackets the interval of each median (the heading "
            f"says which kind: {_intervals(sweep)}). `sent`, `lost` and `dups` add up the "
            "repetitions: `lost` must be 0 (accepted but never logged); `dups` are at-least-once "
            "redeliveries. Flags: `client-bound` (the load generator was the limit), `unsteady` "
            "(the figures drifted during the window), `NO MEASURED WINDOW` (every event fell in "
            "the warm-up: counts only), `LOST`, `FAILED`."
        ),
        Markdown(tables.fixed_line(sweep)),
        HTML(tables.table_html(tables.all_points_table(sweep))),
    ]


def failed(sweep: Sweep, objective: float) -> list:
    found = tables.failures(sweep.points)
    if found.empty:
        return []
    return [Markdown("### Failed points"), HTML(tables.table_html(found))]


def reproduce(sweep: Sweep, objective: float) -> list:
    return [HTML(tables.reproduce_html(sweep))]


SECTIONS = (top, settings, events, capacity, failures, over_time, grid, latency, best_over_time,
            all_points, failed, reproduce)  # fmt: skip
