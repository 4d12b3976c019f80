"""Hold the input tables to the data contract, batch by batch, whoever read them.

``validate_tables`` takes each table's batches of raw rows (sources/ reads them), hands each batch
of accepted rows to a consumer (the snapshot writer) and keeps only counts and rejects, so memory
stays bounded by one batch whatever the size of the tables. Every row read is either accepted or rejected with a reason;
too many rejects in any table fail the run (``monitoring.max_reject_share``); a required table with
no rows fails it at once, and so does a batch whose validation breaks (naming table, batch and
source: the snapshot is never committed, so nothing is lost).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import polars as pl
from polars.exceptions import PanicException

from configs import Config
from features.contract import REQUIRED_TABLES, ContractError, ValidationFailedError
from features.validation import TableValidator, ValidatedTable, empty_rejects, table_validators


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


class TableBatches(Protocol):
    """One table's raw rows as a source hands them over (sources.base.TableReader)."""

    schema: pl.Schema
    origin: str  # where the rows come from, for messages
    typed: bool  # False: contract columns arrive as text (CSV) and are parsed here

    def batches(self) -> Iterator[pl.DataFrame]: ...


def validate_tables(tables: Mapping[str, TableBatches], config: Config, accept: AcceptRows, ingested_at: datetime) -> Ingested:
    """Validate every table batch by batch, handing accepted rows to ``accept`` (every table at least
    once, an empty batch for an empty table); ``ingested_at`` bounds event times. Raises
    RejectLimitError after everything is read when a table has too many rejects."""
    rejects, counts = [empty_rejects()], {}
    typed = [table for table, reader in tables.items() if reader.typed]
    validators = table_validators({table: reader.schema for table, reader in tables.items()}, config, ingested_at, typed)
    for table, validator in validators.items():
        read = 0
        for number, batch in enumerate(tables[table].batches(), start=1):
            validated = _validate_batch(validator, batch, number, read, tables[table])
            read += batch.height
            accept(table, validated.accepted)
            if validated.rejects.height:
                rejects.append(validated.rejects)
        if read == 0 and table in REQUIRED_TABLES:
            name = config.source.tables.get(table, table)
            raise ContractError(
                f"{table} holds no rows (source.tables.{table} → {name}, read from {tables[table].origin}); "
                f"a required table needs rows: check the export (docs/input-contract.md, 'Empty and missing tables')"
            )
        counts[table] = _count(table, read, validator)
    result = Ingested(rejects=pl.concat(rejects), counts=counts)
    check_reject_share(result, config.monitoring.max_reject_share)
    return result


def _validate_batch(validator: TableValidator, batch: pl.DataFrame, number: int, before: int, reader: TableBatches) -> ValidatedTable:
    """One batch's rows; any unexpected failure names the table, the batch and its rows, and the source.
    A polars panic is a BaseException (pyo3's PanicException), so it is named here explicitly."""
    try:
        return validator.validate(batch)
    except ContractError:
        raise
    except (Exception, PanicException) as exc:
        rows = f"rows {before + 1:,}-{before + batch.height:,}" if batch.height else "no rows"
        raise ValidationFailedError(
            f"{validator.spec.name}: validating batch {number} ({rows}) of {reader.origin or 'the source'} "
            f"failed unexpectedly: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}; "
            f"nothing was committed. This is a bug met on this data: please report it with this message"
        ) from exc


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
    if count.accepted + count.rejected != count.read:  # never lose or invent a row (docs/input-contract.md)
        raise AssertionError(f"{table}: {count.accepted} accepted + {count.rejected} rejected != {count.read} read")
    return count


def _top_reasons(reasons: dict[str, int], n: int = 3) -> str:
    top = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:n]
    return ", ".join(f"{reason} ({rows})" for reason, rows in top)
