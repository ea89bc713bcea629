"""Event payloads: serialized ahead, with `sent_at` spliced in as the request leaves.

Each request body is built as bytes split where its `sent_at` values go, so sending costs one
bytes.join. What is drawn (event names, user ids) is drawn for the whole run up front (numpy,
seeded); when the count is unknown (a timed closed loop) in blocks that double, so a seed still
fixes each event's payload. Three shapes:

- the seed's (default): `{"event", "user_id", "event_id", "sent_at"}`, ~90 bytes;
- sized (`event_bytes`): `{"event", ["user_id",] "event_id", "payload", "sent_at"}`, exactly
  `event_bytes` bytes. `user_id` is there when the records are keyed by it (`key: user_id`): the
  harness's own fields leave no room for it in a 100-byte event otherwise. The `payload` string
  fills the rest; its length is settled as the request leaves, from the length of the `sent_at`
  text (`repr` of the time: 12 to 18 characters), so the size is exact whatever the time. Its
  characters come from a pool built once per run: in every 100 characters the first
  `payload_random` share is random (64 URL-safe characters, seeded), the rest repeated English
  text, as the OpenMessaging Benchmark's random-bytes ratio does with zeros. Consecutive events
  take consecutive stretches of the pool, so records that share a Kafka batch repeat nothing but
  the text: a codec gains what the share leaves it, no more. Payloads are views of the pool,
  copied once, into the body.
- the user's (`events_file`): each line's event in turn, cycled, with `event_id` and `sent_at`
  set last.

User ids are 1..`users`, uniform, or Zipf-distributed with exponent `key_skew` (user k drawn with
probability proportional to k^-key_skew: user 1 is the hottest).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import orjson

from app.settings import ProducerSettings

if TYPE_CHECKING:
    from harness.loadgen.config import SimulatorConfig

EVENT_NAMES = ("signup", "login", "purchase", "logout", "page_view", "add_to_cart")
DEFAULT_USERS = 10_000
# The share of a sized payload's characters drawn at random (docs/CONTRACTS.md says why 0.3).
DEFAULT_PAYLOAD_RANDOM = 0.3
USER_FIELD = "user_id"
FIRST_BLOCK = 4096  # events drawn first when a run's count is unknown
# The longest `repr` of an epoch time in seconds before the year 2286 (10 integer digits, a
# float's 17 significant digits): a sized event leaves this much room for its sent_at.
MAX_SENT_AT_CHARS = 18
# A timed closed loop's event count is unknown: sized events leave room for this many digits.
MAX_SEQ_DIGITS = 10
PAYLOAD_SEGMENT = 100  # characters: each starts with its random share, then the text
PAYLOAD_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PAYLOAD_TEXT = b"the quick brown fox jumps over the lazy dog while the event stream flows on "
_SENT_AT = b'","sent_at":'  # closes the payload string, opens the time
_PAYLOAD_STREAM = 0x5EED  # the pool's random stream, apart from the names' and users'


def event_id(run_id: str, seq: int) -> str:
    return f"{run_id}-{seq}"


def seed_shape_fields() -> tuple[str, ...]:
    return ("event", USER_FIELD, "event_id", "sent_at")


def sized_fields(key: str) -> tuple[str, ...]:
    """The fields of a sized event when the records are keyed by `key`."""
    user = (USER_FIELD,) if key == USER_FIELD else ()
    return ("event", *user, "event_id", "payload", "sent_at")


def carries_user_id(config: SimulatorConfig) -> bool:
    """Whether the simulator's events carry `user_id`: the seed's shape does; a sized event only
    when the records are keyed by it; the user's events are their own."""
    if config.events_file:
        return False
    return config.event_bytes is None or config.key == USER_FIELD


def _sized_head(name: bytes, user: int | None, id_prefix: bytes, seq: int) -> bytes:
    """A sized event's bytes up to its payload's first character."""
    user_part = b'"user_id":%d,' % user if user is not None else b""
    return b'{"event":%s,%s"event_id":%s%d","payload":"' % (name, user_part, id_prefix, seq)


def sized_minimum(run_id: str, max_seq: int | None, users: int | None) -> int:
    """The smallest `event_bytes` whose every event has room: the longest event with an empty
    payload (the longest name, the highest user id when there is one, the longest sequence
    number, the longest sent_at). `max_seq` None: a count unknown ahead (10 digits)."""
    name = orjson.dumps(max(EVENT_NAMES, key=len))
    seq = max_seq if max_seq is not None else 10**MAX_SEQ_DIGITS - 1
    head = _sized_head(name, users, orjson.dumps(run_id)[:-1] + b"-", seq)
    return len(head) + len(_SENT_AT) + MAX_SENT_AT_CHARS + 1


