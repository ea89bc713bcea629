"""Read a built Kafka producer client's effective configuration back from the client itself, not
from our own settings object: what the library will actually do.

    config = effective_config(client)        # client: app.producer_client.make_client(settings)

- kafka-python: the producer's own config dict after its constructor resolved conflicts (it turns
  idempotence off by itself when, say, acks is not all and idempotence was left to default),
  whether it built its idempotence machinery (a TransactionManager), and the in-flight limit of
  the network client that enforces it.
- confluent-kafka has no configuration getter: the client is built with librdkafka's
  `debug: conf` (ConfluentClient's `extra`), which logs the configuration librdkafka holds for
  every property that was set, at creation; the lines are read from the client's logger. Its
  statistics (every 100 ms) carry the idempotence state and the producer id.

With `producer_id=True` (a reachable broker needed), one record is produced first and the
broker-assigned producer id is read too: an idempotent producer has one (>= 0), another has none
(-1 / None): the broker's side of the story.
"""

from __future__ import annotations

import json
import logging
import re
import time

from app.producer_client import ConfluentClient, KafkaPythonClient, make_client
from app.settings import ProducerSettings

CONF_LOGGER = "app.producer_client"  # ConfluentClient's logger, which librdkafka's lines reach
_CONF_LINE = re.compile(r"\]:\s+([a-z0-9_.]+) = (.*)$")


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def build_client(settings: ProducerSettings, timeout_s: float = 10.0):
    """The client make_client builds for `settings`; a confluent one with `debug: conf` on, and
    its configuration lines collected (`client.conf_lines`)."""
    if settings.client != "confluent-kafka":
        return make_client(settings, connect_timeout=timeout_s)
    handler = _Lines()
    logger = logging.getLogger(CONF_LOGGER)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    seen: list[dict] = []
    try:
        client = ConfluentClient(settings, extra={
            "debug": "conf", "statistics.interval.ms": 100,
            "stats_cb": lambda text: seen.append(json.loads(text)),
        })  # fmt: skip
        # librdkafka queues its log lines; the client's poll thread delivers them
        deadline = time.monotonic() + timeout_s
        while not any("Default topic configuration" in x for x in handler.lines):
            if time.monotonic() > deadline:
                raise AssertionError(f"no configuration logged: {handler.lines[:5]}")
            time.sleep(0.02)
        time.sleep(0.1)  # the topic section's lines follow its heading
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    client.conf_lines = list(handler.lines)
    client.stats_seen = seen
    return client


def _confluent_config(client: ConfluentClient) -> dict[str, str]:
    found = {}
    for line in client.conf_lines:
        if line.startswith("CONF"):
            match = _CONF_LINE.search(line)
            if match:
                found[match[1]] = match[2].strip()
    return {
        "enable_idempotence": found.get("enable.idempotence") == "true",
        "max_in_flight": int(found["max.in.flight.requests.per.connection"]),
        "acks": found.get("request.required.acks"),
        "raw": found,
    }


def _kafka_python_config(client: KafkaPythonClient) -> dict:
    producer = client._producer
    return {
        "enable_idempotence": bool(producer.config["enable_idempotence"])
        and producer._transaction_manager is not None,
        # the connection manager, which opens the connections and holds them to the limit
        "max_in_flight": producer._sender._client._manager.config[
            "max_in_flight_requests_per_connection"
        ],
        "acks": producer.config["acks"],
        "raw": dict(producer.config),
    }


def _producer_id(client, timeout_s: float) -> int | None:
    """Produce one record and read the producer id the broker assigned (-1/None: none)."""
    pending = client.send([b'{"event":"probe"}'])
    errors = client.wait(pending, time.monotonic() + timeout_s)
    assert errors == [None], errors
    if isinstance(client, KafkaPythonClient):
        manager = client._producer._transaction_manager
        return None if manager is None else manager.producer_id_and_epoch.producer_id
    return _confluent_producer_id(client, timeout_s)


def _confluent_producer_id(client: ConfluentClient, timeout_s: float) -> int | None:
    """librdkafka's statistics of the client (`eos.producer_id`), once they report the record."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen = client.stats_seen
        if seen and seen[-1].get("txmsgs", 0) >= 1:
            eos = seen[-1].get("eos") or {}
            if eos.get("idemp_state") in ("Assigned", None) or not eos:
                return eos.get("producer_id")
        time.sleep(0.05)
    raise AssertionError(f"no statistics after the record: {client.stats_seen[-1:]}")


def effective_config(client, producer_id: bool = False, timeout_s: float = 10.0) -> dict:
    """{"enable_idempotence", "max_in_flight", "acks", "raw"} as the client library holds them;
    with `producer_id`, also the id the broker gave it ("producer_id")."""
    if isinstance(client, KafkaPythonClient):
        config = _kafka_python_config(client)
    else:
        config = _confluent_config(client)
    if producer_id:
        config["producer_id"] = _producer_id(client, timeout_s)
    return config
