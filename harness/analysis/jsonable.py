"""Make analysis results safe for strict JSON: plain Python types, no NaN/inf (they become null)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import PurePath

import numpy as np
import pandas as pd


def to_jsonable(value: object) -> object:
    """A copy of `value` made of dict/list/str/int/float/bool/None only (NaN and inf -> None)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray | pd.Series):
        return [to_jsonable(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return value if isinstance(value, str) else str(value)