def zipf_cdf(users: int, exponent: float) -> np.ndarray:
    """P(user <= k) for k = 1..users when user k has probability proportional to k^-exponent."""
    weights = np.arange(1, users + 1, dtype=float) ** -exponent
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def payload_pool(size: int, random_share: float, rng: np.random.Generator) -> bytes:
    """`size` characters: in every PAYLOAD_SEGMENT, the first round(share x segment) drawn from
    PAYLOAD_ALPHABET, the rest PAYLOAD_TEXT (repeated, continuing where it left off)."""
    alphabet = np.frombuffer(PAYLOAD_ALPHABET, dtype=np.uint8)
    text = np.frombuffer(PAYLOAD_TEXT, dtype=np.uint8)
    pool = np.resize(text, size)
    random_chars = round(PAYLOAD_SEGMENT * random_share)
    if random_chars:
        chosen = np.arange(size) % PAYLOAD_SEGMENT < random_chars
        pool[chosen] = alphabet[rng.integers(0, len(alphabet), int(chosen.sum()))]
    return pool.tobytes()


class SplitTemplate:
    """A body as bytes split where its `sent_at` values go (the seed's and the user's shapes)."""

    __slots__ = ("parts", "static")

    def __init__(self, parts: list[bytes], static: list[int]) -> None:
        self.parts = parts
        self.static = static  # per event: its bytes but the sent_at text

    def render(self, sent_at: bytes) -> bytes:
        return sent_at.join(self.parts)

    def sizes(self, sent_at_chars: int) -> list[int]:
        """Each event's bytes as sent (its JSON, without the batch's brackets and commas)."""
        return [s + sent_at_chars for s in self.static]


class SizedTemplate:
    """A body of sized events: per event its head, a stretch of the payload pool, its length
    with the shortest sent_at; the payload gives back what a longer sent_at takes."""

    __slots__ = ("heads", "offsets", "rooms", "pool", "batch", "event_bytes")

    def __init__(self, heads, offsets, rooms, pool: memoryview, batch: bool, event_bytes: int):
        self.heads, self.offsets, self.rooms = heads, offsets, rooms
        self.pool, self.batch, self.event_bytes = pool, batch, event_bytes

    def render(self, sent_at: bytes) -> bytes:
        cut = len(sent_at)
        if cut > MAX_SENT_AT_CHARS:  # only from a clock past 2286: refuse rather than misreport
            raise ValueError(f"sent_at {sent_at!r} is longer than a sized event leaves room for")
        pool = self.pool
        tail = _SENT_AT + sent_at + b"}"
        if not self.batch:
            off = self.offsets[0]
            return b"".join((self.heads[0], pool[off : off + self.rooms[0] - cut], tail))
        sep = tail + b","
        parts = [b"["]
        for head, off, room in zip(self.heads, self.offsets, self.rooms, strict=True):
            parts += (head, pool[off : off + room - cut], sep)
        parts[-1] = tail + b"]"
        return b"".join(parts)

    def sizes(self, sent_at_chars: int) -> list[int]:
        return [self.event_bytes] * len(self.heads)


