"""The per-key order audit: did Kafka keep, per record key, the order the client could see?

The promise checked: take two events A and B with the same key where A's 2xx answer reached the
client before B was sent (A.done_at < B.sent_at). Then Kafka must hold A before B, in the same
partition. Every such pair is checked; a pair where A is in another partition, or after B in the
same one, is a violation. Events are placed by their first record in the topic (a later
duplicate of A, a producer retry, does not move it); A must have been accepted, B need only be in
Kafka. Events not found in the topic, or whose record has no key, are not audited (a loss is
counted elsewhere).

Cost: O(n log n) in numpy, no loop over events. Per key, the pairs of an event B are the
accepted events of its key answered before B left: a sort by (key, done_at) and a searchsorted of
(key, B.sent_at) count them. The same per (key, partition) gives those in B's partition; the
difference is the cross-partition violations. Within a partition, B is out of order when an event
later in the partition was answered before B left: a suffix minimum of done_at over offsets finds
every such B at once. Only the (key, partition) groups that hold one are then counted pair by pair
(a Fenwick tree over time ranks, O(m log m) in Python for their m events; none in a clean run).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.jsonable import to_jsonable
from harness.analysis.matching import match_events

FIRST_VIOLATIONS = 5  # violations listed in full
NO_KEY_REASON = (
    "no key (key: none): records go to any partition, so Kafka promises no order between events"
)


def not_audited(reason: str) -> dict:
    """The order dict of a run whose order was not audited (same keys as an audited one)."""
    return {"audited": False, "reason": reason, "key": None, "events": None, "keys": None,
            "unkeyed": None, "pairs_checked": None, "violations": None,
            "first_violations": []}  # fmt: skip


def _count_below(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per value of `b`: how many values of `a` are strictly below it (one stable sort of both,
    which beats a searchsorted of unsorted queries several times over)."""
    both = np.concatenate([b, a])  # b first: on a tie, b sorts before a, so only a < b count
    order = np.argsort(both, kind="stable")
    seen_a = np.cumsum(order >= len(b))
    out = np.empty(len(b), dtype=np.int64)
    is_b = order < len(b)
    out[order[is_b]] = seen_a[is_b]
    return out


def _pairs_before(group: np.ndarray, done_rank: np.ndarray, accepted: np.ndarray,
                  sent_rank: np.ndarray, span: int) -> np.ndarray:  # fmt: skip
    """Per event B: the accepted events of its group answered before it was sent (groups are
    non-negative integers; ranks below `span`)."""
    below = _count_below(group[accepted] * span + done_rank[accepted], group * span + sent_rank)
    # minus the accepted events of the groups before B's
    per_group = np.bincount(group[accepted], minlength=group.max() + 1)
    before_group = np.concatenate([[0], np.cumsum(per_group)[:-1]])
    return below - before_group[group]


def _out_of_order(group: np.ndarray, done_rank: np.ndarray, sent_rank: np.ndarray,
                  span: int) -> np.ndarray:  # fmt: skip
    """Per event B (rows sorted by group, then offset): is an event later in its partition
    answered before B was sent? Ranks are below `span` (those not accepted: the highest)."""
    n = len(group)
    # The suffix minimum of done ranks within each group, as one running minimum over the
    # reversed rows: shifted by group x (span + 1), a group's values are all below those of the
    # groups after it, so the minimum starts afresh at each group.
    base = group * (span + 1)
    suffix = np.minimum.accumulate((base + done_rank)[::-1])[::-1]
    out = np.zeros(n, dtype=bool)
    if n > 1:
        same = group[1:] == group[:-1]
        out[:-1] = same & (suffix[1:] - base[:-1] < sent_rank[:-1])
    return out


def _count_inversions(done_rank: np.ndarray, sent_rank: np.ndarray, span: int) -> int:
    """Pairs (A after B in the partition, A answered before B was sent) of one group whose rows
    are in offset order: a Fenwick tree over done ranks, walking from the last offset back.
    Events not accepted have done rank span - 1 and are never an A."""
    tree = [0] * (span + 1)
    pairs = 0
    for i in range(len(done_rank) - 1, -1, -1):
        k = int(sent_rank[i])  # count ranks < sent: prefix sum over 1..k
        while k > 0:
            pairs += tree[k]
            k -= k & -k
        d = int(done_rank[i])
        if d < span - 1:  # accepted: it can be the earlier event of a pair
            k = d + 1
            while k <= span:
                tree[k] += 1
                k += k & -k
    return pairs


