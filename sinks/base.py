"""What every sink does (sinks/__init__.py picks the subclass that `sink.kind` names).

A sink validates frames against docs/output-tables.md (sinks/schema.py) once, here, and leaves storage to its
subclass: replace one date of scores (or of rejects) atomically, append rows, read tables back.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import polars as pl

from sinks.schema import (
    CHURN_SCORES,
    FEATURE_DRIFT,
    REJECTS,
    REPLACED_BY,
    SCORE_PERFORMANCE,
    SCORE_RUNS,
    SinkSchemaError,
    Table,
    conform,
    conform_scores,
)

if TYPE_CHECKING:
    from configs.schema import SinkConfig

DEFAULT_LOCK_TIMEOUT_S = 30.0


class Sink(ABC):
    """Where churn_scores, latest_churn_scores, score_runs, rejects, feature_drift and score_performance live."""

    @classmethod
    @abstractmethod
    def from_config(cls, config: SinkConfig, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> Sink:
        """The sink `config` (the `sink` section) describes; `lock_timeout_s` bounds a wait for a file lock."""

    def write_scores(self, frame: pl.DataFrame, as_of: date) -> None:
        """Replace `as_of`'s rows in churn_scores with `frame`, atomically; latest_churn_scores follows."""
        self._replace_scores(conform_scores(frame, as_of), as_of)

    def append_score_run(self, row: dict[str, Any] | pl.DataFrame) -> None:
        """Record one scoring run; a dict's `drift_summary` may be a dict/list (stored as JSON text)."""
        if isinstance(row, dict):
            row = {k: json.dumps(v) if k == "drift_summary" and isinstance(v, (dict, list)) else v for k, v in row.items()}
            row = pl.DataFrame([row])
        self._append(SCORE_RUNS, conform(row, SCORE_RUNS))

    def replace_score_run(self, row: dict[str, Any]) -> None:
        """Record one scoring run in place of every earlier run of its as-of date, atomically: a backfill
        run again leaves one score_runs row per date (a nightly's rerun appends: append_score_run)."""
        row = {k: json.dumps(v) if k == "drift_summary" and isinstance(v, (dict, list)) else v for k, v in row.items()}
        rows = conform(pl.DataFrame([row]), SCORE_RUNS)
        self._replace_keyed(SCORE_RUNS, rows, rows.select("as_of"))

    def replace_rejects(self, frame: pl.DataFrame, as_of: date, tables: Sequence[str]) -> None:
        """Quarantine input rows (their `row` already JSON text with PII removed) under `as_of`, replacing
        that date's earlier rejects of each of `tables` atomically, like a date of scores: ingesting a
        date again leaves one copy, and a table with no rejects now has none left for the date."""
        rejects = conform(frame.with_columns(as_of=pl.lit(as_of, pl.Date)), REJECTS)
        stray = sorted(set(rejects["table_name"]) - set(tables))
        if stray:
            raise SinkSchemaError(f"rejects.table_name: rows for {stray}, not among the tables replaced {sorted(tables)}")
        self._replace_rejects(rejects, as_of, sorted(set(tables)))

    def replace_monitoring(self, table: Table, frame: pl.DataFrame, keys: pl.DataFrame | None = None) -> None:
        """Replace the rows of feature_drift or score_performance whose key (as_of; as_of and kind) is in
        ``keys`` (default: the keys ``frame`` holds) with ``frame``, atomically per date like scores:
        monitoring a date again leaves one copy of its rows, never a duplicate."""
        if table.name not in REPLACED_BY:
            raise SinkSchemaError(f"{table.name}: replace_monitoring writes only {sorted(REPLACED_BY)}")
        columns = list(REPLACED_BY[table.name])
        rows = conform(frame, table)
        keys = (rows if keys is None else keys).select(columns).unique().sort(columns)
        stray = rows.join(keys, on=columns, how="anti")
        if stray.height:
            raise SinkSchemaError(f"{table.name}: {stray.height} row(s) outside the keys replaced, e.g. {stray.select(columns).row(0)}")
        self._replace_keyed(table, rows, keys)

    def set_drift_summary(self, as_of: date, summary: dict[str, Any]) -> bool:
        """Fill drift_summary (JSON) of the newest score_runs row of ``as_of``; False when there is none."""
        return self._set_drift_summary(as_of, json.dumps(summary))

    def read_feature_drift(self) -> pl.DataFrame:
        return conform(self._read_all(FEATURE_DRIFT), FEATURE_DRIFT)

    def read_score_performance(self) -> pl.DataFrame:
        return conform(self._read_all(SCORE_PERFORMANCE), SCORE_PERFORMANCE)

    def read_scores(self, as_of: date | None = None) -> pl.DataFrame:
        """One date's churn_scores (None: the newest date, i.e. latest_churn_scores)."""
        return conform(self._read_scores(as_of), CHURN_SCORES)

    def read_score_runs(self) -> pl.DataFrame:
        return conform(self._read_all(SCORE_RUNS), SCORE_RUNS)

    def read_rejects(self) -> pl.DataFrame:
        return conform(self._read_all(REJECTS), REJECTS)

    def before_publish(self, as_of: date) -> None:
        """Called inside write_scores once the old rows are deleted (databases) or the new date is staged
        (Parquet), before anything becomes visible. A no-op: the seam where tests inject a failure."""

    @abstractmethod
    def _replace_scores(self, scores: pl.DataFrame, as_of: date) -> None: ...

    @abstractmethod
    def _replace_rejects(self, rejects: pl.DataFrame, as_of: date, tables: list[str]) -> None: ...

    @abstractmethod
    def _replace_keyed(self, table: Table, rows: pl.DataFrame, keys: pl.DataFrame) -> None: ...

    @abstractmethod
    def _set_drift_summary(self, as_of: date, summary: str) -> bool: ...

    @abstractmethod
    def _append(self, table: Table, frame: pl.DataFrame) -> None: ...

    @abstractmethod
    def _read_scores(self, as_of: date | None) -> pl.DataFrame: ...

    @abstractmethod
    def _read_all(self, table: Table) -> pl.DataFrame: ...
