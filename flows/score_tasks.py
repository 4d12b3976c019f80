"""Prefect tasks of the `score` flow: score, write to the sink, record the run, publish a summary."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from configs import Config
from flows import workspace
from flows.results import ScoreRun, TableCounts, TrainResult
from flows.summary import scoring_markdown
from flows.tasks import IO_RETRIES, IO_RETRY_DELAY_S, PipelineError, uncached_task
from models.bundle import ModelBundle
from models.scoring import input_warnings, score_customers, survey_summary


@uncached_task(name="read-table-counts")
def read_table_counts(snapshot: str) -> dict[str, TableCounts]:
    """Rows read, accepted and rejected per table, from the snapshot's manifest."""
    tables = workspace.read_manifest(Path(snapshot))["tables"]
    return {name: TableCounts(t["read"], t["accepted"], t["rejected"]) for name, t in tables.items()}


def no_one_eligible(as_of: date) -> str:
    return (
        f"no customer is eligible at as-of {as_of}, so nothing was scored or written: eligible means signed up before it "
        "and, by churn.definition, holding a subscription then ('subscription_end') or active within "
        "churn.active_within_days before it ('inactivity'); check the customers, subscriptions and events tables "
        "(docs/dates-and-training.md)"
    )


@uncached_task(name="score-customers")
def score(config: Config, features: pl.DataFrame, bundle: ModelBundle, as_of: date, counts: dict[str, TableCounts], customers: pl.LazyFrame | None) -> tuple[pl.DataFrame, dict, list[str]]:
    """Pure: the churn_scores rows, the survey summary and any input warnings (``counts``: rows per table).

    No one to score is an error, not an empty success: it means the data does not describe this date."""
    if features.height == 0:
        raise PipelineError(no_one_eligible(as_of))
    warnings = input_warnings(bundle, {name: c.accepted for name, c in counts.items()}, customers)
    for warning in warnings:
        get_run_logger().warning(warning)
    scored = score_customers(features, bundle, config, as_of)
    return scored, survey_summary(features, scored, bundle), warnings


@uncached_task(name="write-scores", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def write_scores(config: Config, scored: pl.DataFrame, as_of: date, lineage: dict, flow_run_id: str) -> int:
    """Replace the as-of date's rows in churn_scores in one transaction (or atomic swap)."""
    from sinks import open_sink

    rows = scored.with_columns(
        **{k: pl.lit(v, pl.String) for k, v in lineage.items()},
        flow_run_id=pl.lit(flow_run_id, pl.String),
        scored_at=pl.lit(datetime.now(UTC), pl.Datetime("us", "UTC")),
    )
    open_sink(config.sink).write_scores(rows, as_of)
    return rows.height


@uncached_task(name="score-run")
def score_run(
    as_of: date, flow_run_id: str, lineage: dict, scored: pl.DataFrame, surveys: dict, counts: dict[str, TableCounts], started: datetime
) -> ScoreRun:
    """Pure: the run's score_runs row (docs/output-tables.md); drift_summary stays null until the monitor fills it."""
    return ScoreRun(
        as_of=as_of,
        flow_run_id=flow_run_id,
        model_name=lineage["model_name"],
        model_version=lineage["model_version"],
        customers_scored=scored.height,
        high_risk=int((scored["risk_tier"] == "high").sum()),
        silent_dissatisfied=int(scored["silent_dissatisfied"].sum()),
        survey_response_rate=surveys["survey_response_rate"],
        respondent_score=surveys["respondent_score"],
        estimated_population_score=surveys["estimated_population_score"],
        rejects=sum(c.rejected for c in counts.values()),
        started_at=started,
        finished_at=datetime.now(UTC),
    )


@uncached_task(name="record-score-run", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def record_score_run(config: Config, run: ScoreRun) -> None:
    from sinks import open_sink

    open_sink(config.sink).append_score_run(run.row())


@uncached_task(name="publish-summary", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def publish_summary(run: ScoreRun, scored: pl.DataFrame, tables: dict[str, TableCounts], training: TrainResult | None, warnings: list[str]) -> str:
    """A markdown artifact on the Prefect run: what was read, the model, tiers, silent customers."""
    markdown = scoring_markdown(run, scored, tables, training, warnings)
    create_markdown_artifact(markdown=markdown, key=f"quietchurn-score-{run.as_of.isoformat()}", description="quietchurn run summary")
    return markdown
