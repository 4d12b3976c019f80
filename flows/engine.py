"""Where per-customer work runs: this process (``engine.kind: local``) or a Dask cluster (``dask``).

On Dask, customers are split into ``engine.partitions`` hash buckets (features/buckets.py); each
bucket is one Prefect task run by prefect-dask's DaskTaskRunner: its features as of T, its
predictions, its survey propensities, later its reasons; for training, its snapshots with labels.
The parts that need the whole population (ranks, tiers, the silent ranks, which customers get
reasons, the population score; training's schema and first day of data) run here, the scoring
ones after a small gather (docs/scale.md). The model is loaded once per worker process, not once per task.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger

from configs import Config
from configs.schema import EngineConfig
from features.buckets import bucket_expr
from features.snapshots import FeatureSchema, build_scoring_frame, build_training_frame, feature_schema
from flows import workspace
from flows.score_tasks import no_one_eligible
from flows.tasks import PipelineError, uncached_task
from models.bundle import ModelBundle
from models.scoring import (
    REASON_SCHEMA,
    all_missing_features,
    customer_scores,
    explain_customers,
    finish_scores,
    input_warnings,
    rank_and_flag,
    reason_targets,
    respondent_propensities,
    summarise_surveys,
)

# One worker thread per process: polars and LightGBM parallelise inside a task; more Dask threads
# would only oversubscribe the cores (docs/scale.md).
_WORKER_THREADS_ENV = {"POLARS_MAX_THREADS": "1", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def local_cluster_kwargs(n_workers: int | None = None, memory_limit: str = "auto") -> dict:
    """A LocalCluster sized to this machine: one single-threaded worker process per core, the
    machine's memory shared equally (``auto``); each worker sees the Prefect API of this process."""
    env = dict(_WORKER_THREADS_ENV)
    api = prefect_api_url()
    if api:
        env["PREFECT_API_URL"] = api  # otherwise every worker would start its own temporary Prefect server
    return {
        "n_workers": n_workers or os.cpu_count() or 1,
        "threads_per_worker": 1,
        "processes": True,
        "memory_limit": memory_limit,
        "env": env,
    }


def prefect_api_url() -> str | None:
    """The Prefect API this process talks to: PREFECT_API_URL, or the temporary local server it started."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return PREFECT_API_URL.value()
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the process's temporary server, when one was started (a singleton)
    return server.api_url if server.server_process is not None and server.server_process.poll() is None else None


def task_runner(engine: EngineConfig):
    """prefect-dask's runner: connected to ``engine.address``, or starting a LocalCluster for the run."""
    from prefect_dask import DaskTaskRunner

    if engine.address:
        return DaskTaskRunner(address=engine.address)
    return DaskTaskRunner(cluster_kwargs=local_cluster_kwargs())


def check_scheduler(engine: EngineConfig, timeout_s: float = 10.0) -> None:
    """Fail in words (PipelineError), before any task, when ``engine.address`` does not answer."""
    if not engine.address:
        return
    from distributed import Client

    try:
        with Client(engine.address, timeout=f"{timeout_s}s"):
            pass
    except (OSError, TimeoutError):
        raise PipelineError(
            f"the Dask scheduler at {engine.address} (engine.address) did not answer within {timeout_s:g} s: start the cluster, "
            "fix engine.address, or set engine.address: null to start a LocalCluster on this machine (docs/scale.md)"
        ) from None


@contextmanager
def prefect_api_for_workers() -> Iterator[None]:
    """Pin the API URL in the settings that travel with each task, so workers report to this run's
    server instead of starting their own (a temporary server is only reachable from this machine)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api = prefect_api_url()
    if PREFECT_API_URL.value() or not api:
        yield
        return
    with temporary_settings(updates={PREFECT_API_URL: api}):
        yield


def bucket_features_dir(config: Config, as_of: date) -> Path:
    """``<workspace>/features/as_of=<date>/bucket=<k>.parquet``: one feature file per bucket."""
    return workspace.features_path(config, as_of).with_suffix("")


def bucket_training_dir(config: Config, as_of: date) -> Path:
    """``<workspace>/training/as_of=<date>/bucket=<k>.parquet``: one training frame file per bucket."""
    return config.workspace / "training" / f"as_of={as_of.isoformat()}"


def read_training_buckets(folder: str) -> pl.DataFrame:
    """The bucket files as the one frame ``build_training_frame`` returns: sorted by (as_of, customer_id).

    Gathered one snapshot date at a time, each date's rows sorted on their own: the gather holds the
    frame and one date's rows, never the frame twice (a sort of the whole frame would)."""
    files = Path(folder) / "bucket=*.parquet"
    dates = pl.scan_parquet(files).select(pl.col("as_of").unique().sort()).collect()["as_of"]
    if dates.is_empty():
        return pl.read_parquet(files)
    return pl.concat([pl.scan_parquet(files).filter(pl.col("as_of") == d).sort("customer_id").collect() for d in dates], rechunk=False)


