"""Which Kafka cluster a command uses: one rule for `run`, `sweep`, `capacity`, `up`, `kafka` and
the notebooks.

The order: the flag (`--bootstrap-servers`, a run or grid parameter), then the environment variable
`KAFKA_BOOTSTRAP_SERVERS`, then (None) an embedded broker that the harness starts itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from app.settings import SECURITY_ENV, KafkaSecurity

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"


def choose_bootstrap(flag: str | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """An external cluster's bootstrap servers, or None for the embedded broker."""
    env = os.environ if env is None else env
    return (flag or "").strip() or (env.get(BOOTSTRAP_ENV) or "").strip() or None


def cluster_security(external: str | None, env: Mapping[str, str] | None = None) -> KafkaSecurity:
    """The security settings (SASL/SSL, the app's KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and
    KAFKA_SSL_* variables) for every client of a run: the API and consumers it starts, and the
    harness's own admin, audit and fault clients. Only an external cluster gets them; the
    embedded brokers speak plaintext, whatever the environment says for someone's cluster."""
    if not external:
        return KafkaSecurity()
    return KafkaSecurity.from_env(os.environ if env is None else env)


def without_security(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without the security variables (a child gets the run's own instead)."""
    return {k: v for k, v in env.items() if k not in SECURITY_ENV}
