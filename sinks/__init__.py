"""Where scores land: the output tables (docs/output-tables.md) in DuckDB, PostgreSQL or Parquet.

    sink = open_sink(config.sink)
    sink.write_scores(scores, as_of)      # replaces that date atomically
    sink.read_scores()                    # the newest date

``sink.kind`` picks the Sink subclass from ``SINKS``; a kind's module is imported only when used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from sinks.base import DEFAULT_LOCK_TIMEOUT_S, Sink
from sinks.schema import CHURN_SCORES, LATEST_SCORES_VIEW, REJECTS, SCORE_RUNS, TABLES, SinkSchemaError, Table, conform

if TYPE_CHECKING:
    from configs.schema import SinkConfig

SINKS: dict[str, tuple[str, str]] = {  # sink.kind -> (module, class)
    "duckdb": ("sinks.duckdb_sink", "DuckDBSink"),
    "parquet": ("sinks.parquet_sink", "ParquetSink"),
    "postgres": ("sinks.postgres_sink", "PostgresSink"),
}


def open_sink(config: SinkConfig, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Sink:
    """The sink `config` names. `lock_timeout_s` bounds the wait for DuckDB's single-writer file lock."""
    if config.kind not in SINKS:
        raise ValueError(f"sink.kind: unknown sink {config.kind!r} (expected {', '.join(SINKS)})")
    module, name = SINKS[config.kind]
    sink: type[Sink] = getattr(import_module(module), name)
    return sink.from_config(config, lock_timeout_s=lock_timeout_s)


__all__ = [
    "CHURN_SCORES",
    "DEFAULT_LOCK_TIMEOUT_S",
    "LATEST_SCORES_VIEW",
    "REJECTS",
    "SCORE_RUNS",
    "SINKS",
    "TABLES",
    "Sink",
    "SinkSchemaError",
    "Table",
    "conform",
    "open_sink",
]
