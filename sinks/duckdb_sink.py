"""Output tables in a DuckDB file (tables in its main schema).

Each call opens the file, does its work in one transaction and closes it, so the file lock is held
only while writing or reading. DuckDB allows one process at a time to open a file for writing (an
open reader blocks writers too): a write waits a bounded time for the lock, then says who to blame.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from sinks.base import DEFAULT_LOCK_TIMEOUT_S, Sink
from sinks.schema import CHURN_SCORES, FEATURE_DRIFT, LATEST_SCORES_VIEW, REJECTS, SCORE_PERFORMANCE, SCORE_RUNS, UTC_TIMESTAMP, Table

if TYPE_CHECKING:
    from configs.schema import SinkConfig

_SQL_TYPES = {pl.Date: "DATE", pl.String: "VARCHAR", pl.Float64: "DOUBLE", pl.Int64: "BIGINT", pl.Boolean: "BOOLEAN"}
_FIRST_RETRY_S, _LONGEST_RETRY_S = 0.05, 2.0


class DuckDBLockedError(RuntimeError):
    """Another process held the DuckDB file for longer than the sink was willing to wait."""

    retryable = False  # the wait was the retry: a task retry would only wait as long again


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sql_type(dtype: pl.DataType) -> str:
    return "TIMESTAMPTZ" if dtype == UTC_TIMESTAMP else _SQL_TYPES[type(dtype)]


def _create_table_sql(table: Table) -> str:
    columns = ", ".join(
        f"{_quote(c.name)} {_sql_type(c.dtype)}{'' if c.nullable else ' NOT NULL'}" for c in table.columns
    )
    return f"CREATE TABLE IF NOT EXISTS {_quote(table.name)} ({columns})"


def _is_lock_conflict(error: duckdb.Error) -> bool:
    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


class DuckDBSink(Sink):
    @classmethod
    def from_config(cls, config: SinkConfig, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> DuckDBSink:
        return cls(config.path, lock_timeout_s=lock_timeout_s)

    def __init__(self, path: Path | str, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    @contextmanager
    def _connect(self, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the file, waiting (exponential backoff, bounded) while another process holds it."""
        started = time.monotonic()
        deadline = started + self.lock_timeout_s
        pause = _FIRST_RETRY_S
        while True:
            try:
                connection = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.Error as error:
                remaining = deadline - time.monotonic()
                if not _is_lock_conflict(error):
                    raise
                if remaining <= 0:
                    said = str(error).strip().splitlines()[0]
                    raise DuckDBLockedError(
                        f"could not open {self.path} for {'reading' if read_only else 'writing'}: another process holds a lock on "
                        f"the DuckDB file and held it for all of the {time.monotonic() - started:.0f} s waited. "
                        "A process with the file open, even read-only, blocks writers; read the scores between runs, from a "
                        f"copy of the file, or from a Parquet/PostgreSQL sink (docs/operations.md). DuckDB said: {said}"
                    ) from error
                time.sleep(min(pause, remaining))
                pause = min(pause * 2, _LONGEST_RETRY_S)
        try:
            # Timestamps come back in UTC whatever the machine's zone.
            connection.execute("SET TimeZone = 'UTC'")
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write connection inside one transaction that creates the tables if missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect(read_only=False) as connection:
            connection.execute("BEGIN TRANSACTION")
            try:
                for table in (CHURN_SCORES, SCORE_RUNS, REJECTS, FEATURE_DRIFT, SCORE_PERFORMANCE):
                    connection.execute(_create_table_sql(table))
                # files written before rejects carried the run's as-of
                connection.execute(f"ALTER TABLE {_quote(REJECTS.name)} ADD COLUMN IF NOT EXISTS as_of DATE")
                connection.execute(
                    f"CREATE VIEW IF NOT EXISTS {_quote(LATEST_SCORES_VIEW)} AS SELECT * FROM {_quote(CHURN_SCORES.name)} "
                    f"WHERE as_of = (SELECT max(as_of) FROM {_quote(CHURN_SCORES.name)})"
                )
                yield connection
            except BaseException:
                with suppress(duckdb.Error):  # a failed connection has rolled back already; keep the first error
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _replace_scores(self, scores: pl.DataFrame, as_of: date) -> None:
        with self._writing() as connection:
            connection.execute(f"DELETE FROM {_quote(CHURN_SCORES.name)} WHERE as_of = ?", [as_of])
            self.before_publish(as_of)
            _insert(connection, CHURN_SCORES, scores)

    def _replace_rejects(self, rejects: pl.DataFrame, as_of: date, tables: list[str]) -> None:
        with self._writing() as connection:
            connection.execute(f"DELETE FROM {_quote(REJECTS.name)} WHERE as_of = ? AND list_contains(?, table_name)", [as_of, tables])
            _insert(connection, REJECTS, rejects)

    def _replace_keyed(self, table: Table, rows: pl.DataFrame, keys: pl.DataFrame) -> None:
        where = " AND ".join(f"{_quote(c)} = ?" for c in keys.columns)
        with self._writing() as connection:
            for key in keys.iter_rows():  # one per date (and kind): a handful
                connection.execute(f"DELETE FROM {_quote(table.name)} WHERE {where}", list(key))
            _insert(connection, table, rows)

    def _set_drift_summary(self, as_of: date, summary: str) -> bool:
        runs = _quote(SCORE_RUNS.name)
        with self._writing() as connection:
            updated = connection.execute(
                f"UPDATE {runs} SET drift_summary = ? WHERE as_of = ? AND finished_at = (SELECT max(finished_at) FROM {runs} WHERE as_of = ?)",
                [summary, as_of, as_of],
            ).fetchone()
        return bool(updated and updated[0])

    def _append(self, table: Table, frame: pl.DataFrame) -> None:
        with self._writing() as connection:
            _insert(connection, table, frame)

    def _read_scores(self, as_of: date | None) -> pl.DataFrame:
        if as_of is None:
            return self._select(CHURN_SCORES, f"SELECT * FROM {_quote(LATEST_SCORES_VIEW)}")
        return self._select(CHURN_SCORES, f"SELECT * FROM {_quote(CHURN_SCORES.name)} WHERE as_of = ?", [as_of])

    def _read_all(self, table: Table) -> pl.DataFrame:
        return self._select(table, f"SELECT * FROM {_quote(table.name)}")

    def _select(self, table: Table, query: str, parameters: list | None = None) -> pl.DataFrame:
        """Rows of a read-only query; an empty table when nothing has been written yet."""
        if not self.path.exists():
            return table.empty()
        with self._connect(read_only=True) as connection:
            try:
                result = connection.sql(query, params=parameters or None).to_arrow_table()
            except duckdb.CatalogException:
                return table.empty()
        return pl.from_arrow(result)


def _insert(connection: duckdb.DuckDBPyConnection, table: Table, frame: pl.DataFrame) -> None:
    connection.register("incoming", frame.to_arrow())
    try:
        connection.execute(f"INSERT INTO {_quote(table.name)} BY NAME SELECT * FROM incoming")
    finally:
        connection.unregister("incoming")
