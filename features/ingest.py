"""Load the input tables: read them from the configured source and hold them to the data contract.

Composes reading (I/O) and validation (pure). Every row read is either accepted or rejected with
a reason; too many rejects in any table fail the run (``monitoring.max_reject_share``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl

from configs import Config
from features.contract import ContractError
from features.sources import read_tables
from features.validation import ValidatedTable, empty_rejects, validate_tables


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
class LoadResult:
    tables: dict[str, pl.DataFrame]  # accepted rows, contract names and types
    rejects: pl.DataFrame  # table_name, reason, row (JSON, PII removed), ingested_at
    counts: dict[str, TableCount]


class RejectLimitError(ContractError):
    """Some table's rejects exceed ``monitoring.max_reject_share``; ``result`` still holds everything read."""

    def __init__(self, message: str, result: LoadResult) -> None:
        super().__init__(message)
        self.result = result


def load_tables(config: Config, ingested_at: datetime | None = None) -> LoadResult:
    """Read and validate every configured table; ``ingested_at`` (default: now) bounds event times."""
    ingested_at = ingested_at or datetime.now(timezone.utc)
    raws = read_tables(config.source)
    validated = validate_tables(raws, config, ingested_at)
    result = LoadResult(
        tables={table: v.accepted for table, v in validated.items()},
        rejects=pl.concat([empty_rejects(), *(v.rejects for v in validated.values())]),
        counts={table: _count(table, raws[table].height, v) for table, v in validated.items()},
    )
    check_reject_share(result, config.monitoring.max_reject_share)
    return result


def check_reject_share(result: LoadResult, max_share: float) -> None:
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


def _count(table: str, read: int, validated: ValidatedTable) -> TableCount:
    count = TableCount(read, validated.accepted.height, validated.rejects.height, validated.reasons)
    if count.accepted + count.rejected != count.read:  # never lose or invent a row (PRODUCT §3)
        raise AssertionError(f"{table}: {count.accepted} accepted + {count.rejected} rejected != {count.read} read")
    return count


def _top_reasons(reasons: dict[str, int], n: int = 3) -> str:
    top = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:n]
    return ", ".join(f"{reason} ({rows})" for reason, rows in top)
