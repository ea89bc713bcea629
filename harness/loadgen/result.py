"""The outcome of one simulation: counts, rates, latency percentiles, the client-bound verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

PERCENTILES = {"p50": 50, "p90": 90, "p95": 95, "p99": 99, "p999": 99.9}
# A run whose request rate reaches this share of the client's own ceiling may have measured the
# client rather than the system.
CLIENT_BOUND_SHARE = 0.8


def latency_summary(seconds: np.ndarray) -> dict[str, float]:
    """mean, percentiles and max, in milliseconds (NaN when there is no sample)."""
    values = np.asarray(seconds, dtype=float)
    values = values[~np.isnan(values)] * 1000.0
    if values.size == 0:
        return {"mean": float("nan"), **{k: float("nan") for k in PERCENTILES}, "max": float("nan")}
    pct = np.percentile(values, list(PERCENTILES.values()))
    return {
        "mean": float(values.mean()),
        **{k: float(v) for k, v in zip(PERCENTILES, pct, strict=True)},
        "max": float(values.max()),
    }


def event_counts(frame: pd.DataFrame) -> dict[str, int]:
    """sent / accepted / rejected (4xx, or refused inside a 2xx batch) / failed (5xx, transport,
    or marked "failed" inside a 2xx batch: the `delivery_failed` column, when there is one)."""
    status = frame["status"].to_numpy()
    accepted = frame["accepted"].to_numpy(dtype=bool)
    verdict = ((status >= 200) & (status < 300)) | ((status >= 400) & (status < 500))
    if "delivery_failed" in frame:  # records written before the column existed lack it
        verdict &= ~frame["delivery_failed"].to_numpy(dtype=bool)
    return {
        "sent": int(len(frame)),
        "accepted": int(accepted.sum()),
        "rejected": int((~accepted & verdict).sum()),
        "failed": int((~accepted & ~verdict).sum()),
    }


@dataclass(frozen=True)
class SimulationResult:
    run_id: str
    mode: str  # "closed" | "open"
    endpoint: str
    requests: int
    sent: int
    accepted: int
    rejected: int
    failed: int
    events_warmup: int  # of `sent`: those marked "warmup" in the records
    requests_failed: int  # requests without an HTTP answer (transport error / timeout)
    duration_s: float
    achieved_eps: float
    achieved_rps: float
    target_eps: float | None
    target_rps: float | None
    send_rate_eps: float  # how fast requests left; in open loop compare it with target_eps
    # Request latency: from the scheduled time in open loop (no coordinated omission), else from
    # when the request left. Only requests that got an HTTP answer.
    latency_ms: dict[str, float]
    response_ms: dict[str, float]  # done - sent, both loops
    send_delay_ms: dict[str, float] | None  # sent - scheduled, open loop only
    cap_waits: int  # open loop: requests that waited for the in-flight cap
    max_in_flight: int  # the most requests that were outstanding at once
    records_path: Path | None = None
    # CPU seconds of the simulator's event loop per second of the drive (1.0: a whole core, so
    # the load generator itself was the limit); with several generators, the busiest one's.
    busy: float | None = None
    # per generator (metrics.json's `generators`): host, worker, requests, busy, clock offset
    generators: list[dict] | None = None
    ceiling_rps: float | None = None
    client_bound: bool | None = None

    def with_ceiling(
        self, ceiling_rps: float, share: float = CLIENT_BOUND_SHARE
    ) -> SimulationResult:
        """This result judged against the client's ceiling (requests/s against a no-op API)."""
        return replace(
            self, ceiling_rps=ceiling_rps, client_bound=self.achieved_rps >= share * ceiling_rps
        )

    def closing_line(self) -> str:
        """The original simulator's last line, with the rate and latency added."""
        return (
            f"Finished in {self.duration_s:.2f} seconds ({self.achieved_eps:.0f} events/s, "
            f"p50 {self.latency_ms['p50']:.1f} ms, p99 {self.latency_ms['p99']:.1f} ms)"
        )

    def to_dict(self) -> dict:
        doc = asdict(self)
        doc["records_path"] = None if self.records_path is None else str(self.records_path)
        return doc
