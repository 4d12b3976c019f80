"""The Prefect flows: ingest -> build_features -> train (when needed) -> score -> monitor, composed by nightly.

Flows take a config path and an as-of date and hand each other references (snapshot folders,
feature files, model versions), never DataFrames. Their bodies only sequence tasks. Every flow
first refuses an as-of the data does not cover (docs/dates-and-training.md), and `score` a
missing champion, before anything big is read.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from features.contract import ContractError
from flows import alerts, backfill_tasks, engine, monitor_tasks, report_tasks, score_tasks, tasks, workspace
from flows.results import FeaturesResult, IngestResult, MonitorResult, NightlyResult, ScoreResult, TableCounts, TrainResult
from flows.runtime import default_as_of
from flows.tasks import PipelineError

__all__ = ["PipelineError", "backfill", "build_features", "ingest", "monitor", "nightly", "score_flow", "train"]


def _run_id() -> str:
    return str(flow_run.get_id() or "local")


def _as_of(config, as_of: date | None) -> date:
    return as_of or default_as_of(config)


def _committed(config, as_of: date) -> str | None:
    """This date's snapshot folder when one has been committed."""
    path = workspace.snapshot_dir(config, as_of)
    return str(path) if (path / "manifest.json").is_file() else None


def _covered_as_of(config, as_of: date | None) -> date:
    """The run date, refused (DataCoverageError) when the events do not cover it: checked on this
    date's snapshot when there is one (cheap), else on the source."""
    as_of = _as_of(config, as_of)
    tasks.check_coverage(config, as_of, _committed(config, as_of))
    return as_of


@flow(name="ingest")
def ingest(config_path: str, as_of: date | None = None) -> IngestResult:
    """Sources -> validated, dated snapshot in the workspace; rejects recorded in the sink."""
    config = tasks.read_config(config_path)
    as_of = _as_of(config, as_of)
    tasks.check_coverage(config, as_of)
    staged = tasks.stage_snapshot(config, as_of)
    try:
        rejected = tasks.record_rejects(config, staged, as_of, _run_id())
        if staged.limit_error:
            raise ContractError(staged.limit_error)
        snapshot = tasks.commit_snapshot(staged, as_of, _run_id())
    finally:
        staged.stager.discard()  # no-op once committed; otherwise the staged tables go
    counts = {n: TableCounts(c.read, c.accepted, c.rejected) for n, c in staged.ingested.counts.items()}
    get_run_logger().info("snapshot %s: %s rejects", snapshot, rejected)
    return IngestResult(as_of, snapshot, rejected, counts)


def _snapshot(config_path: str, config, as_of: date) -> str:
    """This date's snapshot, ingesting first when there is none."""
    return _committed(config, as_of) or ingest(config_path, as_of).snapshot


@flow(name="build_features")
def build_features(config_path: str, as_of: date | None = None, out: str | None = None) -> FeaturesResult:
    """The scoring feature frame as of a date (the champion's columns when there is one)."""
    config = tasks.read_config(config_path)
    as_of = _covered_as_of(config, as_of)
    snapshot = _snapshot(config_path, config, as_of)
    tables = tasks.read_snapshot(snapshot)
    champion = tasks.load_champion(config)
    if config.engine.kind == "dask":  # one feature file per customer bucket, built on the cluster (docs/scale.md)
        path, rows = engine.features_on_cluster(config, snapshot, as_of, champion[1] if champion else None)
        path = tasks.write_features(tasks.read_features(path), out) if out else path
        return FeaturesResult(as_of, path, rows, engine.frame_width(path))
    frame = tasks.scoring_features(config, tables, as_of, champion[0] if champion else None)
    path = tasks.write_features(frame, out or str(workspace.features_path(config, as_of)))
    return FeaturesResult(as_of, path, frame.height, frame.width)


@flow(name="train")
def train(config_path: str, as_of: date | None = None) -> TrainResult:
    """Train on snapshots up to as_of, log to MLflow, register, and gate the champion alias."""
    config = tasks.read_config(config_path)
    as_of = _covered_as_of(config, as_of)
    snapshot = _snapshot(config_path, config, as_of)
    tables = tasks.read_snapshot(snapshot)
    training, invitations, inputs = tasks.training_frames(config, tables, as_of, snapshot)  # per customer bucket with engine.kind dask
    result = tasks.fit_models(config, training, invitations, inputs)
    registered = tasks.register_model(config, result, training, snapshot, as_of)
    get_run_logger().info("version %s %s: %s", registered.version, "promoted" if registered.promoted else "not promoted", registered.reason)
    return registered


