"""The broker a benchmark runs against: an external one (`--bootstrap-servers`, e.g. the one
`python -m harness bench` shares between scripts) or an embedded one started for the script.

Yields (bootstrap servers, broker pids); the pids of an external broker come from
HARNESS_BENCH_BROKER_PIDS (comma-separated) when the caller knows them, for CPU accounting.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PIDS_ENV = "HARNESS_BENCH_BROKER_PIDS"


@contextmanager
def broker(bootstrap_servers: str | None, root: Path) -> Iterator[tuple[str, list[int]]]:
    if bootstrap_servers:
        pids = [int(p) for p in os.environ.get(PIDS_ENV, "").split(",") if p.strip()]
        yield bootstrap_servers, pids
        return
    from harness.kafka import EmbeddedKafka

    with EmbeddedKafka(root=root) as kafka:
        yield kafka.bootstrap_servers, kafka.pids()
