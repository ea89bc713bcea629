"""One client process of a multi-process simulation (started by fanout.py, never by hand):

    python -m harness.loadgen.worker DIR INDEX

DIR/spec.json holds the config and the parent's clock base. The worker writes DIR/ready-INDEX once
set up, waits for DIR/go (the common start instant), drives its share of the requests, reports
progress in DIR/progress-INDEX and leaves its measurements in DIR/part-INDEX.npz.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from harness.loadgen.clock import Clock
from harness.loadgen.config import SimulatorConfig
from harness.loadgen.drive import drive, share
from harness.loadgen.requestlog import RequestLog


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def wait_for_go(path: Path, timeout_s: float = 120.0) -> float:
    """The start instant the parent published; polled every millisecond."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the parent never said go")
        time.sleep(0.001)
    return float(path.read_text())


def main(argv: list[str]) -> int:
    work_dir, index = Path(argv[0]), int(argv[1])
    spec = json.loads((work_dir / "spec.json").read_text())
    config = SimulatorConfig(**spec["config"])
    clock = Clock.from_base(spec["epoch0"], spec["perf0"])
    part = share(config, index, config.processes)
    log = RequestLog(config)
    progress = work_dir / f"progress-{index}"
    write_atomically(work_dir / f"ready-{index}", "")
    start_at = wait_for_go(work_dir / "go")
    stats = asyncio.run(
        drive(config, clock, log, part, start_at, lambda n: write_atomically(progress, str(n)))
    )
    arrays = log.export(part.request_ids[: stats.taken])
    stats_array = np.array(
        [stats.start, stats.end, stats.cap_waits, stats.max_in_flight, stats.taken]
    )
    np.savez(work_dir / f"part-{index}.tmp.npz", stats=stats_array, **arrays)
    os.replace(work_dir / f"part-{index}.tmp.npz", work_dir / f"part-{index}.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