@flow(name="score")
def score_flow(
    config_path: str,
    as_of: date | None = None,
    features_path: str | None = None,
    ingested: IngestResult | None = None,
    trained: TrainResult | None = None,
) -> ScoreResult:
    """Score every eligible customer with the champion into churn_scores; one score_runs row.

    Reads the feature frame at ``features_path`` when given (built by ``build_features``), else builds it;
    ``ingested`` and ``trained`` (from nightly) only add their sections to the run summary.
    """
    started = datetime.now(UTC)
    config = tasks.read_config(config_path)
    alerts.check_alert_url(config)
    as_of = _covered_as_of(config, as_of)
    tasks.require_champion(config, config_path, as_of)  # before ingesting: a missing champion needs no data to find (alerts)
    snapshot = _snapshot(config_path, config, as_of)
    bundle, lineage = tasks.load_champion(config)
    tables = tasks.read_snapshot(snapshot)
    counts = score_tasks.read_table_counts(snapshot)
    if config.engine.kind == "dask":  # features, predictions and reasons per customer bucket on the cluster (docs/scale.md)
        rows = {name: c.accepted for name, c in counts.items()}
        scored, surveys, warnings = engine.score_on_cluster(config, snapshot, features_path, as_of, bundle, lineage, rows, tables.get("customers"))
    else:
        features = tasks.read_features(features_path) if features_path else tasks.scoring_features(config, tables, as_of, bundle)
        scored, surveys, warnings = score_tasks.score(config, features, bundle, as_of, counts, tables.get("customers"))
    score_tasks.write_scores(config, scored, as_of, lineage, _run_id())
    run = score_tasks.score_run(as_of, _run_id(), lineage, scored, surveys, counts, started)
    score_tasks.record_score_run(config, run)
    markdown = score_tasks.publish_summary(run, scored, ingested.tables if ingested else counts, trained, warnings)
    return ScoreResult(run, lineage["mlflow_run_id"], markdown, warnings)


@flow(name="monitor")
def monitor(config_path: str, as_of: date | None = None, features_path: str | None = None) -> MonitorResult:
    """Drift of a scored date against the scoring version's training reference, estimated performance
    of its scores, realised performance of earlier dates whose horizon has passed; the verdict in
    score_runs.drift_summary. A breach (a stale table, drift past monitoring.drift.fail, realised PR-AUC below
    its threshold) alerts and fails the run after writing (docs/monitoring.md#alerts)."""
    config = tasks.read_config(config_path)
    alerts.check_alert_url(config)
    as_of = _as_of(config, as_of)
    scores = monitor_tasks.read_scored_date(config, as_of, config_path)
    version = scores["model_version"][0]
    bundle = monitor_tasks.load_scoring_model(config, version)
    snapshot = _snapshot(config_path, config, as_of)
    tables = tasks.read_snapshot(snapshot)
    health = monitor_tasks.check_data_health(config, tables, snapshot, as_of)
    features_path = features_path or _features_file(config, as_of)
    features = tasks.read_features(features_path) if features_path else tasks.scoring_features(config, tables, as_of, bundle)
    found = monitor_tasks.assess_date(config, as_of, tables, features, scores, bundle, health)
    verdict, realised = found.verdict, found.realised
    markdown = monitor_tasks.publish_monitor_summary(as_of, version, verdict)
    monitor_tasks.raise_alarm(config, as_of, verdict)
    get_run_logger().info("monitor %s: drift %s; %s realised date(s)", as_of, verdict["status"], realised["as_of"].n_unique())
    return MonitorResult(as_of, version, verdict["status"], verdict, markdown, found.feature_drift_rows, found.estimated_rows, sorted(realised["as_of"].unique()))


def _features_file(config, as_of: date) -> str | None:
    """The feature frame build_features wrote for the date, when there is one."""
    path = workspace.features_path(config, as_of)
    return str(path) if path.is_file() else None


@flow(name="nightly")
def nightly(config_path: str, as_of: date | None = None, retrain: bool = False) -> NightlyResult:
    """ingest -> train (when asked, when there is no champion, when the last attempt is too old, or when
    the last monitor found drift or realised performance past its threshold) -> build_features (with
    the champion's columns) -> score -> monitor (which alerts and fails the run, after writing, on a breach)."""
    config = tasks.read_config(config_path)
    alerts.check_alert_url(config)  # before any work: a breach must be able to reach people
    as_of = _as_of(config, as_of)
    ingested = ingest(config_path, as_of)
    why = tasks.needs_training(config, retrain)
    trained = None
    if why:
        get_run_logger().info("training: %s", why)
        trained = train(config_path, as_of)
    tasks.require_champion(config, config_path, as_of)  # the gate may have refused the first model (alerts)
    features = build_features(config_path, as_of)
    scored = score_flow(config_path, as_of, features.path, ingested, trained)
    monitored = monitor(config_path, as_of, features.path, return_state=True)
    report = report_tasks.publish_report(config, as_of)  # also when the monitor fails the run (docs/report.md)
    return NightlyResult(as_of, ingested, trained, why, features, scored, monitored.result(), report)


@flow(name="backfill")
def backfill(config_path: str, start: date, end: date, every_days: int = 7) -> backfill_tasks.BackfillResult:
    """Score and monitor start, start + every_days, ... up to end with the champion, from one input snapshot
    (features as of each date see only rows before it); rerunning replaces each date's rows. A range the
    data does not cover is refused before anything is written (docs/monitoring.md#backfill)."""
    config = tasks.read_config(config_path)
    dates = backfill_tasks.backfill_dates(start, end, every_days)
    backfill_tasks.check_range(config, dates)
    tasks.require_champion(config, config_path)
    snapshot = _snapshot(config_path, config, dates[-1])
    backfill_tasks.check_range(config, dates, snapshot)
    bundle, lineage = tasks.load_champion(config)
    tables = tasks.read_snapshot(snapshot)
    manifests = backfill_tasks.date_manifests(config, tables, snapshot, dates)
    done = [backfill_tasks.score_and_monitor(config, config_path, tables, bundle, lineage, manifests, d, _run_id()) for d in dates]
    result = backfill_tasks.BackfillResult(lineage["model_version"], snapshot, done, backfill_tasks.in_sample_until(config, lineage))
    get_run_logger().info("backfill: %s date(s) with v%s; drift warn or fail on %s", len(done), result.model_version, result.with_drift("warn", "fail") or "none")
    return result
