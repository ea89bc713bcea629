"""Event payloads: serialized ahead, with `sent_at` spliced in as the request leaves.

Each request body is built as bytes split where its `sent_at` values go, so sending costs one
bytes.join. Event names and user ids are drawn for the whole run up front (numpy, seeded).
"""

from __future__ import annotations

import numpy as np
import orjson

from harness.loadgen.config import SimulatorConfig

EVENT_NAMES = ("signup", "login", "purchase", "logout", "page_view", "add_to_cart")
MAX_USER_ID = 10_000


def event_id(run_id: str, seq: int) -> str:
    return f"{run_id}-{seq}"


class BodyFactory:
    """Request bodies by request id; the same seed gives the same payloads."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        rng = np.random.default_rng(config.seed)
        self._names = rng.integers(0, len(EVENT_NAMES), config.events, dtype=np.int8)
        self._users = rng.integers(1, MAX_USER_ID + 1, config.events, dtype=np.int32)
        self._heads = [b'{"event":%s,"user_id":' % orjson.dumps(name) for name in EVENT_NAMES]
        # orjson escapes the run id; drop its closing quote to append "-<seq>".
        self._id_prefix = orjson.dumps(config.run_id)[:-1] + b"-"

    def _events(self, seqs: range) -> list[bytes]:
        """Each event's JSON up to its `sent_at` value (the closing brace comes after it)."""
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
