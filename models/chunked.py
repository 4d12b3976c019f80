"""Row-wise predictions over a large matrix, a chunk of rows at a time (docs/scale.md, "Training on one machine").

The linear models' transforms (imputed, clipped, standardised and one-hot copies of the matrix) are
then a chunk's temporaries, not the matrix's: scoring a 750,000-row backtest fold held several
such copies at once (GBs at 1M customers). Only for predictions where a row's value depends on that
row alone, so the chunking never changes a result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CHUNK_ROWS = 100_000


def in_chunks(predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, chunk_rows: int | None = None) -> np.ndarray:
    """``predict`` of every row of ``X``, ``chunk_rows`` (CHUNK_ROWS) rows at a time, in row order."""
    size = chunk_rows or CHUNK_ROWS
    if len(X) <= size:
        return predict(X)
    return np.concatenate([predict(X[start : start + size]) for start in range(0, len(X), size)])
