"""Service-level objectives on metrics.json: `--slo 'latency_ms.http.p99 < 250'`.

An objective is `KEY OP NUMBER`: KEY a dotted path into metrics.json (`counts.lost`,
`latency_ms.e2e.p99`, `throughput_eps`), OP one of < <= > >= == !=, NUMBER a decimal number
(`250`, `0.5`, `1e3`). Booleans compare as 1 and 0. Expressions are parsed with a regular
expression, never evaluated as code. `parse_slos` checks every expression and every key against
the shape of metrics.json before anything starts; `evaluate_slos` judges one run's metrics.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from dataclasses import dataclass
from functools import cache

OPERATORS = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_KEY = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_OPS = "|".join(re.escape(op) for op in OPERATORS)  # two-character operators first
_EXPR = re.compile(rf"\s*(?P<key>{_KEY})\s*(?P<op>{_OPS})\s*(?P<number>{_NUMBER})\s*")
# Top-level keys whose contents are free-form (any sub-key is accepted).
_FREE_FORM = ("config", "environment", "run", "status_counts")
EXAMPLE = "'latency_ms.http.p99 < 250', 'counts.lost == 0' or 'throughput_eps >= 1000'"


@dataclass(frozen=True)
class Slo:
    expr: str
    key: str
    op: str
    number: float

    def holds(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.number)


@cache
def metrics_shape() -> dict:
    """The key structure of metrics.json: compute_metrics on a run with no events."""
    import pandas as pd

    from harness.analysis import compute_metrics, read_events_log
    from harness.analysis.latency import STAT_KEYS
    from harness.rundir import RECORD_COLUMNS

    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in RECORD_COLUMNS.items()})
    shape = compute_metrics(empty, read_events_log([]), {}, {})
    # Latency blocks are null without samples (send_delay in closed loop): their keys are known.
    shape["latency_ms"] = {kind: dict.fromkeys(STAT_KEYS) for kind in shape["latency_ms"]}
    for name in _FREE_FORM:  # `run` is added by harness.run, the others are filled by a real run
        shape.setdefault(name, {})
    return shape


def _check_key(key: str, expr: str) -> None:
    """ValueError unless `key` names a number that metrics.json can hold."""
    node: object = metrics_shape()
    walked: list[str] = []
    for part in key.split("."):
        if isinstance(node, dict) and walked and walked[0] in _FREE_FORM:
            return
        if not isinstance(node, dict) or part not in node:
            where = ".".join(walked) or "metrics.json"
            if not isinstance(node, dict):
                raise ValueError(f"SLO {expr!r}: {where} is a single value, it has no {part!r}")
            known = [k for k, v in node.items() if not isinstance(v, list)]
            close = difflib.get_close_matches(part, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"SLO {expr!r}: {where} has no key {part!r}{hint}; it has: {', '.join(known)}"
            )
        node = node[part]
        walked.append(part)
    if isinstance(node, dict) and not (walked[0] in _FREE_FORM and len(walked) > 1):
        raise ValueError(
            f"SLO {expr!r}: {key} is a group, not a number; name one of its keys: "
            f"{', '.join(f'{key}.{k}' for k in node)}"
        )


def parse_slo(expr: str) -> Slo:
    """One objective, checked; ValueError with what is wrong and an example otherwise."""
    if not isinstance(expr, str):
        raise ValueError(f"an SLO is text like {EXAMPLE}, not {expr!r}")
    match = _EXPR.fullmatch(expr)
    if not match:
        raise ValueError(
            f"SLO {expr!r} is not KEY OP NUMBER (OP one of {' '.join(OPERATORS)}, NUMBER without units), e.g. {EXAMPLE}"
        )
    key, op = match["key"], match["op"]
    _check_key(key, expr)
    return Slo(expr=expr.strip(), key=key, op=op, number=float(match["number"]))


def parse_slos(exprs) -> list[Slo]:
    """Every objective of a list (a single string counts as one), checked before anything runs."""
    if isinstance(exprs, str):
        exprs = [exprs]
    return [e if isinstance(e, Slo) else parse_slo(e) for e in exprs or []]


def lookup(metrics: dict, key: str):
    """The value at dotted `key`: a flat key as it is (a table row), else the nested path;
    None when absent."""
    if key in metrics:
        return metrics[key]
    node: object = metrics
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _number(value) -> float | int | bool | None:
    """The value when it is a number (booleans included), else None."""
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return value
    return None


def evaluate_slos(slos, metrics: dict) -> list[dict]:
    """[{"expr", "value", "ok"}] per objective. A missing, null or non-numeric value fails
    the objective, with value None: an objective nobody measured is not met."""
    verdicts = []
    for slo in parse_slos(slos):
        value = _number(lookup(metrics, slo.key))
        ok = value is not None and slo.holds(value)
        verdicts.append({"expr": slo.expr, "value": value, "ok": bool(ok)})
    return verdicts
