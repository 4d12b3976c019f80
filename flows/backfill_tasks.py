"""Prefect tasks of the `backfill` flow (docs/monitoring.md#backfill): score and monitor a range of past
dates with the champion, so a new installation has a drift and performance history at once.

One input snapshot serves every date: features as of T read only rows before T (docs/dates-and-training.md),
so re-ingesting the source per date would buy nothing but time. What depends on the snapshot rather than
on T is made per date here: each date's data health counts the rows before T (freshness and volume), and
realised performance of a date is judged only with outcomes observed by the later date that judges it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from prefect import get_run_logger

from configs import Config
from features.contract import TABLES
from features.health import data_health, freshness_column
from features.sufficiency import DataCoverageError, require_coverage
from features.timeline import as_of_instant
from flows import monitor_tasks, tasks, workspace
from flows.results import TableCounts
from flows.score_tasks import score, score_run, write_scores
from flows.tasks import IO_RETRIES, IO_RETRY_DELAY_S, PipelineError, uncached_task
from models.bundle import ModelBundle
from sinks.schema import SCORE_PERFORMANCE


@dataclass(frozen=True)
class BackfilledDate:
    as_of: date
    customers_scored: int
    drift_status: str  # ok / warn / fail / unknown (the version stores no drift reference)
    data_health: str  # ok / warn
    realised_dates: list[date]  # earlier dates whose realised performance this date's monitor wrote


@dataclass(frozen=True)
class BackfillResult:
    model_version: str
    snapshot: str  # the one input snapshot every date was built from
    dates: list[BackfilledDate] = field(default_factory=list)
    in_sample_until: date | None = None  # the champion's out-of-time test date: dates up to it were seen in training

    def with_drift(self, *statuses: str) -> list[date]:
        return [d.as_of for d in self.dates if d.drift_status in statuses]


def backfill_dates(start: date, end: date, every_days: int) -> list[date]:
    """``start``, ``start + every``, ... up to ``end`` (included when it falls on the step)."""
    if every_days < 1:
        raise PipelineError(f"backfill --every must be at least 1 day, got {every_days}")
    if end < start:
        raise PipelineError(f"backfill --from {start} is after --to {end}: give the earlier date first")
    return [start + timedelta(days=k) for k in range(0, (end - start).days + 1, every_days)]


def _require_range(bounds, dates: list[date], config: Config) -> None:
    """Coverage is monotone in the date (after the first event, within the staleness of the newest),
    so the range is covered when its first and last dates are; the message names the option to change."""
    for as_of, option in ((dates[0], "--from"), (dates[-1], "--to")):
        try:
            require_coverage(bounds, as_of, config)
        except DataCoverageError as exc:
            raise DataCoverageError(
                f"cannot backfill {dates[0]} to {dates[-1]}; nothing was written: {str(exc).replace('--as-of', option)}"
            ) from None


@uncached_task(name="check-backfill-range", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def check_range(config: Config, dates: list[date], snapshot: str | None = None) -> None:
    """Refuse a range the events do not cover (DataCoverageError): against the source before anything
    is read or written, against the snapshot once it is chosen (it may be older than the source)."""
    if snapshot is None:
        bounds = tasks.time_bounds(config.source, "events", "ts")
    else:
        bounds = workspace.read_snapshot(Path(snapshot))["events"].select(pl.col("ts").min(), pl.col("ts").max().alias("last")).collect().row(0)
    _require_range(bounds, dates, config)


def rows_before(tables: dict[str, pl.LazyFrame], dates: list[date], timezone: str) -> dict[date, dict[str, int]]:
    """Per date, each contract table's rows whose freshness time lies before the as-of instant: one scan
    per table for all dates (the volume a snapshot taken on that date would have held)."""
    cuts = {d: as_of_instant(d, timezone) for d in dates}
    counts: dict[date, dict[str, int]] = {d: {} for d in dates}
    for table in (t for t in TABLES if t in tables):  # over the contract's tables, a handful
        column = pl.col(freshness_column(table))
        row = tables[table].select([(column < cut).sum().alias(d.isoformat()) for d, cut in cuts.items()]).collect().row(0, named=True)
        for d in dates:
            counts[d][table] = int(row[d.isoformat()])
    return counts


def dated_manifests(manifest: dict, volumes: dict[date, dict[str, int]]) -> dict[date, dict]:
    """The snapshot's manifest as each date would have seen it: accepted rows = the rows before the date;
    read and rejected stay the one ingest's (a reject has no trustworthy time to date it by)."""
    return {
        d: {"as_of": d.isoformat(), "tables": {t: {**m, "accepted": counts.get(t, m["accepted"])} for t, m in manifest["tables"].items()}}
        for d, counts in volumes.items()
    }


