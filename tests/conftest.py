"""Shared fixtures: one real embedded Kafka broker for the whole session, a fresh topic per test.

Tests that stop or kill brokers start their own `EmbeddedKafka` instead of using `kafka`.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from harness import admin
from harness.cluster import choose_bootstrap
from harness.kafka import EmbeddedKafka

# What tests leave for a person to look at (screenshots, fault tables): git-ignored, and each
# file is rewritten by the test that makes it, so nothing grows across runs.
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    """A running single-broker KRaft cluster on random free ports (or KAFKA_BOOTSTRAP_SERVERS)."""
    external = choose_bootstrap()
    if external:
        yield _External(external)
        return
    with EmbeddedKafka(brokers=1, root=tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


class _External:
    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers


@pytest.fixture
def new_topic(kafka, request):
    """Factory: `new_topic(partitions=3) -> name` creates a uniquely named topic on `kafka`."""

    def make(partitions: int = 3, replication_factor: int = 1, config=None) -> str:
        base = request.node.name.replace("[", "-").replace("]", "")[:120]
        name = f"t-{base}-{uuid.uuid4().hex[:8]}"
        admin.create_topic(
            kafka.bootstrap_servers, name, partitions, replication_factor, config=config
        )
        return name

    return make
