"""The samples the fits take when a frame is larger than a fit needs (docs/scale.md, "Training on one machine").

Two kinds, each for a reason:
- :func:`uniform_rows`: a seeded uniform sample of rows. It keeps the base rate, so a model fitted on
  it stays calibrated to the population (the logistic baseline, the linear half, the response model).
- :func:`customer_sample`: every snapshot of a seeded share of customers. It keeps whole histories,
  so no customer's earlier snapshots train a model that is judged on its later ones (the backtest's
  fits, the final refit above ``training.max_rows``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

_BUCKETS = 1_000_000


def customer_bucket(seed: int) -> pl.Expr:
    """A customer's seeded bucket in [0, 1e6): the same on every snapshot, so a sample keeps whole histories."""
    return pl.col("customer_id").cast(pl.String).hash(seed) % _BUCKETS


def rows_on(frame: pl.DataFrame, dates: tuple) -> int:
    """How many rows of ``frame`` are snapshots of ``dates`` (counted, not copied)."""
    return int(frame.select(pl.col("as_of").is_in(list(dates)).sum()).item())


def customer_rows(frame: pl.DataFrame, dates: tuple, max_rows: int, seed: int) -> np.ndarray:
    """Indices of the rows of ``dates``: all of them, or above ``max_rows`` every snapshot of a
    seeded share of customers, about ``max_rows`` rows; in frame order."""
    on_dates = pl.col("as_of").is_in(list(dates))
    rows = rows_on(frame, dates)
    keep = on_dates if rows <= max_rows else on_dates & (customer_bucket(seed) < int(_BUCKETS * max_rows / rows))
    return np.flatnonzero(frame.select(keep).to_series().to_numpy())


def customer_sample(frame: pl.DataFrame, dates: tuple, max_rows: int, seed: int) -> pl.DataFrame:
    """The rows of :func:`customer_rows` (only they are copied: at 1M customers the unsampled rows would be GBs)."""
    return frame[customer_rows(frame, dates, max_rows, seed)]


def uniform_rows(n: int, max_rows: int, seed: int) -> np.ndarray:
    """Indices of a seeded uniform sample of ``max_rows`` of ``n`` rows, in their order (all of them when n <= max_rows)."""
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))


def uniform_rows_on(frame: pl.DataFrame, dates: tuple, max_rows: int, seed: int) -> np.ndarray:
    """Indices of the rows of ``dates``, or above ``max_rows`` of a :func:`uniform_rows` sample of them; in frame order."""
    on_dates = np.flatnonzero(frame.select(pl.col("as_of").is_in(list(dates))).to_series().to_numpy())
    return on_dates[uniform_rows(len(on_dates), max_rows, seed)]


def uniform_sample(frame: pl.DataFrame, dates: tuple, max_rows: int, seed: int) -> pl.DataFrame:
    """The rows of :func:`uniform_rows_on` (only they are copied: the rows of every date but one are most of a training frame)."""
    return frame[uniform_rows_on(frame, dates, max_rows, seed)]
