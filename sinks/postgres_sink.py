"""Output tables in PostgreSQL (in `sink.schema`), written as Arrow through ADBC's COPY path.

Every write is one transaction: replacing a date (of scores, or of rejects) is DELETE + COPY, committed once, so readers see the
old rows until the commit and the new ones after it. Writers of one schema take a transaction-level
advisory lock, so two runs never interleave (readers are never blocked).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING

import adbc_driver_postgresql.dbapi as pg
import polars as pl

from sinks.base import DEFAULT_LOCK_TIMEOUT_S, Sink
from sinks.schema import CHURN_SCORES, FEATURE_DRIFT, LATEST_SCORES_VIEW, REJECTS, SCORE_PERFORMANCE, SCORE_RUNS, UTC_TIMESTAMP, Table

if TYPE_CHECKING:
    from configs.schema import SinkConfig

_SQL_TYPES = {pl.Date: "date", pl.String: "text", pl.Float64: "double precision", pl.Int64: "bigint", pl.Boolean: "boolean"}
_UNDEFINED_TABLE, _INVALID_SCHEMA_NAME = "42P01", "3F000"
_PRIMARY_KEYS = {CHURN_SCORES.name: ("as_of", "customer_id")}
_TABLES = (CHURN_SCORES, SCORE_RUNS, REJECTS, FEATURE_DRIFT, SCORE_PERFORMANCE)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _sql_type(dtype: pl.DataType) -> str:
    return "timestamptz" if dtype == UTC_TIMESTAMP else _SQL_TYPES[type(dtype)]


class PostgresSink(Sink):
    @classmethod
    def from_config(cls, config: SinkConfig, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> PostgresSink:
        return cls(config.dsn(), db_schema=config.schema_)

    def __init__(self, dsn: str, *, db_schema: str = "quietchurn") -> None:
        self.dsn = dsn
        self.db_schema = db_schema

    def _name(self, relation: str) -> str:
        return f"{_quote(self.db_schema)}.{_quote(relation)}"

    def _create_table_sql(self, table: Table) -> str:
        columns = [f"{_quote(c.name)} {_sql_type(c.dtype)}{'' if c.nullable else ' NOT NULL'}" for c in table.columns]
        if table.name in _PRIMARY_KEYS:
            columns.append(f"PRIMARY KEY ({', '.join(map(_quote, _PRIMARY_KEYS[table.name]))})")
        return f"CREATE TABLE {self._name(table.name)} ({', '.join(columns)})"

    @contextmanager
    def _connect(self) -> Iterator[pg.Connection]:
        connection = pg.connect(self.dsn)
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _writing(self) -> Iterator[pg.Cursor]:
        """A cursor inside one transaction that holds this schema's writer lock and has created what is missing."""
        with self._connect() as connection, connection.cursor() as cursor:
            try:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext($1))", (f"quietchurn sink {self.db_schema}",))
                cursor.fetchall()
                self._create_missing(cursor)
                yield cursor
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def _create_missing(self, cursor: pg.Cursor) -> None:
        """Create the schema, tables and view that do not exist yet (existing ones need no privilege)."""
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = $1", (self.db_schema,))
        if not cursor.fetchone()[0]:
            cursor.execute(f"CREATE SCHEMA {_quote(self.db_schema)}")
        relations = [*(table.name for table in _TABLES), LATEST_SCORES_VIEW]
        cursor.execute(
            f"SELECT {', '.join(f'to_regclass(${i})::text' for i in range(1, len(relations) + 1))}",
            tuple(self._name(relation) for relation in relations),
        )
        existing = dict(zip(relations, cursor.fetchone(), strict=True))
        for table in _TABLES:
            if existing[table.name] is None:
                cursor.execute(self._create_table_sql(table))
        if existing[REJECTS.name] is not None:  # created before rejects carried the run's as-of
            cursor.execute(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = 'as_of'",
                (self.db_schema, REJECTS.name),
            )
            if not cursor.fetchone()[0]:
                cursor.execute(f"ALTER TABLE {self._name(REJECTS.name)} ADD COLUMN as_of date")
        if existing[LATEST_SCORES_VIEW] is None:
            scores = self._name(CHURN_SCORES.name)
            cursor.execute(
                f"CREATE VIEW {self._name(LATEST_SCORES_VIEW)} AS SELECT * FROM {scores} "
                f"WHERE as_of = (SELECT max(as_of) FROM {scores})"
            )

    def _replace_scores(self, scores: pl.DataFrame, as_of: date) -> None:
        with self._writing() as cursor:
            cursor.execute(f"DELETE FROM {self._name(CHURN_SCORES.name)} WHERE as_of = $1", (as_of,))
            self.before_publish(as_of)
            self._ingest(cursor, CHURN_SCORES, scores)

    def _replace_rejects(self, rejects: pl.DataFrame, as_of: date, tables: list[str]) -> None:
        with self._writing() as cursor:
            for name in tables:
                cursor.execute(f"DELETE FROM {self._name(REJECTS.name)} WHERE as_of = $1 AND table_name = $2", (as_of, name))
            self._ingest(cursor, REJECTS, rejects)

    def _replace_keyed(self, table: Table, rows: pl.DataFrame, keys: pl.DataFrame) -> None:
        where = " AND ".join(f"{_quote(c)} = ${i}" for i, c in enumerate(keys.columns, start=1))
        with self._writing() as cursor:
            for key in keys.iter_rows():  # one per date (and kind): a handful
                cursor.execute(f"DELETE FROM {self._name(table.name)} WHERE {where}", key)
            self._ingest(cursor, table, rows)

    def _set_drift_summary(self, as_of: date, summary: str) -> bool:
        runs = self._name(SCORE_RUNS.name)
        with self._writing() as cursor:
            cursor.execute(
                f"UPDATE {runs} SET drift_summary = $1 WHERE as_of = $2 AND finished_at = (SELECT max(finished_at) FROM {runs} WHERE as_of = $2) "
                "RETURNING 1",
                (summary, as_of),
            )
            return bool(cursor.fetchall())

    def _append(self, table: Table, frame: pl.DataFrame) -> None:
        with self._writing() as cursor:
            self._ingest(cursor, table, frame)

    def _ingest(self, cursor: pg.Cursor, table: Table, frame: pl.DataFrame) -> None:
        if frame.height:
            cursor.adbc_ingest(table.name, frame.to_arrow(), mode="append", db_schema_name=self.db_schema)

    def _read_scores(self, as_of: date | None) -> pl.DataFrame:
        if as_of is None:
            return self._select(CHURN_SCORES, f"SELECT * FROM {self._name(LATEST_SCORES_VIEW)}")
        return self._select(CHURN_SCORES, f"SELECT * FROM {self._name(CHURN_SCORES.name)} WHERE as_of = $1", (as_of,))

    def _read_all(self, table: Table) -> pl.DataFrame:
        return self._select(table, f"SELECT * FROM {self._name(table.name)}")

    def _select(self, table: Table, query: str, parameters: tuple = ()) -> pl.DataFrame:
        """Rows of a query; an empty table when nothing has been written yet."""
        with self._connect() as connection, connection.cursor() as cursor:
            try:
                cursor.execute(query, parameters or None)
                result = cursor.fetch_arrow_table()
            except pg.ProgrammingError as error:
                if getattr(error, "sqlstate", None) in (_UNDEFINED_TABLE, _INVALID_SCHEMA_NAME):
                    return table.empty()
                raise
            finally:
                connection.rollback()
        return pl.from_arrow(result)
