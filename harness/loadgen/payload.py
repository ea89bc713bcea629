"""Event payloads: serialized ahead, with `sent_at` spliced in as the request leaves.

Each request body is built as bytes split where its `sent_at` values go, so sending costs one
bytes.join. Event names and user ids are drawn for the whole run up front (numpy, seeded); when
the count is unknown (a timed closed loop) in blocks that double, so a seed still fixes each
event's payload.
"""

from __future__ import annotations

import numpy as np
import orjson

from harness.loadgen.config import SimulatorConfig

EVENT_NAMES = ("signup", "login", "purchase", "logout", "page_view", "add_to_cart")
MAX_USER_ID = 10_000
FIRST_BLOCK = 4096  # events drawn first when a run's count is unknown


def event_id(run_id: str, seq: int) -> str:
    return f"{run_id}-{seq}"


class BodyFactory:
    """Request bodies by request id; the same seed gives the same payloads."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._rng = np.random.default_rng(config.random_seed)
        self._names = np.zeros(0, dtype=np.int8)
        self._users = np.zeros(0, dtype=np.int32)
        self._draw(config.planned_events or FIRST_BLOCK)
        self._heads = [b'{"event":%s,"user_id":' % orjson.dumps(name) for name in EVENT_NAMES]
        # orjson escapes the run id; drop its closing quote to append "-<seq>".
        self._id_prefix = orjson.dumps(config.run_id)[:-1] + b"-"

    def _draw(self, count: int) -> None:
        """Draws the names and user ids of `count` more events."""
        names = self._rng.integers(0, len(EVENT_NAMES), count, dtype=np.int8)
        users = self._rng.integers(1, MAX_USER_ID + 1, count, dtype=np.int32)
        self._names = np.concatenate([self._names, names])
        self._users = np.concatenate([self._users, users])

    def _events(self, seqs: range) -> list[bytes]:
        """Each event's JSON up to its `sent_at` value (the closing brace comes after it)."""
        while seqs.stop > len(self._names):
            self._draw(len(self._names))  # unknown count: double
        names = self._names[seqs.start : seqs.stop].tolist()
        users = self._users[seqs.start : seqs.stop].tolist()
        return [
            b'%s%d,"event_id":%s%d","sent_at":' % (self._heads[name], user, self._id_prefix, seq)
            for name, user, seq in zip(names, users, seqs, strict=True)
        ]

    def template(self, request_id: int) -> list[bytes]:
        """The body of request `request_id`, split where its `sent_at` values go."""
        events = self._events(self.config.request_events(request_id))
        if self.config.endpoint == "single":
            return [events[0], b"}"]
        return [b"[" + events[0], *(b"}," + e for e in events[1:]), b"}]"]


def render(template: list[bytes], sent_at: float) -> bytes:
    """The final body: every `sent_at` of the request gets the same instant."""
    return repr(sent_at).encode().join(template)
