"""Read the configured source and hold it to the data contract: the reading is this package's, the
validation features/ingest.py's.

``stream_tables`` hands each batch of accepted rows to a consumer (the snapshot writer), so memory
stays bounded by one batch whatever the size of the tables; ``load_tables`` collects the batches for
callers that want whole frames (small data, tests, benchmarks).
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from configs import Config
from features.ingest import AcceptRows, Ingested, LoadResult, RejectLimitError, validate_tables
from sources import open_tables


def stream_tables(config: Config, accept: AcceptRows, ingested_at: datetime | None = None) -> Ingested:
    """Read and validate every configured table batch by batch (features.ingest.validate_tables);
    ``ingested_at`` (default: now) bounds event times."""
    with open_tables(config.source) as readers:
        return validate_tables(readers, config, accept, ingested_at or datetime.now(UTC))


def load_tables(config: Config, ingested_at: datetime | None = None) -> LoadResult:
    """Read and validate every configured table into memory (whole frames of accepted rows)."""
    batches: dict[str, list[pl.DataFrame]] = {}

    def keep(table: str, accepted: pl.DataFrame) -> None:
        batches.setdefault(table, []).append(accepted)

    def whole(ingested: Ingested) -> LoadResult:
        tables = {table: pl.concat(frames, rechunk=True) for table, frames in batches.items()}
        return LoadResult(rejects=ingested.rejects, counts=ingested.counts, tables=tables)

    try:
        return whole(stream_tables(config, keep, ingested_at))
    except RejectLimitError as exc:
        raise RejectLimitError(str(exc), whole(exc.result)) from None
