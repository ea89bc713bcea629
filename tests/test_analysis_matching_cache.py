"""match_events reuses its last id lookup only when both id columns are the very same memory."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.matching import match_events


def frames(ids: list[str], logged: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    records = pd.DataFrame({"event_id": pd.Series(ids, dtype="str"),
                            "sent_at": np.arange(len(ids), dtype=float)})  # fmt: skip
    log = pd.DataFrame({"event_id": pd.Series(logged, dtype="str"),
                        "consumed_at": np.arange(len(logged), dtype=float) + 10})  # fmt: skip
    return records, log


def test_same_columns_twice_give_the_same_match():
    records, log = frames(["a", "b", "c"], ["c", "a", "a", "zz"])
    first, again = match_events(records, log), match_events(records, log)
    assert first.log_position.tolist() == again.log_position.tolist() == [2, 0, 0, -1]
    assert again.times_logged.tolist() == [2, 0, 1]


def test_a_changed_log_is_looked_up_afresh():
    records, log = frames(["a", "b", "c"], ["c", "a"])
    assert match_events(records, log).log_position.tolist() == [2, 0]
    log.loc[0, "event_id"] = "b"  # pandas writes new Arrow buffers: the cache must miss
    assert match_events(records, log).log_position.tolist() == [1, 0]
    _, other_log = frames(["a", "b", "c"], ["a", "a"])
    assert match_events(records, other_log).log_position.tolist() == [0, 0]


def test_object_dtype_ids_still_match():
    records, log = frames(["a", "b"], ["b"])
    records["event_id"] = records["event_id"].astype(object)
    assert match_events(records, log).log_position.tolist() == [1]
    records.loc[1, "event_id"] = "x"  # mutable numpy storage: converted on every call
    assert match_events(records, log).log_position.tolist() == [-1]
