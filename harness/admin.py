"""Topic administration over kafka-python's admin client (works on embedded and external clusters)."""

from __future__ import annotations

import time

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError


def admin_client(bootstrap_servers: str, **client_config) -> KafkaAdminClient:
    client_config.setdefault("reconnect_backoff_max_ms", 1000)  # brokers restart in fault runs
    return KafkaAdminClient(
        bootstrap_servers=bootstrap_servers, client_id="harness-admin", **client_config
    )


def create_topic(
    bootstrap_servers: str,
    name: str,
    partitions: int = 3,
    replication_factor: int = 1,
    config: dict[str, str] | None = None,
    timeout_s: float = 30.0,
    **client_config,
) -> None:
    """Create `name` and wait until every partition has a leader; an existing topic is an error."""
    admin = admin_client(bootstrap_servers, **client_config)
    try:
        admin.create_topics(
            [NewTopic(name, partitions, replication_factor, topic_configs=config or {})],
            timeout_ms=int(timeout_s * 1000),
        )
        wait_for_leaders(admin, name, partitions, timeout_s)
    finally:
        admin.close()


def delete_topic(
    bootstrap_servers: str, name: str, timeout_s: float = 30.0, **client_config
) -> None:
    """Delete `name` (a topic a run created on someone's cluster, once the run is over)."""
    admin = admin_client(bootstrap_servers, **client_config)
    try:
        admin.delete_topics([name], timeout_ms=int(timeout_s * 1000))
    finally:
        admin.close()


def ensure_topic(bootstrap_servers: str, name: str, partitions: int = 3, **kwargs) -> bool:
    """Create the topic unless it exists; returns True when it was created."""
    try:
        create_topic(bootstrap_servers, name, partitions, **kwargs)
        return True
    except TopicAlreadyExistsError:
        return False


def describe_topic(admin: KafkaAdminClient, name: str) -> dict:
    (topic,) = admin.describe_topics([name])
    return topic


def wait_for_leaders(admin: KafkaAdminClient, name: str, partitions: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        topic = describe_topic(admin, name)
        parts = topic.get("partitions") or []
        if len(parts) == partitions and all(p.get("leader_id", -1) >= 0 for p in parts):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {name!r}: partitions without a leader after {timeout_s} s")
        time.sleep(0.1)


def in_sync_replicas(bootstrap_servers: str, name: str) -> dict[int, list[int]]:
    """{partition: [ISR broker ids]} for a topic."""
    admin = admin_client(bootstrap_servers)
    try:
        topic = describe_topic(admin, name)
        return {p["partition_index"]: list(p["isr_nodes"]) for p in topic["partitions"]}
    finally:
        admin.close()


def topic_config(bootstrap_servers: str, name: str) -> dict[str, str | None]:
    """A topic's configuration as the cluster applies it (its own settings and the defaults)."""
    from kafka.admin import ConfigResource

    admin = admin_client(bootstrap_servers)
    try:
        found = admin.describe_configs([ConfigResource("TOPIC", name)], config_filter="all")
        return {key: entry["value"] for key, entry in found["topic"][name].items()}
    finally:
        admin.close()
