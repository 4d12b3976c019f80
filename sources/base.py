"""What every source does: name its tables, read them batch by batch, and say where it looked.

A source kind (files, DuckDB, PostgreSQL) subclasses ``Source``; ``sources/__init__.py`` picks the
subclass from ``source.kind``. Tables arrive in batches of at most ``BATCH_ROWS`` rows, so ingest
holds one batch of a table at a time however large the table is (100M events fit in a few hundred
MB). Declared PII columns (``source.pii``) are left out of the read itself, so nothing downstream
ever holds them.

A table named in ``source.tables`` or ``source.columns`` that the source lacks is an error naming
the key; a file that cannot be read (a malformed CSV line, a truncated Parquet file) is an
UnreadableSourceError naming the file (docs/input-contract.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from configs.schema import SourceConfig
from features.contract import REQUIRED_TABLES, TABLES, ContractError

TABLES_SQL = "SELECT table_name FROM information_schema.tables WHERE table_schema = {schema} ORDER BY table_name"
COLUMNS_SQL = (
    "SELECT column_name, data_type FROM information_schema.columns "
    "WHERE table_schema = {schema} AND table_name = {table} ORDER BY ordinal_position"
)
# times outside years 1-9999 ('infinity', a damaged file) are left out of time bounds: ingest rejects those rows
IN_TIME_RANGE_SQL = " WHERE {column} BETWEEN '0001-01-01' AND '9999-12-31 23:59:59.999999'"

BATCH_ROWS = 1_000_000  # rows per batch: a few hundred MB of work per batch at most, whatever the table's size

Bounds = tuple[object, object]


@dataclass(frozen=True)
class TableReader:
    """One source table: its columns (PII left out) and its rows, batch by batch, in source order."""

    schema: pl.Schema
    _batches: Callable[[], Iterator[pl.DataFrame]]
    origin: str = ""  # where the rows come from, for messages: a file, or a table and its database
    typed: bool = True  # columns carry their types (everything but CSV, whose contract columns arrive as text)

    def batches(self) -> Iterator[pl.DataFrame]:
        """Every row once, in batches of at most BATCH_ROWS; an empty table gives one empty batch."""
        empty = True
        for batch in self._batches():
            empty = False
            yield batch
        if empty:
            yield pl.DataFrame(schema=self.schema)

    def read(self) -> pl.DataFrame:
        return pl.concat(list(self.batches()), how="vertical_relaxed", rechunk=True)


class Source(ABC):
    """One configured source (``config.source``): opens its tables, and knows where it looked for them."""

    def __init__(self, config: SourceConfig) -> None:
        self.config = config

    @contextmanager
    def open_tables(self) -> Iterator[dict[str, TableReader]]:
        """Every contract table the source has, in contract order, ready to be read batch by batch while
        the context is open. Optional tables may be absent unless the config names them (a misspelled
        name must not make a table vanish quietly); required ones may not."""
        source = self.config
        names = {table: source.tables.get(table, table) for table in TABLES}
        with ExitStack() as stack:
            readers, found = self._open(names, stack)
            problems = [
                f"required table {table!r} not found: looked for {self.where(names[table])}; "
                f"config key source.tables.{table} names it"
                for table in REQUIRED_TABLES
                if table not in readers
            ]
            problems += [self._unknown_table(table, names[table], found) for table in _named(source) if table not in readers]
            if problems:
                raise ContractError("\n".join(dict.fromkeys(problems)))
            yield readers

    def time_bounds(self, table: str, column: str) -> Bounds | None:
        """The oldest and newest value of one contract column of a table, as the source holds it
        (datetime, date or ISO text), without loading the table. None when the table or column is not
        there (ingest names what is missing). Times outside years 1-9999 are left out."""
        source = self.config
        return self._time_bounds(source.tables.get(table, table), source.columns.get(table, {}).get(column, column))

    @abstractmethod
    def _open(self, names: dict[str, str], stack: ExitStack) -> tuple[dict[str, TableReader], list[str]]:
        """Readers of the tables found (contract name -> reader), and every table name the source holds."""

    @abstractmethod
    def _time_bounds(self, name: str, column: str) -> Bounds | None: ...

    @abstractmethod
    def where(self, name: str) -> str:
        """Where a table of this name was looked for, for messages."""

    @abstractmethod
    def place(self) -> str:
        """The folder, file or database schema the source reads, for messages."""

    what_is_missing = "no table"

    def _unknown_table(self, table: str, name: str, found: list[str]) -> str:
        key = f"source.tables.{table}" if table in self.config.tables else f"source.columns.{table}"
        listed = ", ".join(found[:20]) + (f", … ({len(found)} in all)" if len(found) > 20 else "") if found else "nothing"
        hint = "" if table in self.config.tables else f" (it maps columns of {table}; name its table with source.tables.{table})"
        return f"{key}: {self.what_is_missing} {name!r} in {self.place()} (found: {listed}){hint}"


def _named(source: SourceConfig) -> list[str]:
    """Optional tables the config names (a table name, or column mappings): they must be there."""
    return [table for table in TABLES if table not in REQUIRED_TABLES and (table in source.tables or table in source.columns)]


def quote_identifier(name: str) -> str:
    """A SQL identifier, double-quoted (PostgreSQL and DuckDB alike)."""
    return '"' + name.replace('"', '""') + '"'


def if_time(data_type: str, clause: str) -> str:
    return clause if data_type.lower().startswith(("timestamp", "date")) else ""


def rebatched(batches: Iterable[pa.RecordBatch]) -> Iterator[pl.DataFrame]:
    """Arrow record batches, of whatever size the driver picks, regrouped into frames of BATCH_ROWS
    rows (the last one smaller); slicing copies nothing."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        while rows >= BATCH_ROWS:
            table = pa.Table.from_batches(pending)
            yield frame(table.slice(0, BATCH_ROWS))
            rest = table.slice(BATCH_ROWS)
            pending, rows = rest.to_batches(), rest.num_rows
    if rows:
        yield frame(pa.Table.from_batches(pending))


def frame(data: pa.Table | pa.RecordBatch) -> pl.DataFrame:
    return pl.from_arrow(data, rechunk=False)  # type: ignore[return-value]


def schema_of(data: pa.Table) -> pl.Schema:
    return frame(data).schema