def frame_width(path: str) -> int:
    """Columns of a feature frame written as one file or as a folder of bucket files."""
    source = Path(path)
    return len(pl.scan_parquet(source / "*.parquet" if source.is_dir() else source).collect_schema())


# --- on the workers ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def worker_bundle(tracking_uri: str, model_uri: str) -> ModelBundle:
    """The model, loaded once per worker process and kept for every later task of the run."""
    import mlflow

    from models.pyfunc import load_bundle

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return load_bundle(model_uri)


@dataclass(frozen=True)
class BucketScores:
    """What a bucket sends back: a few columns per customer, not its features."""

    bucket: int
    scores: pl.DataFrame  # customer_scores(): probabilities, survey status, last score, value at risk
    propensities: pl.DataFrame  # respondents' response propensity (the population score's weights)
    all_missing: frozenset[str]  # model features missing for every customer of the bucket
    features_file: str


def _bucket_tables(snapshot: str, bucket: int, partitions: int) -> dict[str, pl.LazyFrame]:
    """The snapshot's rows of one bucket's customers: the bucket's own files (docs/scale.md#snapshot-layout)."""
    return workspace.read_snapshot_bucket(Path(snapshot), bucket, partitions)


def bucket_features(config: Config, snapshot: str, features_path: str | None, as_of: date, bundle: ModelBundle, bucket: int) -> pl.DataFrame:
    """One bucket's scoring features: its own file of a folder ``build_features`` wrote on the cluster,
    the bucket's rows of a frame written as one file, or built from the snapshot."""
    partitions = config.engine.partitions
    if features_path and Path(features_path).is_dir():
        return pl.read_parquet(Path(features_path) / f"bucket={bucket}.parquet")
    if features_path:
        return pl.scan_parquet(features_path).filter(bucket_expr("customer_id", partitions) == bucket).collect()
    return build_scoring_frame(_bucket_tables(snapshot, bucket, partitions), config, as_of, schema=bundle.schema, with_usual=True)


def check_feature_buckets(features_path: str | None, partitions: int) -> None:
    """A folder of bucket files must hold exactly the buckets of engine.partitions."""
    if not features_path or not Path(features_path).is_dir():
        return
    found = sorted(p.name for p in Path(features_path).glob("bucket=*.parquet"))
    if found != sorted(f"bucket={k}.parquet" for k in range(partitions)):
        raise PipelineError(
            f"the feature folder {features_path} holds {len(found)} bucket file(s), not the {partitions} of engine.partitions: "
            "build the features again with this config (`quietchurn run features --config FILE`) before scoring"
        )


@uncached_task(name="build-bucket-features")
def build_bucket_features(config: Config, snapshot: str, as_of: date, schema: FeatureSchema, bucket: int, out_dir: str) -> tuple[str, int]:
    """One bucket's feature frame, written to ``out_dir``; (its path, its rows)."""
    frame = build_scoring_frame(_bucket_tables(snapshot, bucket, config.engine.partitions), config, as_of, schema=schema, with_usual=True)
    path = workspace.write_frame(frame, Path(out_dir) / f"bucket={bucket}.parquet")
    return str(path), frame.height


def bucket_training_frame(config: Config, snapshot: str, as_of: date, schema: FeatureSchema, starts: date, bucket: int) -> pl.DataFrame:
    """One bucket's training rows (snapshots with labels), with the whole population's schema and
    first day of events (``starts``): built from the bucket's customers alone, these would differ."""
    tables = _bucket_tables(snapshot, bucket, config.engine.partitions)
    return build_training_frame(tables, config, as_of, schema=schema, starts=starts)