@uncached_task(name="backfill-volumes")
def date_manifests(config: Config, tables: dict[str, pl.LazyFrame], snapshot: str, dates: list[date]) -> dict[date, dict]:
    return dated_manifests(workspace.read_manifest(Path(snapshot)), rows_before(tables, dates, config.schedule.timezone))


@uncached_task(name="in-sample-until", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def in_sample_until(config: Config, lineage: dict) -> date | None:
    """The champion's out-of-time test date (MLflow param split_test_date): dates up to it were in its training data."""
    from models.registry import client_for

    value = client_for(config).get_run(lineage["mlflow_run_id"]).data.params.get("split_test_date")
    return date.fromisoformat(value) if value else None


@uncached_task(name="record-backfilled-run", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def record_backfilled_run(config: Config, row: dict) -> None:
    """The date's score_runs row in place of its earlier ones, and its realised rows cleared: they judged
    scores that were just replaced, and a later date's monitor (or the next nightly) judges these."""
    from sinks import open_sink

    sink = open_sink(config.sink)
    sink.replace_score_run(row)
    sink.replace_monitoring(SCORE_PERFORMANCE, SCORE_PERFORMANCE.empty(), keys=pl.DataFrame({"as_of": [row["as_of"]], "kind": ["realised"]}))


@uncached_task(name="date-health")
def date_health(config: Config, tables: dict[str, pl.LazyFrame], manifests: dict[date, dict], as_of: date) -> dict:
    """Data health of one date against the earlier dates of the backfill (monitoring's trailing runs)."""
    earlier = [manifests[d] for d in sorted(manifests) if d < as_of]
    return data_health(tables, manifests[as_of], earlier, as_of, config)


def score_and_monitor(
    config: Config, config_path: str, tables: dict[str, pl.LazyFrame], bundle: ModelBundle, lineage: dict, manifests: dict[date, dict],
    as_of: date, flow_run_id: str,
) -> BackfilledDate:
    """One date: the score flow's steps, then the monitor flow's, without its alarm (a backfill records
    history; a drift fail in the past is a finding, not a reason to stop)."""
    started = datetime.now(UTC)
    manifest = manifests[as_of]
    features = tasks.scoring_features(config, tables, as_of, bundle)
    counts = {name: TableCounts(t["read"], t["accepted"], t["rejected"]) for name, t in manifest["tables"].items()}
    scored, surveys, _ = score(config, features, bundle, as_of, counts, tables.get("customers"))
    write_scores(config, scored, as_of, lineage, flow_run_id)
    record_backfilled_run(config, score_run(as_of, flow_run_id, lineage, scored, surveys, counts, started).row())
    scores = monitor_tasks.read_scored_date(config, as_of, config_path)
    health = date_health(config, tables, manifests, as_of)
    verdict, realised, _, _ = monitor_tasks.assess_date(config, as_of, tables, features, scores, bundle, health)
    done = BackfilledDate(as_of, scored.height, verdict["status"], health["status"], sorted(realised["as_of"].unique().to_list()))
    get_run_logger().info("backfill %s: %s scored, drift %s, data health %s, %s date(s) realised", as_of, f"{done.customers_scored:,}",
                          done.drift_status, done.data_health, len(done.realised_dates))
    return done
