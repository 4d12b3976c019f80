"""Where the input tables come from: files, a DuckDB file or PostgreSQL (docs/input-contract.md).

    with open_tables(config.source) as readers:     # contract table -> TableReader
        for batch in readers["events"].batches(): ...
    time_bounds(config.source, "events", "ts")      # oldest and newest value, without loading

``source.kind`` picks the Source subclass from ``SOURCES``; a kind's module is imported only when
used (PostgreSQL's driver loads only for PostgreSQL sources). Reading and validating together, batch
by batch, is ``sources.ingest.stream_tables``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import TYPE_CHECKING

import polars as pl

from sources.base import Bounds, Source, TableReader, quote_identifier

if TYPE_CHECKING:
    from configs.schema import SourceConfig

SOURCES: dict[str, tuple[str, str]] = {  # source.kind -> (module, class)
    "files": ("sources.files", "FileSource"),
    "duckdb": ("sources.duckdb_source", "DuckDBSource"),
    "postgres": ("sources.postgres_source", "PostgresSource"),
}


def open_source(config: SourceConfig) -> Source:
    """The Source that ``config.kind`` names."""
    if config.kind not in SOURCES:
        raise ValueError(f"source.kind: unknown source {config.kind!r} (expected {', '.join(SOURCES)})")
    module, name = SOURCES[config.kind]
    return getattr(import_module(module), name)(config)


@contextmanager
def open_tables(config: SourceConfig) -> Iterator[dict[str, TableReader]]:
    """Every contract table the source has, ready to be read batch by batch while the context is open."""
    with open_source(config).open_tables() as readers:
        yield readers


def read_tables(config: SourceConfig) -> dict[str, pl.DataFrame]:
    """Every table the source has, whole, in memory (small data and tests; ingest streams instead)."""
    with open_tables(config) as readers:
        return {table: reader.read() for table, reader in readers.items()}


def time_bounds(config: SourceConfig, table: str, column: str) -> Bounds | None:
    """The oldest and newest value of one contract column of a table (Source.time_bounds)."""
    return open_source(config).time_bounds(table, column)


__all__ = ["SOURCES", "Source", "TableReader", "open_source", "open_tables", "quote_identifier", "read_tables", "time_bounds"]