def write_bucket_training(config: Config, snapshot: str, as_of: date, schema: FeatureSchema, starts: date, bucket: int, out_dir: str) -> tuple[str, int]:
    """One bucket's training frame, written to ``out_dir``; (its path, its rows)."""
    frame = bucket_training_frame(config, snapshot, as_of, schema, starts, bucket)
    path = workspace.write_frame(frame, Path(out_dir) / f"bucket={bucket}.parquet")
    return str(path), frame.height


@uncached_task(name="build-bucket-training")
def build_bucket_training(config: Config, snapshot: str, as_of: date, schema: FeatureSchema, starts: date, bucket: int, out_dir: str) -> tuple[str, int]:
    return write_bucket_training(config, snapshot, as_of, schema, starts, bucket, out_dir)


@uncached_task(name="score-bucket")
def score_bucket(config: Config, snapshot: str, features_path: str | None, as_of: date, model_uri: str, bucket: int, out_dir: str) -> BucketScores:
    """Features, predictions and survey propensities of one bucket; its features are kept in a file
    for its reasons (the same file is rewritten whole when Dask reruns the task on another worker)."""
    bundle = worker_bundle(config.tracking_uri, model_uri)
    features = bucket_features(config, snapshot, features_path, as_of, bundle, bucket)
    if features_path and Path(features_path).is_dir():  # already one file per bucket
        features_file = Path(features_path) / f"bucket={bucket}.parquet"
    else:
        features_file = workspace.write_frame(features, Path(out_dir) / f"bucket={bucket}.parquet")
    scores = customer_scores(features, bundle, config)
    return BucketScores(bucket, scores, respondent_propensities(features, scores, bundle), frozenset(all_missing_features(features, bundle)), str(features_file))


@uncached_task(name="explain-bucket")
def explain_bucket(config: Config, features_file: str, model_uri: str, targets: pl.DataFrame, unknown: frozenset[str]) -> pl.DataFrame:
    """reason_1..3 and reasons of one bucket's customers that get them (TreeSHAP: the costly part)."""
    bundle = worker_bundle(config.tracking_uri, model_uri)
    features = pl.scan_parquet(features_file).join(targets.lazy().select("customer_id"), on="customer_id", how="semi").collect()
    return explain_customers(targets, features, bundle, set(unknown))


# --- in the flow -------------------------------------------------------------------------------------


def _log_dashboard() -> None:
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    client = getattr(context.task_runner, "client", None) if context else None
    if client is not None:
        get_run_logger().info("Dask cluster %s; dashboard: %s", client.scheduler.address, client.dashboard_link)


def _drop_stale_buckets(folder: Path, written: list[str]) -> None:
    """Remove bucket files an earlier run with more partitions left, so the folder is one frame."""
    for stale in set(folder.glob("bucket=*.parquet")) - {Path(path) for path in written}:
        stale.unlink()


def _one_frame(folder: Path, built: list[tuple[str, int]]) -> tuple[str, int]:
    """The folder once every bucket's (path, rows) is written, as one frame: (the folder, the rows)."""
    _drop_stale_buckets(folder, [path for path, _ in built])
    return str(folder), sum(rows for _, rows in built)


@flow(name="features-buckets")
def build_buckets(config: Config, snapshot: str, as_of: date, model_uri: str | None) -> tuple[str, int]:
    """Every bucket's feature frame built on the cluster into one folder: (the folder, the rows).
    Columns: the model's when there is one, else a schema learnt here from the whole snapshot, so
    that every bucket codes its categories alike."""
    _log_dashboard()
    if model_uri:
        schema = worker_bundle(config.tracking_uri, model_uri).schema
    else:
        schema = feature_schema(workspace.read_snapshot(Path(snapshot)), config, as_of)
    out_dir = bucket_features_dir(config, as_of)
    futures = [build_bucket_features.submit(config, snapshot, as_of, schema, k, str(out_dir)) for k in range(config.engine.partitions)]
    return _one_frame(out_dir, [future.result() for future in futures])


@flow(name="training-buckets")
def build_training_buckets(config: Config, snapshot: str, as_of: date, population_schema: FeatureSchema, starts: date) -> tuple[str, int]:
    """Every bucket's training frame built on the cluster into one folder: (the folder, the rows)."""
    _log_dashboard()
    out_dir = bucket_training_dir(config, as_of)
    futures = [
        build_bucket_training.submit(config, snapshot, as_of, population_schema, starts, k, str(out_dir)) for k in range(config.engine.partitions)
    ]
    return _one_frame(out_dir, [future.result() for future in futures])


