"""Which Kafka cluster a command uses: one rule for `run`, `sweep`, `capacity`, `up`, `kafka` and
the notebooks.

The order: the flag (`--bootstrap-servers`, a run or grid parameter), then the environment variable
`KAFKA_BOOTSTRAP_SERVERS`, then (None) an embedded broker that the harness starts itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"


def choose_bootstrap(flag: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """An external cluster's bootstrap servers, or None for the embedded broker."""
    env = os.environ if env is None else env
    return (flag or "").strip() or (env.get(BOOTSTRAP_ENV) or "").strip() or None
