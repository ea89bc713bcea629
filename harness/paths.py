"""Where things are: the project's folders, found from this file, never from the current directory.

A notebook opened in `notebooks/`, a sweep's kernel running in its run directory and `make run` at
the project root all see the same `.harness/` (embedded brokers, the broker's classpath, detached
state) unless `HARNESS_HOME` names another.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = PROJECT_ROOT / "notebooks"
GRIDS = PROJECT_ROOT / "grids"
DEFAULT_GRID = GRIDS / "default.yaml"
# Where runs write by default: `HARNESS_RESULTS`, else `results/` at the project root.
RESULTS = Path(os.environ.get("HARNESS_RESULTS") or PROJECT_ROOT / "results").resolve()
# What `make run` writes, and what the sweep and report notebooks open by default.
LATEST_RESULTS = RESULTS / "latest"


def harness_home() -> Path:
    """Embedded brokers, caches and detached state (git-ignored): `HARNESS_HOME`, else
    `.harness/` at the project root."""
    home = os.environ.get("HARNESS_HOME")
    return Path(home).resolve() if home else PROJECT_ROOT / ".harness"
