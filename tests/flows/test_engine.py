"""engine.kind: dask: the score flow's buckets on a Dask LocalCluster give the local engine's table,
and a worker killed mid-run costs a retry, not a row (docs/scale.md)."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from configs import DEMO_CONFIG, load_config
from flows import engine, pipeline, tasks
from models.registry import client_for, promote
from sinks import open_sink

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

PARTITIONS = 4


def _write_config(folder: Path, world: Path, **engine_keys) -> Path:
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["workspace"] = str(folder / "workspace")
    raw["source"]["path"] = str(world)
    raw["sink"]["path"] = str(folder / "scores.duckdb")
    raw["mlflow"] = {"tracking_uri": f"sqlite:///{folder / 'mlflow.db'}"}
    raw["scoring"]["capacity"] = 50
    raw["engine"] = {"partitions": PARTITIONS, **engine_keys}
    path = folder / f"config-{engine_keys.get('kind', 'local')}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def crowned(tmp_path_factory, tiny_world, prefect_api) -> tuple[Path, Path, date]:
    """A trained champion and the local engine's scores of the simulated today (the reference)."""
    folder = tmp_path_factory.mktemp("engine")
    local = _write_config(folder, tiny_world[0])
    trained = pipeline.train(str(local))
    if not trained.promoted:
        config = load_config(local)
        promote(client_for(config), config.registered_model_name, trained.version)
    pipeline.score_flow(str(local))
    return folder, local, tiny_world[1]


def _local_scores(local: Path) -> pl.DataFrame:
    return open_sink(load_config(local).sink).read_scores().drop("flow_run_id", "scored_at")


def _assert_same_table(dask: pl.DataFrame, local: pl.DataFrame) -> None:
    assert dask.height == local.height == dask["customer_id"].n_unique()
    floats = ["churn_probability", "risk_percentile", "dissatisfaction_probability", "value_at_risk"]
    assert_frame_equal(dask.drop(floats).sort("customer_id"), local.drop(floats).sort("customer_id"))
    assert_frame_equal(dask.select("customer_id", *floats).sort("customer_id"), local.select("customer_id", *floats).sort("customer_id"), abs_tol=1e-9)


def test_dask_local_cluster_builds_and_scores_the_local_engines_tables(crowned):
    folder, local, today = crowned
    dask_config = _write_config(folder, Path(load_config(local).source.path), kind="dask")  # no address: a LocalCluster per run
    config = load_config(local)
    bundle, _ = tasks.load_champion.fn(config)
    features_local = tasks.scoring_features.fn(config, tasks.read_snapshot.fn(pipeline._committed(config, today)), today, bundle)

    built = pipeline.build_features(str(dask_config))
    assert Path(built.path) == engine.bucket_features_dir(config, today)
    assert sorted(p.name for p in Path(built.path).glob("*.parquet")) == [f"bucket={k}.parquet" for k in range(PARTITIONS)]
    assert (built.rows, built.columns) == features_local.shape
    features_dask = pl.read_parquet(built.path).sort("customer_id")
    assert_frame_equal(features_dask, features_local.sort("customer_id"), abs_tol=1e-9)

    reference = _local_scores(local)
    result = pipeline.score_flow(str(dask_config), features_path=built.path)
    _assert_same_table(_local_scores(dask_config), reference)
    assert result.run.customers_scored == reference.height


@pytest.fixture
def two_workers():
    from distributed import Client, LocalCluster

    with LocalCluster(**engine.local_cluster_kwargs(n_workers=2, memory_limit="2GiB"), dashboard_address=":0") as cluster, Client(cluster) as client:
        yield cluster, client


def _kill_a_busy_worker(client, killed: list, stop: threading.Event) -> None:
    """SIGKILL the first worker process seen running a task (its nanny starts a new one)."""
    while not stop.is_set() and not killed:
        busy = [worker for worker, keys in client.processing().items() if keys]
        if busy:
            pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(busy[0])
        time.sleep(0.02)


def test_a_worker_killed_mid_run_costs_a_retry_not_a_row(crowned, two_workers):
    folder, local, _ = crowned
    cluster, client = two_workers
    dask_config = _write_config(folder, Path(load_config(local).source.path), kind="dask", address=cluster.scheduler_address)
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=_kill_a_busy_worker, args=(client, killed, stop), daemon=True)
    killer.start()
    try:
        pipeline.score_flow(str(dask_config))
    finally:
        stop.set()
        killer.join(timeout=10)
    assert killed, "no worker was busy while the run lasted"
    scores = _local_scores(dask_config)
    assert scores["customer_id"].n_unique() == scores.height
    _assert_same_table(scores, _local_scores(local))
