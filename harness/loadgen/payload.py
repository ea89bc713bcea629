"""Event payloads: serialized once, with `sent_at` spliced in as the request leaves.

Each request body is pre-serialized (orjson) with a marker where `sent_at` goes and split there,
so sending costs one bytes.join instead of a JSON encode of the whole batch.
"""

from __future__ import annotations

import random

import orjson

from harness.loadgen.config import SimulatorConfig

EVENT_NAMES = ("signup", "login", "purchase", "logout", "page_view", "add_to_cart")
MAX_USER_ID = 10_000
_MARK = "@@sent_at@@"
_QUOTED_MARK = orjson.dumps(_MARK)


def event_id(run_id: str, seq: int) -> str:
    return f"{run_id}-{seq}"


class BodyFactory:
    """Builds request bodies in request-id order (so a seed gives the same payloads every run)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)

    def _event(self, seq: int) -> dict:
        return {
            "event": self._rng.choice(EVENT_NAMES),
            "user_id": self._rng.randint(1, MAX_USER_ID),
            "event_id": event_id(self.config.run_id, seq),
            "sent_at": _MARK,
        }

    def template(self, request_id: int) -> list[bytes]:
        """The body of request `request_id`, split where its `sent_at` values go."""
        seqs = self.config.request_events(request_id)
        if self.config.endpoint == "single":
            doc = self._event(seqs.start)
        else:
            doc = [self._event(seq) for seq in seqs]
        return orjson.dumps(doc).split(_QUOTED_MARK)


def render(template: list[bytes], sent_at: float) -> bytes:
    """The final body: every `sent_at` of the request gets the same instant."""
    return repr(sent_at).encode().join(template)
