"""harness.slo: parsing (checked against the shape of metrics.json) and evaluation."""

from __future__ import annotations

import pytest

from harness.slo import evaluate_slos, parse_slo, parse_slos

METRICS = {
    "counts": {"sent": 100, "lost": 0, "duplicates": 2},
    "throughput_eps": 1200.5,
    "latency_ms": {"http": {"p50": 20.0, "p99": 240.0}, "e2e": None, "send_delay": None},
    "client_bound": False,
    "config": {"threads": 200},
}


@pytest.mark.parametrize(
    "expr, key, op, number",
    [
        ("latency_ms.http.p99 < 250", "latency_ms.http.p99", "<", 250.0),
        ("counts.lost==0", "counts.lost", "==", 0.0),
        ("  throughput_eps >= 1e3 ", "throughput_eps", ">=", 1000.0),
        ("latency_ms.e2e.p999 <= .5", "latency_ms.e2e.p999", "<=", 0.5),
        ("counts.duplicates != -1", "counts.duplicates", "!=", -1.0),
        ("latency_ms.send_delay.p99 > 0", "latency_ms.send_delay.p99", ">", 0.0),
        ("config.threads == 200", "config.threads", "==", 200.0),
        ("steadiness.steady == 1", "steadiness.steady", "==", 1.0),
        ("window.events_measured > 100", "window.events_measured", ">", 100.0),
    ],
)
def test_parse(expr, key, op, number):
    slo = parse_slo(expr)
    assert (slo.key, slo.op, slo.number) == (key, op, number)
    assert slo.expr == expr.strip()


@pytest.mark.parametrize(
    "expr, message",
    [
        ("counts.lost = 0", "is not KEY OP NUMBER"),
        ("latency_ms.http.p99 < 250ms", "is not KEY OP NUMBER"),
        ("__import__('os').system('true') < 1", "is not KEY OP NUMBER"),
        ("throughput_eps >= 1000 and counts.lost == 0", "is not KEY OP NUMBER"),
        ("counts.lost == zero", "is not KEY OP NUMBER"),
        ("", "is not KEY OP NUMBER"),
        ("latency_ms.htp.p99 < 250", "no key 'htp' (did you mean 'http'?)"),
        ("latency_ms.http.p98 < 250", "no key 'p98'"),
        ("throughput < 5", "no key 'throughput' (did you mean 'throughput_eps'?)"),
        ("latency_ms.http < 250", "a group, not a number"),
        ("throughput_eps.p99 < 250", "is a single value"),
    ],
)
def test_malformed_or_unknown_is_a_clear_error(expr, message):
    with pytest.raises(ValueError, match="SLO") as err:
        parse_slo(expr)
    assert message in str(err.value)


def test_evaluate_passes_fails_and_fails_a_missing_value():
    verdicts = evaluate_slos(
        [
            "latency_ms.http.p99 < 250",
            "latency_ms.http.p99 < 200",
            "counts.lost == 0",
            "throughput_eps >= 1000",
            "latency_ms.e2e.p99 < 1000",  # null in this run: an unmeasured objective is not met
            "client_bound == 0",  # booleans compare as 0 and 1
        ],
        METRICS,
    )
    assert [(v["value"], v["ok"]) for v in verdicts] == [
        (240.0, True), (240.0, False), (0, True), (1200.5, True), (None, False), (False, True),
    ]  # fmt: skip
    assert verdicts[0]["expr"] == "latency_ms.http.p99 < 250"


def test_evaluate_reads_a_flat_row_and_accepts_parsed_objectives():
    slos = parse_slos(["latency_ms.http.p99 < 250"])
    assert evaluate_slos(slos, {"latency_ms.http.p99": 300.0}) == [
        {"expr": "latency_ms.http.p99 < 250", "value": 300.0, "ok": False}
    ]
    assert parse_slos("counts.lost == 0")[0].key == "counts.lost"
    assert parse_slos(None) == []
