"""The output tables (documented in docs/output-tables.md): column names, polars types and which columns may be null.

Every sink writes and reads frames through :func:`conform`, so a frame that reaches storage always has
exactly these columns, in this order, with these types; anything else is a :class:`SinkSchemaError`
that names the table and the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

UTC_TIMESTAMP = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({column.name: column.dtype for column in self.columns})

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


def _columns(spec: str, dtype: pl.DataType, nullable: bool = False) -> list[Column]:
    return [Column(name, dtype, nullable) for name in spec.split()]


CHURN_SCORES = Table(
    "churn_scores",
    (
        Column("as_of", pl.Date()),
        Column("customer_id", pl.String()),
        Column("churn_probability", pl.Float64()),
        Column("risk_rank", pl.Int64()),
        Column("risk_percentile", pl.Float64()),
        Column("risk_tier", pl.String()),
        Column("dissatisfaction_probability", pl.Float64(), nullable=True),
        Column("survey_status", pl.String()),
        Column("last_survey_score", pl.Float64(), nullable=True),
        Column("silent_dissatisfied", pl.Boolean()),
        Column("silent_rank", pl.Int64(), nullable=True),
        *_columns("reason_1 reason_2 reason_3 reason_source", pl.String(), nullable=True),
        Column("reasons", pl.String(), nullable=True),  # JSON text
        Column("value_at_risk", pl.Float64(), nullable=True),
        *_columns("model_name model_version mlflow_run_id flow_run_id", pl.String()),
        Column("scored_at", UTC_TIMESTAMP),
    ),
)

SCORE_RUNS = Table(
    "score_runs",
    (
        Column("as_of", pl.Date()),
        *_columns("flow_run_id model_name model_version", pl.String()),
        *_columns("customers_scored high_risk silent_dissatisfied", pl.Int64()),
        # Null when the source has no surveys (no satisfaction model, nothing to average).
        *_columns("survey_response_rate respondent_score estimated_population_score", pl.Float64(), nullable=True),
        Column("rejects", pl.Int64()),
        Column("drift_summary", pl.String(), nullable=True),  # JSON text, null until monitoring computes it
        *_columns("started_at finished_at", UTC_TIMESTAMP),
    ),
)

REJECTS = Table(
    "rejects",
    (
        # the run's as-of: a date's rejects are replaced per table when it is ingested again;
        # null only for rows recorded before rejects carried it
        Column("as_of", pl.Date(), nullable=True),
        *_columns("table_name reason", pl.String()),
        Column("row", pl.String()),  # JSON text, PII removed before it gets here
        Column("flow_run_id", pl.String()),
        Column("ingested_at", UTC_TIMESTAMP),
    ),
)

FEATURE_DRIFT = Table(
    "feature_drift",
    (
        Column("as_of", pl.Date()),
        *_columns("model_version feature metric", pl.String()),
        Column("value", pl.Float64()),
        Column("importance_rank", pl.Int64(), nullable=True),  # null for the score pseudo-features
        Column("status", pl.String()),
    ),
)

SCORE_PERFORMANCE = Table(
    "score_performance",
    (
        Column("as_of", pl.Date()),
        *_columns("model_version kind metric", pl.String()),
        Column("value", pl.Float64(), nullable=True),  # null where undefined (ROC-AUC when nobody churned)
        Column("n", pl.Int64()),
    ),
)

# The monitor's tables are replaced per these keys: one date's drift; one date's estimated or realised rows.
REPLACED_BY = {FEATURE_DRIFT.name: ("as_of",), SCORE_PERFORMANCE.name: ("as_of", "kind")}

TABLES: dict[str, Table] = {table.name: table for table in (CHURN_SCORES, SCORE_RUNS, REJECTS, FEATURE_DRIFT, SCORE_PERFORMANCE)}
LATEST_SCORES_VIEW = "latest_churn_scores"


class SinkSchemaError(ValueError):
    """A frame handed to a sink does not match its output table (docs/output-tables.md)."""


def _cast_for(column: Column, found: pl.DataType, table: str) -> pl.Expr:
    """The expression that brings `found` to the column's type, or an error when that would lose meaning."""
    target, expr = column.dtype, pl.col(column.name)
    if found == target:
        return expr
    lossless = (
        found == pl.Null
        or (target == pl.Int64 and found.is_integer())
        or (target == pl.Float64 and (found.is_float() or found.is_integer()))
        or (target == pl.String and isinstance(found, (pl.Categorical, pl.Enum)))
    )
    if lossless:
        return expr.cast(target, strict=True)
    if target == UTC_TIMESTAMP and isinstance(found, pl.Datetime):
        if found.time_zone is None:
            raise SinkSchemaError(
                f"{table}.{column.name}: expected a UTC timestamp (Datetime with a time zone), found naive {found}; "
                "attach the zone, e.g. .dt.replace_time_zone('UTC')"
            )
        return expr.dt.convert_time_zone("UTC").cast(target)
    raise SinkSchemaError(f"{table}.{column.name}: expected {target}, found {found}")


def conform(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """`frame` with exactly `table`'s columns, order and types; missing nullable columns become null.

    Raises SinkSchemaError naming the table and column for an unknown or missing column, a type that
    cannot be cast without losing meaning, or a null in a column that must not hold one.
    """
    unknown = [name for name in frame.columns if name not in table.names]
    if unknown:
        raise SinkSchemaError(f"{table.name}: unknown column(s) {unknown}; expected columns are {table.names}")
    missing = [c.name for c in table.columns if c.name not in frame.columns and not c.nullable]
    if missing:
        raise SinkSchemaError(f"{table.name}: missing required column(s) {missing}")
    exprs = [
        _cast_for(c, frame.schema[c.name], table.name) if c.name in frame.columns else pl.lit(None, c.dtype).alias(c.name)
        for c in table.columns
    ]
    result = frame.select(exprs)
    required = [c.name for c in table.columns if not c.nullable]
    null_counts = result.select(pl.col(required).null_count()).row(0, named=True)
    with_nulls = {name: count for name, count in null_counts.items() if count}
    if with_nulls:
        name, count = next(iter(with_nulls.items()))
        raise SinkSchemaError(f"{table.name}.{name}: {count} null value(s) in a column that must not be null (all: {with_nulls})")
    return result


def conform_scores(frame: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """`frame` conformed to churn_scores, checked to be one date's rows with one row per customer."""
    scores = conform(frame, CHURN_SCORES)
    other_dates = scores.filter(pl.col("as_of") != as_of)["as_of"].unique().sort()
    if len(other_dates):
        raise SinkSchemaError(
            f"churn_scores.as_of: write_scores(as_of={as_of}) got rows for other dates {other_dates.to_list()[:5]}"
        )
    duplicated = scores.filter(pl.col("customer_id").is_duplicated())["customer_id"].unique().sort()
    if len(duplicated):
        raise SinkSchemaError(
            f"churn_scores.customer_id: {len(duplicated)} customer(s) appear more than once for {as_of}, "
            f"e.g. {duplicated.to_list()[:5]}"
        )
    return scores
