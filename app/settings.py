"""The producer API's settings: one frozen object, read once from the environment and/or flags.

Environment variables (all optional):

| variable | field | default |
| --- | --- | --- |
| `KAFKA_BOOTSTRAP_SERVERS` | `bootstrap_servers` | `127.0.0.1:9092` |
| `EVENTS_TOPIC` | `topic` | `events` |
| `KAFKA_CLIENT` | `client` (`kafka-python` / `confluent-kafka`) | `confluent-kafka` |
| `PRODUCER_ACKS` | `acks` (`0` / `1` / `all`) | `all` |
| `PRODUCER_LINGER_MS` | `linger_ms` (10: fuller batches cut broker and librdkafka CPU per event) | `10` |
| `PRODUCER_BATCH_SIZE` | `batch_size` (bytes) | `65536` |
| `PRODUCER_COMPRESSION` | `compression` (`none` / `gzip` / `lz4` / `zstd` / `snappy`) | `none` |
| `DELIVERY_MODE` | `delivery` (`ack` / `async` / `flush` / `noop`) | `ack` |
| `DELIVERY_TIMEOUT_S` | `delivery_timeout_s` | `10` |
| `MAX_BODY_BYTES` | `max_body_bytes` | `1048576` |
| `MAX_BATCH_EVENTS` | `max_batch_events` | `1000` |
| `MAX_JSON_DEPTH` | `max_json_depth` (nesting levels inside one event) | `32` |
| `HEALTH_CACHE_S` | `health_cache_s` (how long a Kafka probe result is reused) | `1` |
| `HEALTH_TIMEOUT_S` | `health_timeout_s` (one probe's budget) | `2` |
| `API_KEY` | `api_key` (when set, `X-API-Key` is required) | unset |
| `KAFKA_SECURITY_PROTOCOL`, `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME`, `KAFKA_SASL_PASSWORD`, `KAFKA_SSL_CAFILE`, `KAFKA_SSL_CERTFILE`, `KAFKA_SSL_KEYFILE` | `security` (a `KafkaSecurity`, shared with the consumer) | unset |

Secrets (`api_key`, `sasl_password`) are excluded from `repr()` and `public_dict()` so they are never logged.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

# The Kafka client libraries of the API and the consumer (app/producer_client.py, app/consumer_client.py).
CLIENTS = ("kafka-python", "confluent-kafka")
# librdkafka (C) costs the API and the consumer less CPU per event than pure-Python kafka-python.
DEFAULT_CLIENT = "confluent-kafka"
ACKS = ("0", "1", "all")
COMPRESSIONS = ("none", "gzip", "lz4", "zstd", "snappy")
DELIVERY_MODES = ("ack", "async", "flush", "noop")
# granian (a Rust HTTP server calling the WSGI app on a pool of blocking threads), gunicorn with
# gthread workers (a thread per request in flight), gunicorn with gevent workers (a greenlet per
# connection), or the Werkzeug development server (the seed's way, a baseline).
SERVERS = ("granian", "gunicorn", "gunicorn-gevent", "werkzeug")
# The API's server unless told otherwise (`python -m app.producer`, `harness up`, run parameter).
DEFAULT_SERVER = "granian"


@dataclass(frozen=True)
class KafkaSecurity:
    """Pass-through security settings for an external cluster, each unset by default.

    One object for the API and the consumer; `for_client` gives each library its own names.
    """

    security_protocol: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSecurity:
        return cls(**{name: env.get(var) or None for var, name in SECURITY_ENV.items()})

    def to_env(self) -> dict[str, str]:
        return {
            var: getattr(self, name) for var, name in SECURITY_ENV.items() if getattr(self, name)
        }

    def set_names(self) -> list[str]:
        """The settings that are set, by name (safe to log: no values)."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name)]

    def for_client(self, client: str) -> dict[str, str]:
        """The settings that are set, under `client`'s own configuration names."""
        names = _SECURITY_NAMES[client]
        return {names[name]: getattr(self, name) for name in self.set_names()}