class BodyFactory:
    """Request bodies by request id; the same seed (and file) gives the same payloads."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._rng = np.random.default_rng(config.random_seed)
        self._names = np.zeros(0, dtype=np.int8)
        self._users = np.zeros(0, dtype=np.int32)
        self._with_user = carries_user_id(config)
        self._cdf = zipf_cdf(config.users, config.key_skew) if config.key_skew > 0 else None
        self._samples = None
        if config.events_file:
            from harness.loadgen.eventsfile import load_events

            self._samples = load_events(config.events_file, ProducerSettings.max_json_depth,
                                        ProducerSettings.max_body_bytes, config.key).prefixes  # fmt: skip
        else:
            self._draw(config.planned_events or FIRST_BLOCK)
        # orjson escapes the run id; drop its closing quote to append "-<seq>".
        self._id_prefix = orjson.dumps(config.run_id)[:-1] + b"-"
        self._names_json = [orjson.dumps(name) for name in EVENT_NAMES]
        self._heads = [b'{"event":%s,"user_id":' % name for name in self._names_json]
        self._pool = None
        if config.event_bytes is not None:
            self._pool = self._build_pool(config)

    def _build_pool(self, config: SimulatorConfig) -> memoryview:
        size = config.event_bytes
        # Big enough that a stretch comes round again only after many events (never within one
        # Kafka batch), at least 1 MiB; a random start.
        length = max(1 << 20, 32 * (size + 1))
        seed = None if config.random_seed is None else [config.random_seed, _PAYLOAD_STREAM]
        rng = np.random.default_rng(seed)
        self._pool_start = int(rng.integers(0, length))
        self._pool_span = length  # offsets wrap within the first `length` characters
        return memoryview(payload_pool(length + size, config.payload_random, rng))

    def _draw(self, count: int) -> None:
        """Draws the names and user ids of `count` more events."""
        names = self._rng.integers(0, len(EVENT_NAMES), count, dtype=np.int8)
        if self._cdf is None:
            users = self._rng.integers(1, self.config.users + 1, count, dtype=np.int32)
        else:
            users = np.searchsorted(self._cdf, self._rng.random(count), side="right") + 1
            users = np.minimum(users, self.config.users).astype(np.int32)
        self._names = np.concatenate([self._names, names])
        self._users = np.concatenate([self._users, users])

    def _drawn(self, seqs: range) -> tuple[list[int], list[int]]:
        while seqs.stop > len(self._names):
            self._draw(len(self._names))  # unknown count: double
        return (self._names[seqs.start : seqs.stop].tolist(),
                self._users[seqs.start : seqs.stop].tolist())  # fmt: skip

    def _events(self, seqs: range) -> list[bytes]:
        """Each event's JSON up to its `sent_at` value (the closing brace comes after it)."""
        if self._samples is not None:
            samples, n = self._samples, len(self._samples)
            return [b'%s"event_id":%s%d","sent_at":' % (samples[seq % n], self._id_prefix, seq)
                    for seq in seqs]  # fmt: skip
        names, users = self._drawn(seqs)
        return [
            b'%s%d,"event_id":%s%d","sent_at":' % (self._heads[name], user, self._id_prefix, seq)
            for name, user, seq in zip(names, users, seqs, strict=True)
        ]

    def _sized(self, seqs: range) -> SizedTemplate:
        names, users = self._drawn(seqs)
        size, span, start = self.config.event_bytes, self._pool_span, self._pool_start
        heads, offsets, rooms = [], [], []
        for name, user, seq in zip(names, users, seqs, strict=True):
            head = _sized_head(self._names_json[name], user if self._with_user else None,
                               self._id_prefix, seq)  # fmt: skip
            heads.append(head)
            # a stride one longer than an event: stretches never overlap, and each starts one
            # character further into its segment, so small payloads get the random share on average
            offsets.append((start + seq * (size + 1)) % span)
            # the payload's length with an empty sent_at; render takes the sent_at's off it
            rooms.append(size - len(head) - len(_SENT_AT) - 1)
        if min(rooms) < MAX_SENT_AT_CHARS:
            raise ValueError(
                f"event_bytes={size} leaves no room for event {seqs.start}'s fields "
                f"(at least {size - min(rooms) + MAX_SENT_AT_CHARS} bytes)"
            )
        return SizedTemplate(heads, offsets, rooms, self._pool, self.config.endpoint != "single",
                             size)  # fmt: skip

    def template(self, request_id: int) -> SplitTemplate | SizedTemplate:
        """The body of request `request_id`, split where its `sent_at` values go."""
        seqs = self.config.request_events(request_id)
        if self._pool is not None:
            return self._sized(seqs)
        events = self._events(seqs)
        static = [len(e) + 1 for e in events]  # + the closing brace
        if self.config.endpoint == "single":
            return SplitTemplate([events[0], b"}"], static)
        return SplitTemplate([b"[" + events[0], *(b"}," + e for e in events[1:]), b"}]"], static)


def sent_at_text(sent_at: float) -> bytes:
    """The `sent_at` value as the body carries it: Python's shortest repr, which is also what
    the API's orjson writes back, so the event's size in Kafka and in the log is what was sent."""
    return repr(sent_at).encode()


def render(template: SplitTemplate | SizedTemplate, sent_at: float) -> bytes:
    """The final body: every `sent_at` of the request gets the same instant."""
    return template.render(sent_at_text(sent_at))
