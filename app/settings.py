"""The producer API's settings: one frozen object, read once from the environment and/or flags.

Environment variables (all optional):

| variable | field | default |
| --- | --- | --- |
| `KAFKA_BOOTSTRAP_SERVERS` | `bootstrap_servers` | `127.0.0.1:9092` |
| `EVENTS_TOPIC` | `topic` | `events` |
| `KAFKA_CLIENT` | `client` (`kafka-python` / `confluent-kafka`) | `confluent-kafka` |
| `PRODUCER_ACKS` | `acks` (`0` / `1` / `all`) | `all` |
| `PRODUCER_LINGER_MS` | `linger_ms` (10: fuller batches cut broker and librdkafka CPU per event) | `10` |
| `PRODUCER_BATCH_SIZE` | `batch_size` (bytes per partition batch; 1,000,000: big events fill batches, see below) | `1000000` |
| `PRODUCER_COMPRESSION` | `compression` (`none` / `gzip` / `lz4` / `zstd` / `snappy`) | `none` |
| `DELIVERY_MODE` | `delivery` (`ack` / `async` / `flush` / `noop`) | `ack` |
| `DELIVERY_TIMEOUT_S` | `delivery_timeout_s` | `10` |
| `MAX_BODY_BYTES` | `max_body_bytes` | `1048576` |
| `MAX_BATCH_EVENTS` | `max_batch_events` | `1000` |
| `MAX_JSON_DEPTH` | `max_json_depth` (nesting levels inside one event) | `32` |
| `HEALTH_CACHE_S` | `health_cache_s` (how long a Kafka probe result is reused) | `1` |
| `HEALTH_TIMEOUT_S` | `health_timeout_s` (one probe's budget) | `2` |
| `API_KEY` | `api_key` (when set, `X-API-Key` is required) | unset |
| `PRODUCER_KEY` | `key` (`none`, or a top-level field whose value, as text, becomes the record key) | `none` |
| `PRODUCER_IDEMPOTENCE` | `idempotence` (`true` / `false`; unset: on with `acks=all`, off otherwise) | unset |
| `PRODUCER_MAX_IN_FLIGHT` | `max_in_flight` (requests in flight per broker connection) | `5` |
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
# `key` when records carry no key (the sticky partitioner then fills batches best).
NO_KEY = "none"
# Fields the API sets itself: a record key cannot come from them.
STAMPED_FIELDS = ("received_at",)
# Kafka allows an idempotent producer at most this many requests in flight per connection.
MAX_IDEMPOTENT_IN_FLIGHT = 5


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


def parse_bool(text: str) -> bool:
    """`true`/`false` (also 1/0, yes/no, on/off, any case) as a bool; ValueError otherwise."""
    word = str(text).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, not {text!r}")


def idempotence_conflict(acks: str, idempotence: bool | None, max_in_flight: int) -> str | None:
    """Why this combination cannot work, or None. An idempotent producer needs acks=all and at
    most 5 requests in flight (Kafka's rule; both client libraries refuse otherwise). Unset
    idempotence follows acks: on with acks=all, off with 0 or 1, which cannot have it."""
    if max_in_flight < 1:
        return f"max_in_flight must be >= 1, not {max_in_flight}"
    if idempotence and acks != "all":
        return (
            f"idempotence needs acks=all (got acks={acks}): set acks to all, or idempotence to "
            "false (or leave it unset: it follows acks)"
        )
    on = acks == "all" if idempotence is None else idempotence
    if on and max_in_flight > MAX_IDEMPOTENT_IN_FLIGHT:
        why = "idempotence" if idempotence else "idempotence (on by default with acks=all)"
        return (
            f"max_in_flight={max_in_flight} with {why}: Kafka allows an idempotent producer at "
            f"most {MAX_IDEMPOTENT_IN_FLIGHT}; lower max_in_flight or set idempotence to false"
        )
    return None


def key_field_error(key: str) -> str | None:
    """Why `key` cannot name the record key's field, or None."""
    if key == NO_KEY:
        return None
    if not key or key != key.strip():
        return f"key must be {NO_KEY!r} or a top-level field name, not {key!r}"
    if key in STAMPED_FIELDS:
        return f"key={key}: the API sets that field itself; name a field the client sends"
    return None


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
    "PRODUCER_KEY": ("key", str),
    "PRODUCER_IDEMPOTENCE": ("idempotence", parse_bool),
    "PRODUCER_MAX_IN_FLIGHT": ("max_in_flight", int),
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
    # librdkafka's own default, under the broker's 1 MiB message.max.bytes. A batch holds what
    # arrives within linger_ms, so small events never come near it; 1,000-byte events through
    # POST /events filled 64 KiB batches, and with idempotence's 5 requests in flight per
    # connection that capped the API at ~20-25 MB/s against ~55-65 with this (bench_events.py).
    batch_size: int = 1_000_000
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
    key: str = NO_KEY
    idempotence: bool | None = None
    max_in_flight: int = MAX_IDEMPOTENT_IN_FLIGHT

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
        for problem in (
            key_field_error(self.key),
            idempotence_conflict(self.acks, self.idempotence, self.max_in_flight),
        ):
            if problem:
                raise ValueError(problem)

    @property
    def enable_idempotence(self) -> bool:
        """The idempotence the clients get: the setting, else on exactly when acks=all."""
        return self.acks == "all" if self.idempotence is None else self.idempotence

    @property
    def keyed(self) -> bool:
        return self.key != NO_KEY

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