# environment variable -> KafkaSecurity field
SECURITY_ENV = {
    "KAFKA_SECURITY_PROTOCOL": "security_protocol",
    "KAFKA_SASL_MECHANISM": "sasl_mechanism",
    "KAFKA_SASL_USERNAME": "sasl_username",
    "KAFKA_SASL_PASSWORD": "sasl_password",
    "KAFKA_SSL_CAFILE": "ssl_cafile",
    "KAFKA_SSL_CERTFILE": "ssl_certfile",
    "KAFKA_SSL_KEYFILE": "ssl_keyfile",
}
# KafkaSecurity field -> each client library's configuration name
_SECURITY_NAMES = {
    "kafka-python": {
        "security_protocol": "security_protocol",
        "sasl_mechanism": "sasl_mechanism",
        "sasl_username": "sasl_plain_username",
        "sasl_password": "sasl_plain_password",
        "ssl_cafile": "ssl_cafile",
        "ssl_certfile": "ssl_certfile",
        "ssl_keyfile": "ssl_keyfile",
    },
    "confluent-kafka": {
        "security_protocol": "security.protocol",
        "sasl_mechanism": "sasl.mechanism",
        "sasl_username": "sasl.username",
        "sasl_password": "sasl.password",
        "ssl_cafile": "ssl.ca.location",
        "ssl_certfile": "ssl.certificate.location",
        "ssl_keyfile": "ssl.key.location",
    },
}


# env var -> (field name, converter)
_ENV: dict[str, tuple[str, type]] = {
    "KAFKA_BOOTSTRAP_SERVERS": ("bootstrap_servers", str),
    "EVENTS_TOPIC": ("topic", str),
    "KAFKA_CLIENT": ("client", str),
    "PRODUCER_ACKS": ("acks", str),
    "PRODUCER_LINGER_MS": ("linger_ms", int),
    "PRODUCER_BATCH_SIZE": ("batch_size", int),
    "PRODUCER_COMPRESSION": ("compression", str),
    "DELIVERY_MODE": ("delivery", str),
    "DELIVERY_TIMEOUT_S": ("delivery_timeout_s", float),
    "MAX_BODY_BYTES": ("max_body_bytes", int),
    "MAX_BATCH_EVENTS": ("max_batch_events", int),
    "MAX_JSON_DEPTH": ("max_json_depth", int),
    "HEALTH_CACHE_S": ("health_cache_s", float),
    "HEALTH_TIMEOUT_S": ("health_timeout_s", float),
    "API_KEY": ("api_key", str),
}
# Every environment variable the API reads -> the setting it sets.
ENV_VARS: dict[str, str] = {
    **{var: name for var, (name, _) in _ENV.items()},
    **{var: f"security.{name}" for var, name in SECURITY_ENV.items()},
}


@dataclass(frozen=True)
class ProducerSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = "events"
    client: str = DEFAULT_CLIENT
    acks: str = "all"
    linger_ms: int = 10
    batch_size: int = 65536
    compression: str = "none"
    delivery: str = "ack"
    delivery_timeout_s: float = 10.0
    max_body_bytes: int = 1024 * 1024
    max_batch_events: int = 1000
    max_json_depth: int = 32
    health_cache_s: float = 1.0
    health_timeout_s: float = 2.0
    api_key: str | None = field(default=None, repr=False)
    security: KafkaSecurity = KafkaSecurity()

    def __post_init__(self) -> None:
        _check_choice("client", self.client, CLIENTS)
        _check_choice("acks", self.acks, ACKS)
        _check_choice("compression", self.compression, COMPRESSIONS)
        _check_choice("delivery", self.delivery, DELIVERY_MODES)
        if self.linger_ms < 0:
            raise ValueError("linger_ms must be >= 0")
        for name in ("batch_size", "max_body_bytes", "max_batch_events", "max_json_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("delivery_timeout_s", "health_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if not self.bootstrap_servers.strip():
            raise ValueError("bootstrap_servers must not be empty")
        if not self.topic.strip():
            raise ValueError("topic must not be empty")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> ProducerSettings:
        """Settings from `env` (default: os.environ); keyword overrides (e.g. flags) win.

        Overrides that are None are ignored, so argparse defaults of None fall through.
        """
        env = os.environ if env is None else env
        values = {}
        for var, (name, convert) in _ENV.items():
            raw = env.get(var)
            if raw is not None and raw != "":
                try:
                    values[name] = convert(raw)
                except ValueError as exc:
                    raise ValueError(f"{var}={raw!r}: {exc}") from None
        values["security"] = KafkaSecurity.from_env(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes) -> ProducerSettings:
        return dataclasses.replace(self, **changes)

    def public_dict(self) -> dict:
        """Every setting but the secrets (safe to log or store in metrics.json)."""
        public = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.repr}
        public["security"] = self.security.set_names()
        return public

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in a child process."""
        out = {}
        for var, (name, _) in _ENV.items():
            value = getattr(self, name)
            if value is not None:
                out[var] = str(value)
        out.update(self.security.to_env())
        return out


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
