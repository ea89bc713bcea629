"""The report's bytes and keys sections (harness/report/volume.py) on written tables: shown when
they apply, absent otherwise; order violations reach the warnings."""

from __future__ import annotations

import itertools

import pandas as pd

from harness.paths import PROJECT_ROOT
from harness.report import summary, volume
from harness.report.sweepdata import Sweep


def sweep(sizes=(100, 1000, 10_000), codecs=("none", "zstd"), key="none", violations=0) -> Sweep:
    rows = []
    for size, codec in itertools.product(sizes, codecs):
        eps = 4000.0 - size / 5
        rows.append({
            "point": f"p-{size}-{codec}", "label": None, "status": "ok", "repeats": 1,
            "config.event_bytes": size, "config.compression": codec, "config.key": key,
            "config.threads": 200, "throughput_eps": eps, "throughput_mbps": eps * size / 1e6,
            "bytes.event.mean": float(size), "bytes.record.mean": size + 33.0,
            "latency_ms.http.p99": 100.0, "counts.lost": 0,
            "partitions.imbalance": 1.5 if key != "none" else 1.0,
            "order.pairs_checked": 5000 if key != "none" else None,
            "order.violations": violations if key != "none" else None,
        })  # fmt: skip
    points = pd.DataFrame(rows)
    runs = points.assign(**{"partitions.records": "[10, 20, 30]"})
    return Sweep(PROJECT_ROOT / "results" / "x", runs, points, {})


def test_mbps_is_shown_beside_events_per_second_when_the_event_size_varies():
    found = sweep()
    assert volume.shows_bytes(found)
    table = volume.bytes_table(found)
    assert list(table.columns) == ["setting", "events/s", "MB/s", "event bytes", "record bytes"]
    top = table.iloc[0]  # highest MB/s first: the 10,000-byte events
    assert top["MB/s"] == f"{2000.0 * 10_000 / 1e6:,.2f}" and top["events/s"] == "2,000"
    assert top["event bytes"] == "10,000" and "event_bytes=10000" in top["setting"]
    assert volume.bytes_heatmap(found) is not None  # event_bytes x compression


def test_no_bytes_section_when_the_events_are_alike():
    assert not volume.shows_bytes(sweep(sizes=(1000,), codecs=("none",)))


def test_the_keys_section_shows_balance_and_order_and_violations_are_warned():
    plain = sweep()
    assert not volume.keyed(plain) and volume.order_warnings(plain) == []
    keyed = sweep(key="user_id", violations=0)
    assert volume.keyed(keyed)
    table = volume.keys_table(keyed)
    assert set(table["key"]) == {"user_id"} and set(table["imbalance"]) == {"1.50"}
    assert set(table["records per partition"]) == {"[10, 20, 30]"}
    assert set(table["order violations"]) == {"0"}
    assert not any("order per key" in w for w in summary.warnings(keyed))
    broken = sweep(key="user_id", violations=3)
    warned = [w for w in summary.warnings(broken) if "order per key was NOT kept" in w]
    assert len(warned) == 6 and "3 pair(s)" in warned[0]
