"""Load the input tables: read them from the configured source and hold them to the data contract.

Composes reading (I/O) and validation (pure), batch by batch: ``stream_tables`` hands each batch
of accepted rows to a consumer (the snapshot writer) and keeps only counts and rejects, so memory
stays bounded by one batch whatever the size of the tables; ``load_tables`` collects the batches
for callers that want whole frames. Every row read is either accepted or rejected with a reason;
too many rejects in any table fail the run (``monitoring.max_reject_share``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl

from configs import Config
from features.contract import ContractError
from features.sources import open_tables
from features.validation import TableValidator, empty_rejects, table_validators


@dataclass(frozen=True)
class TableCount:
    read: int
    accepted: int
    rejected: int
    reasons: dict[str, int]  # reason -> rejected rows that carry it (a row may carry several)

    @property
    def reject_share(self) -> float:
        return self.rejected / self.read if self.read else 0.0


@dataclass(frozen=True)
class Ingested:
    rejects: pl.DataFrame  # table_name, reason, row (JSON, PII removed), ingested_at
    counts: dict[str, TableCount]


@dataclass(frozen=True)
class LoadResult(Ingested):
    tables: dict[str, pl.DataFrame]  # accepted rows, contract names and types


class RejectLimitError(ContractError):
    """Some table's rejects exceed ``monitoring.max_reject_share``; ``result`` still holds everything read."""

    def __init__(self, message: str, result: Ingested) -> None:
        super().__init__(message)
        self.result = result


AcceptRows = Callable[[str, pl.DataFrame], None]  # (table, a batch of accepted rows)


def stream_tables(config: Config, accept: AcceptRows, ingested_at: datetime | None = None) -> Ingested:
    """Read and validate every configured table batch by batch, handing accepted rows to ``accept``
    (every table at least once, an empty batch for an empty table); ``ingested_at`` (default: now)
    bounds event times. Raises RejectLimitError after everything is read when a table has too many rejects."""
    ingested_at = ingested_at or datetime.now(timezone.utc)
    rejects, counts = [empty_rejects()], {}
    with open_tables(config.source) as readers:
        validators = table_validators({table: reader.schema for table, reader in readers.items()}, config, ingested_at)
        for table, validator in validators.items():
            read = 0
            for batch in readers[table].batches():
                read += batch.height
                validated = validator.validate(batch)
                accept(table, validated.accepted)
                if validated.rejects.height:
                    rejects.append(validated.rejects)
            counts[table] = _count(table, read, validator)
    result = Ingested(rejects=pl.concat(rejects), counts=counts)
    check_reject_share(result, config.monitoring.max_reject_share)
    return result


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


def check_reject_share(result: Ingested, max_share: float) -> None:
    """Raise RejectLimitError naming each table whose rejected share of rows exceeds ``max_share``."""
    over = [(table, count) for table, count in result.counts.items() if count.reject_share > max_share]
    if not over:
        return
    lines = [
        f"{table}: {count.rejected} of {count.read} rows rejected ({count.reject_share:.2%}), "
        f"above monitoring.max_reject_share = {max_share:.2%}; top reasons: {_top_reasons(count.reasons)}"
        for table, count in over
    ]
    raise RejectLimitError("too many rejected input rows\n" + "\n".join(lines), result)


def _count(table: str, read: int, validated: TableValidator) -> TableCount:
    count = TableCount(read, validated.accepted, validated.rejected, validated.reasons)
    if count.accepted + count.rejected != count.read:  # never lose or invent a row (PRODUCT §3)
        raise AssertionError(f"{table}: {count.accepted} accepted + {count.rejected} rejected != {count.read} read")
    return count


def _top_reasons(reasons: dict[str, int], n: int = 3) -> str:
    top = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:n]
    return ", ".join(f"{reason} ({rows})" for reason, rows in top)
