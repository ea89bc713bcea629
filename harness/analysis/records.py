"""Read the simulator's per-event client records (`client_records.parquet`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.rundir import OPTIONAL_RECORD_COLUMNS, PHASES, RECORD_COLUMNS, RECORDS_FILE

WARMUP, MEASURED = PHASES  # the values of the `phase` column


def normalize_records(df: pd.DataFrame) -> pd.DataFrame:
    """The records with every documented column present and typed (ValueError: what is missing)."""
    df = df.copy()
    for name, default in OPTIONAL_RECORD_COLUMNS.items():
        if name not in df.columns:
            df[name] = default
    missing = [c for c in RECORD_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"client records lack column(s): {', '.join(missing)}")
    df["error"] = df["error"].fillna("")
    df["status"] = df["status"].fillna(0)
    df["accepted"] = df["accepted"].fillna(False)
    df["delivery_failed"] = df["delivery_failed"].fillna(False)
    df["phase"] = df["phase"].fillna(OPTIONAL_RECORD_COLUMNS["phase"])
    return df.astype(RECORD_COLUMNS)


def read_client_records(path: str | Path) -> pd.DataFrame:
    """One row per event the client sent; `path` is the parquet file or the run directory."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORDS_FILE
    return normalize_records(pd.read_parquet(path))
