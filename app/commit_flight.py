"""Asynchronous offset commits, at most one in flight, newer offsets merged while one is out.

The consumer writes a batch, then commits its offsets without waiting. Sending one commit per
batch lets requests pile up whenever the group coordinator is slow or moving: kafka-python then
fails them locally (`NodeNotReadyError: Node paused: max_in_flight`), and after a coordinator
broker dies every one of them comes back `NotCoordinatorError` and marks the coordinator dead
again, so the client keeps rediscovering it instead of fetching. Here a batch's offsets wait
while a commit is out and go together in the next one: the latest offset of a partition covers
the earlier ones. A failed commit's offsets are queued again (unless newer ones are already
waiting), so an idle consumer still commits what it wrote once the coordinator is back.

Offsets only ever come from what was written, so nothing is committed past the log (at least
once); an old commit answered after a newer one can only move an offset back (duplicates).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

# send(offsets, done): starts one commit; done(error or None) is called once it is answered.
Send = Callable[[dict[int, int], Callable[[BaseException | None], None]], None]


class CommitFlight:
    def __init__(
        self,
        send: Send,
        stale_after_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._stale_after_s = stale_after_s  # an unanswered commit no longer holds the next one
        self._clock = clock
        self.waiting: dict[int, int] = {}  # partition -> next offset, not yet sent
        self._sent: dict[int, int] = {}  # partition -> highest offset sent so far
        self._flight = 0  # id of the commit in flight (0: none)
        self._sent_at = 0.0
        self._ids = 0
        self._epoch = 0  # bumped by forget(): answers to older commits are not re-queued

    @property
    def in_flight(self) -> bool:
        return self._flight != 0

    def add(self, offsets: Mapping[int, int]) -> None:
        """Offsets of a written batch: merge them in, send if nothing is in flight."""
        self._merge(offsets)
        self.flush()

    def flush(self) -> None:
        """Send what is waiting, unless a (not yet stale) commit is in flight."""
        if not self.waiting:
            return
        if self.in_flight and self._clock() - self._sent_at < self._stale_after_s:
            return
        offsets, self.waiting = self.waiting, {}
        for partition, offset in offsets.items():
            self._sent[partition] = max(offset, self._sent.get(partition, -1))
        self._ids += 1
        self._flight, self._sent_at = self._ids, self._clock()
        done = self._on_done(self._ids, self._epoch, offsets)
        try:
            self._send(offsets, done)
        except BaseException as exc:  # not even sent: free the slot, keep the offsets
            done(exc)
            raise

    def forget(self, partitions: Iterable[int]) -> None:
        """Revoked partitions: another member commits them now; never send them again."""
        for partition in partitions:
            self.waiting.pop(partition, None)
            self._sent.pop(partition, None)
        self._epoch += 1

    def _merge(self, offsets: Mapping[int, int]) -> None:
        for partition, offset in offsets.items():
            if offset > self.waiting.get(partition, -1):
                self.waiting[partition] = offset

    def _on_done(
        self, flight: int, epoch: int, offsets: dict[int, int]
    ) -> Callable[[BaseException | None], None]:
        def done(error: BaseException | None) -> None:
            if self._flight == flight:
                self._flight = 0
            if error is not None and epoch == self._epoch:
                # Retried with the next flush, unless a later commit already carries more.
                self._merge({p: o for p, o in offsets.items() if o >= self._sent.get(p, -1)})

        return done