def audit_order(records: pd.DataFrame, topic: pd.DataFrame, key_field: str) -> dict:
    """The order audit of one run. `records`: the client records (event_id, sent_at, done_at,
    accepted); `topic`: the run's records as read from Kafka (harness.audit.audit_topic with
    keys=True: event_id, partition, offset, key, consumed_at). Returns metrics.json's `order`."""
    match = match_events(records, topic)  # the metrics' own lookup: cached when it is the same
    position = match.log_position
    keys_all = topic["key"].to_numpy()
    has_key = pd.notna(keys_all)
    offsets_all = topic["offset"].to_numpy(dtype=np.int64, na_value=-1)
    rows = np.flatnonzero((position >= 0) & has_key)
    # each event placed by its first record: the lowest offset among its copies
    rows = rows[np.lexsort((offsets_all[rows], position[rows]))]
    _, first = np.unique(position[rows], return_index=True)
    rows = rows[first]
    events = match.events
    sent = events["sent_at"].to_numpy(dtype=float)[position[rows]]
    rows, sent = rows[~np.isnan(sent)], sent[~np.isnan(sent)]
    which = position[rows]  # each audited event's row of match.events
    done = events["done_at"].to_numpy(dtype=float)[which]
    accepted = events["accepted"].to_numpy(dtype=bool)[which] & ~np.isnan(done)
    key_code = pd.factorize(keys_all[rows])[0].astype(np.int64)
    result = {"audited": True, "reason": None, "key": key_field, "events": len(rows),
              "keys": int(key_code.max() + 1) if len(rows) else 0,
              "unkeyed": int((~has_key).sum()), "pairs_checked": 0, "violations": 0,
              "first_violations": []}  # fmt: skip
    if not len(rows):
        return result
    # one ordering of both kinds of instants: ranks compare as the times do, ties included
    n_done = int(accepted.sum())
    times, inverse = np.unique(np.concatenate([done[accepted], sent]), return_inverse=True)
    span = len(times) + 1
    done_rank = np.full(len(rows), span - 1, dtype=np.int64)  # not accepted: after everything
    done_rank[accepted] = inverse[:n_done]
    sent_rank = inverse[n_done:].astype(np.int64)
    partition = topic["partition"].to_numpy(dtype=np.int64)[rows]
    offset = offsets_all[rows]
    part_code = key_code * (int(partition.max()) + 1) + partition
    pairs = _pairs_before(key_code, done_rank, accepted, sent_rank, span)
    cross = pairs - _pairs_before(part_code, done_rank, accepted, sent_rank, span)
    by_place = np.lexsort((offset, part_code))
    flagged = _out_of_order(part_code[by_place], done_rank[by_place], sent_rank[by_place], span)
    inverted = 0
    for group in np.unique(part_code[by_place][flagged]):
        members = by_place[part_code[by_place] == group]
        inverted += _count_inversions(done_rank[members], sent_rank[members], span)
    out_of_order = np.zeros(len(rows), dtype=bool)
    out_of_order[by_place[flagged]] = True
    result["pairs_checked"] = int(pairs.sum())
    result["violations"] = int(cross.sum()) + inverted
    bad = (cross > 0) | out_of_order
    if bad.any():
        placed = pd.DataFrame({
            "event_id": events["event_id"].to_numpy()[which], "partition": partition,
            "offset": offset, "key": keys_all[rows], "sent_at": sent, "done_at": done,
        })  # fmt: skip
        result["first_violations"] = _examples(placed, cross > 0, out_of_order, accepted)
    return to_jsonable(result)


def _place(row: pd.Series, time_field: str) -> dict:
    return {"event_id": row["event_id"], "partition": int(row["partition"]),
            "offset": int(row["offset"]), time_field: float(row[time_field])}  # fmt: skip


def _examples(ev: pd.DataFrame, cross: np.ndarray, out_of_order: np.ndarray,
              accepted: np.ndarray) -> list[dict]:  # fmt: skip
    """The first few violations in the order B was sent: B and the earliest-answered A that
    breaks the promise with it (in another partition, or after B in B's partition)."""
    bad = np.flatnonzero(cross | out_of_order)
    bad = bad[np.argsort(ev["sent_at"].to_numpy()[bad], kind="stable")][:FIRST_VIOLATIONS]
    examples = []
    keys = ev["key"].to_numpy()
    for b in bad:
        later = ev.iloc[b]
        candidates = ev[(keys == keys[b]) & accepted & (ev["done_at"] < later["sent_at"]).to_numpy()
                        & ((ev["partition"] != later["partition"])
                           | (ev["offset"] > later["offset"])).to_numpy()]  # fmt: skip
        if candidates.empty:
            continue
        earlier = candidates.loc[candidates["done_at"].idxmin()]
        key = keys[b]
        examples.append({
            "key": key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key),
            "earlier": _place(earlier, "done_at"),
            "later": _place(later, "sent_at"),
        })  # fmt: skip
    return examples