def training_in_buckets(config: Config, snapshot: str, as_of: date, schema: FeatureSchema, starts: date) -> pl.DataFrame:
    """The local engine's training frame from a bucketed snapshot: the buckets one after another in
    this process, each written to the training folder, then gathered by date. The build's working
    memory is one bucket's instead of the population's (docs/scale.md, "Training on one machine")."""
    out_dir = bucket_training_dir(config, as_of)
    folder, _ = _one_frame(out_dir, [write_bucket_training(config, snapshot, as_of, schema, starts, k, str(out_dir)) for k in range(config.engine.partitions)])
    return read_training_buckets(folder)


def training_on_cluster(config: Config, snapshot: str, as_of: date, schema: FeatureSchema, starts: date) -> pl.DataFrame:
    """``build_training_buckets`` on the configured cluster (a LocalCluster for this run when no
    address), gathered here into the local engine's training frame."""
    check_scheduler(config.engine)
    with prefect_api_for_workers():
        folder, _ = build_training_buckets.with_options(task_runner=task_runner(config.engine))(config, snapshot, as_of, schema, starts)
    return read_training_buckets(folder)


def features_on_cluster(config: Config, snapshot: str, as_of: date, lineage: dict | None) -> tuple[str, int]:
    """``build_buckets`` on the configured cluster (a LocalCluster for this run when no address)."""
    model_uri = f"models:/{lineage['model_name']}/{lineage['model_version']}" if lineage else None
    check_scheduler(config.engine)
    with prefect_api_for_workers():
        return build_buckets.with_options(task_runner=task_runner(config.engine))(config, snapshot, as_of, model_uri)


@flow(name="score-buckets")
def score_buckets(config: Config, snapshot: str, features_path: str | None, as_of: date, model_uri: str, satisfaction: bool) -> tuple[pl.DataFrame, dict]:
    """Every bucket scored on the cluster, then ranks, tiers, flags and who gets reasons over the
    gathered scores, then the reasons per bucket again: the churn_scores rows and the survey summary."""
    _log_dashboard()
    check_feature_buckets(features_path, config.engine.partitions)
    out_dir = str(bucket_features_dir(config, as_of))
    futures = [score_bucket.submit(config, snapshot, features_path, as_of, model_uri, k, out_dir) for k in range(config.engine.partitions)]
    buckets = [future.result() for future in futures]
    if not (features_path and Path(features_path).is_dir()):
        _drop_stale_buckets(Path(out_dir), [b.features_file for b in buckets])
    scores = pl.concat([b.scores for b in buckets])
    ranked = reason_targets(rank_and_flag(scores, config), config, satisfaction)
    unknown = frozenset.intersection(*(b.all_missing for b in buckets))
    targets = ranked.filter(pl.col("reason_source").is_not_null()).select("customer_id", "reason_source").with_columns(
        bucket_expr("customer_id", config.engine.partitions)
    )
    explained = [
        explain_bucket.submit(config, b.features_file, model_uri, targets.filter(pl.col("bucket") == b.bucket).drop("bucket"), unknown)
        for b in buckets
        if (targets["bucket"] == b.bucket).any()
    ]
    reasons = pl.concat([pl.DataFrame(schema=REASON_SCHEMA), *(f.result() for f in explained)])
    scored = finish_scores(ranked.join(reasons, on="customer_id", how="left"), as_of)
    return scored, summarise_surveys(scored, pl.concat([b.propensities for b in buckets]))


def score_on_cluster(
    config: Config, snapshot: str, features_path: str | None, as_of: date, bundle: ModelBundle, lineage: dict, rows: dict[str, int], customers: pl.LazyFrame | None
) -> tuple[pl.DataFrame, dict, list[str]]:
    """``score_buckets`` on the configured cluster (a LocalCluster for this run when no address): the
    churn_scores rows, the survey summary and the input warnings, as the local scorer returns them."""
    warnings = input_warnings(bundle, rows, customers)
    for warning in warnings:
        get_run_logger().warning(warning)
    model_uri = f"models:/{lineage['model_name']}/{lineage['model_version']}"
    check_scheduler(config.engine)
    with prefect_api_for_workers():
        runner = score_buckets.with_options(task_runner=task_runner(config.engine))
        scored, surveys = runner(config, snapshot, features_path, as_of, model_uri, bundle.satisfaction is not None)
    if scored.height == 0:
        raise PipelineError(no_one_eligible(as_of))
    return scored, surveys, warnings
