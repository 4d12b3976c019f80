"""Prefect tasks: small steps the flows sequence.

Tasks that touch the outside world (sources, sinks, MLflow) retry; pure ones don't. None cache:
they take configs and frames, whose hashing costs time and means nothing here (~0.23 s per 2M-row frame per call).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from configs import Config, load_config
from features.contract import ContractError
from features.ingest import Ingested, RejectLimitError
from features.invitations import build_invitation_frame
from features.relationship import skipped_notes
from features.snapshots import build_scoring_frame, build_training_frame, data_starts, training_schema
from features.sufficiency import CannotTrain, DataCoverageError, require_coverage, require_history
from features.timeline import snapshot_dates
from flows import workspace
from flows.results import TrainResult
from models.bundle import ModelBundle
from models.train import TrainingInputs, TrainingResult, train_models
from sources import time_bounds
from sources.ingest import stream_tables

IO_RETRIES = 2
IO_RETRY_DELAY_S = 5
# The local engine builds a bucketed snapshot's training frame bucket by bucket from this many ingested
# rows: below, the whole-table build is quicker (20k customers, ~2M rows: 2 s against 3 s) and small;
# above, one bucket's working memory at a time keeps the peak down (200k: 2.66 GB against 3.01 GB and
# quicker; 1M: the whole-table build peaked at 13.4 GB). docs/scale.md, "Training on one machine".
PER_BUCKET_FROM_ROWS = 10_000_000


class PipelineError(RuntimeError):
    """A run that cannot go on for a reason the user can fix (no champion, ...); the message says how."""


def _retry_unless_bad_input(task, task_run, state) -> bool:
    """Retry outages, not contract violations: bad input stays bad however often it is read."""
    try:
        state.result()
    except (ContractError, PipelineError):
        return False
    except Exception as exc:  # noqa: BLE001 - anything else may be transient (network, locks)
        return getattr(exc, "retryable", True)  # e.g. a DuckDB lock wait that has already waited its time
    return False


def uncached_task(**kwargs):
    if kwargs.get("retries"):  # every retried task retries outages only
        kwargs.setdefault("retry_condition_fn", _retry_unless_bad_input)
    return task(cache_policy=NO_CACHE, **kwargs)


@uncached_task(name="load-config")
def read_config(config_path: str) -> Config:
    return load_config(config_path)


@uncached_task(name="check-coverage", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def check_coverage(config: Config, as_of: date, snapshot: str | None = None) -> None:
    """Refuse an as-of the events do not cover (DataCoverageError), before anything big is read:
    their first and newest time come from this date's snapshot when given, else from the source.
    Events that end too long before the as-of mean their feed stopped: that alerts first (docs/monitoring.md#alerts)."""
    if snapshot is None:
        bounds = time_bounds(config.source, "events", "ts")
    else:
        bounds = workspace.read_snapshot(Path(snapshot))["events"].select(pl.col("ts").min(), pl.col("ts").max().alias("last")).collect().row(0)
    try:
        require_coverage(bounds, as_of, config)
    except DataCoverageError as exc:
        if str(exc).startswith(f"as-of {as_of} is beyond the data"):  # not "before the data": a date typed too early is no breach
            from flows import alerts

            breach = alerts.Breach("data_stale", as_of, "table events", str(exc), "the source's events table (is its export or replication still running?)")
            alerts.send(config, [breach], get_run_logger())
        raise


@dataclass
class StagedSnapshot:
    """A validated snapshot written to its staging folder, not yet in place, and what was rejected."""

    stager: workspace.SnapshotStager
    ingested: Ingested
    limit_error: str | None  # the reject-limit breach, when there is one: the flow records rejects, then fails


@uncached_task(name="stage-snapshot", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def stage_snapshot(config: Config, as_of: date) -> StagedSnapshot:
    """Read and validate every configured table batch by batch, writing accepted rows straight into a
    staging folder: memory holds one batch, not the tables."""
    stager = workspace.SnapshotStager(workspace.snapshot_dir(config, as_of), config.engine.partitions)
    try:
        return StagedSnapshot(stager, stream_tables(config, stager.append), None)
    except RejectLimitError as exc:
        stager.close()
        return StagedSnapshot(stager, exc.result, str(exc))
    except BaseException:
        stager.discard()
        raise


@uncached_task(name="commit-snapshot", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def commit_snapshot(staged: StagedSnapshot, as_of: date, flow_run_id: str) -> str:
    manifest = {
        "as_of": as_of.isoformat(),
        "flow_run_id": flow_run_id,
        "written_at": datetime.now(UTC).isoformat(),
        "tables": {
            name: {
                "read": count.read,
                "accepted": count.accepted,
                "rejected": count.rejected,
                "reasons": count.reasons,
                "fingerprint": staged.stager.fingerprint(name),
            }
            for name, count in staged.ingested.counts.items()
        },
    }
    return str(staged.stager.commit(manifest))


@uncached_task(name="record-rejects", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def record_rejects(config: Config, staged: StagedSnapshot, as_of: date, flow_run_id: str) -> int:
    """Replace the as-of date's rejects of every table read (none now clears an earlier run's)."""
    from sinks import open_sink

    rejects = staged.ingested.rejects.with_columns(flow_run_id=pl.lit(flow_run_id, pl.String))
    open_sink(config.sink).replace_rejects(rejects, as_of, list(staged.ingested.counts))
    return rejects.height


@uncached_task(name="read-snapshot")
def read_snapshot(snapshot: str) -> dict[str, pl.LazyFrame]:
    return workspace.read_snapshot(Path(snapshot))


@uncached_task(name="training-frames")
def training_frames(config: Config, tables, as_of: date, snapshot: str) -> tuple[pl.DataFrame, pl.DataFrame | None, TrainingInputs]:
    """Snapshots with labels for the churn model, invitations with features for the satisfaction model.

    The snapshots are built per customer bucket: on the cluster with engine.kind dask, else one
    bucket after another here when the snapshot is bucketed and large (PER_BUCKET_FROM_ROWS); then
    gathered (docs/scale.md). Their schema and first day of events are learnt here once, from the whole
    snapshot: a bucket's own would miss another bucket's event types or categories, and its first
    event may fall later, dropping a snapshot date the others keep."""
    starts = data_starts(tables, config)
    require_history(config, starts, as_of)
    schema = training_schema(tables, config, as_of)
    for note in skipped_notes(schema.vocabulary.skipped):  # free-text customers columns
        get_run_logger().warning(note)
    # the invitations first, from the first snapshot date: their build's transient copies then never
    # sit beside the training frame (at 1M customers that stacking was the train flow's peak)
    invitations = build_invitation_frame(tables, config, schema, snapshot_dates(as_of, config, data_starts=starts)[0], as_of)
    if config.engine.kind == "dask":
        from flows.engine import training_on_cluster

        training = training_on_cluster(config, snapshot, as_of, schema, starts)
    elif _builds_per_bucket(config, Path(snapshot)):
        from flows.engine import training_in_buckets  # one bucket's working memory at a time

        training = training_in_buckets(config, snapshot, as_of, schema, starts)
    else:
        training = build_training_frame(tables, config, as_of, schema=schema)
    if training.is_empty():
        raise CannotTrain(
            f"cannot train: no customer is eligible at any training snapshot before {as_of} (signed up before it and, by "
            "churn.definition, holding a subscription or recently active); check the customers and subscriptions tables"
        )
    get_run_logger().info(
        "training frame: %s rows over %s snapshots; %s invitations",
        f"{training.height:,}", training["as_of"].n_unique(), "no" if invitations is None else f"{invitations.height:,}",
    )
    return training, invitations, TrainingInputs.from_schema(schema, activity_event_types=config.churn.activity_event_types)


def _builds_per_bucket(config: Config, snapshot: Path) -> bool:
    """Whether the local engine builds the training frame bucket by bucket (PER_BUCKET_FROM_ROWS)."""
    if config.engine.partitions < 2 or workspace.snapshot_partitions(snapshot) != config.engine.partitions:
        return False
    tables = workspace.read_manifest(snapshot).get("tables", {})
    return sum(table.get("accepted", 0) for table in tables.values()) >= PER_BUCKET_FROM_ROWS


@uncached_task(name="fit-models")
def fit_models(config: Config, training: pl.DataFrame, invitations: pl.DataFrame | None, inputs: TrainingInputs) -> TrainingResult:
    from flows.train_engine import booster_fit

    with booster_fit(config.engine, get_run_logger()) as fit_booster:  # a Dask cluster with engine.kind dask
        return train_models(training, inputs, config, invitations, fit_booster=fit_booster)


@uncached_task(name="register-model")
def register_model(config: Config, result: TrainingResult, training: pl.DataFrame, snapshot: str, as_of: date) -> TrainResult:
    """Log and register (not retried: a retried half-registration would leave a second version)."""
    from models.registry import log_and_register

    test = training.filter(pl.col("as_of") == result.split.test)
    manifest = workspace.read_manifest(Path(snapshot))
    ids = {"snapshot": snapshot, **{t: m["fingerprint"] for t, m in manifest["tables"].items()}}
    registered = log_and_register(config, result, test, snapshot_ids=ids, as_of=as_of, history=training)
    return TrainResult(
        run_id=registered.run_id,
        version=str(registered.version),
        promoted=registered.decision.promoted,
        reason=registered.decision.reason,
        notes=list(result.notes),
        metrics=dict(result.metrics),
        split=result.split.as_params(),
    )


@uncached_task(name="load-champion", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def load_champion(config: Config) -> tuple[ModelBundle, dict] | None:
    """The champion's bundle and lineage, or None when no version holds the alias."""
    from models.pyfunc import load_bundle
    from models.registry import CHAMPION, champion_version, client_for

    client = client_for(config)
    version = champion_version(client, config.registered_model_name)
    if version is None:
        return None
    bundle = load_bundle(f"models:/{config.registered_model_name}/{version.version}")
    lineage = {"model_name": config.registered_model_name, "model_version": str(version.version), "mlflow_run_id": version.run_id}
    return bundle, lineage


@uncached_task(name="require-champion", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def require_champion(config: Config, config_path: str, as_of: date | None = None) -> None:
    """Fail (PipelineError, not retried) before any work when no version holds the champion alias;
    that is a breach, so it alerts first (docs/monitoring.md#alerts)."""
    from flows import alerts
    from models.registry import champion_version, client_for

    if champion_version(client_for(config), config.registered_model_name) is None:
        fix = (
            f"run `quietchurn run train --config {config_path}`, or promote a registered version (one the gate refused) with "
            f"`quietchurn model promote --config {config_path} --version N`"
        )
        detail = f"no version holds the alias {config.registered_model_name}@champion, so nothing is scored"
        alerts.send(config, [alerts.Breach("no_champion", as_of, f"model {config.registered_model_name}", detail, f"the MLflow registry; {fix}")], get_run_logger())
        raise PipelineError(f"no model holds the alias {config.registered_model_name}@champion: {fix}")


@uncached_task(name="needs-training", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def needs_training(config: Config, retrain: bool) -> str | None:
    """Why nightly should train now (None = it should not)."""
    from models.registry import champion_version, client_for, last_training_time

    if retrain:
        return "asked with retrain=True"
    client = client_for(config)
    champion = champion_version(client, config.registered_model_name)
    if champion is None:
        return f"no champion for {config.registered_model_name}"
    last = last_training_time(client, config)
    age_days = (datetime.now(UTC).timestamp() * 1000 - last) / 86_400_000 if last else float("inf")
    if age_days > config.training.max_model_age_days:
        return f"last training attempt is {age_days:.0f} days old (training.max_model_age_days={config.training.max_model_age_days})"
    from flows.monitor_tasks import retrain_reason  # the newest monitor verdict: drift fail or realised PR-AUC too low

    return retrain_reason(config, str(champion.version))


@uncached_task(name="scoring-features")
def scoring_features(config: Config, tables, as_of: date, bundle: ModelBundle | None) -> pl.DataFrame:
    """The scoring frame as of ``as_of``, with the champion's columns when there is one."""
    schema = bundle.schema if bundle is not None else None
    return build_scoring_frame(tables, config, as_of, schema=schema, with_usual=True)


@uncached_task(name="write-features", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def write_features(frame: pl.DataFrame, target: str) -> str:
    return str(workspace.write_frame(frame, Path(target)))


@uncached_task(name="read-features")
def read_features(path: str) -> pl.DataFrame:
    return pl.read_parquet(path)
