"""engine.kind: dask: the training frame built per customer bucket (flows/engine.py) is the local
engine's frame, row for row, in process and on a Dask LocalCluster (docs/scale.md).

Floats agree within 1e-12 relative (1e-12 absolute near zero), not bit for bit: a customer's sums
add the same rows in another order when polars splits the whole snapshot's group-by among its
threads (seen: at most 1.1e-15 relative, on value sums and means)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from prefect import flow

from configs import load_config
from features.buckets import bucket_of
from features.snapshots import build_training_frame, data_starts, snapshot_dates, training_schema
from features.timeline import as_of_instant
from flows import engine, pipeline, tasks, workspace

PARTITIONS = 4
FLOAT_TOLERANCE = {"rel_tol": 1e-12, "abs_tol": 1e-12}


@pytest.fixture(scope="module")
def world():
    from simulator import simulate_world

    return simulate_world(customers=300, days=400, seed=11)


@pytest.fixture
def config(make_config):
    return make_config(source={"pii": {"customers": ["email", "name"]}}, engine={"partitions": PARTITIONS})


def _committed(tables: dict[str, pl.DataFrame], target: Path) -> str:
    """The tables as a snapshot bucketed like an ingest with engine.partitions = PARTITIONS writes it."""
    stager = workspace.SnapshotStager(target, PARTITIONS)
    for name, frame in tables.items():
        stager.append(name, frame)
    return str(stager.commit({"as_of": "2026-01-01"}))


def _in_process(config, snapshot: str, as_of, schema, starts) -> pl.DataFrame:
    """Every bucket's frame built here, one after another, gathered by date (the local engine's way)."""
    gathered = engine.training_in_buckets(config, snapshot, as_of, schema, starts)
    folder = engine.bucket_training_dir(config, as_of)
    assert sorted(p.name for p in folder.glob("*.parquet")) == [f"bucket={k}.parquet" for k in range(PARTITIONS)]
    return gathered


def test_the_buckets_built_in_process_give_the_local_training_frame(world, config, tmp_path):
    snapshot = _committed(world.tables, tmp_path / "snapshot")
    tables = workspace.read_snapshot(Path(snapshot))
    schema = training_schema(tables, config, world.today)
    local = build_training_frame(tables, config, world.today, schema=schema)

    gathered = _in_process(config, snapshot, world.today, schema, data_starts(tables, config))

    assert local.height > 1000 and local["as_of"].n_unique() == config.training.snapshots
    assert_frame_equal(gathered, local, **FLOAT_TOLERANCE)  # same columns, dtypes, row order; floats within 1e-12


def test_a_bucket_whose_events_start_late_keeps_the_populations_snapshot_dates(world, config, tmp_path):
    """The first day of events is the population's: a bucket's own would drop the earliest date."""
    late = as_of_instant(world.today - timedelta(days=260), config.schedule.timezone)  # after the first date's 90-day warm-up began
    in_bucket_0 = pl.col("customer_id").map_batches(lambda ids: bucket_of(ids, PARTITIONS) == 0, return_dtype=pl.Boolean)
    events = world.tables["events"].filter(~in_bucket_0 | (pl.col("ts") >= late))
    snapshot = _committed({**world.tables, "events": events}, tmp_path / "snapshot")
    tables = workspace.read_snapshot(Path(snapshot))
    schema, starts = training_schema(tables, config, world.today), data_starts(tables, config)
    population_dates = snapshot_dates(world.today, config, data_starts=starts)
    bucket_0 = workspace.read_snapshot_bucket(Path(snapshot), 0, PARTITIONS)

    alone = build_training_frame(bucket_0, config, world.today, schema=schema)  # its own first day: wrong dates
    built = engine.bucket_training_frame(config, snapshot, world.today, schema, starts, 0)

    assert sorted(alone["as_of"].unique()) == population_dates[1:]
    assert sorted(built["as_of"].unique()) == population_dates
    local = build_training_frame(tables, config, world.today, schema=schema)
    assert_frame_equal(_in_process(config, snapshot, world.today, schema, starts), local, **FLOAT_TOLERANCE)


@flow
def _training_frame(config_path: str, snapshot: str, as_of: date) -> pl.DataFrame:
    """The train flow's first step alone (no fit): the task that builds the frames."""
    config = tasks.read_config(config_path)
    training, _, _ = tasks.training_frames(config, tasks.read_snapshot(snapshot), as_of, snapshot)
    return training


@pytest.mark.usefixtures("prefect_api")
@pytest.mark.parametrize("kind", ["local", pytest.param("dask", marks=pytest.mark.slow)])
def test_the_train_flows_frame_from_a_bucketed_snapshot_is_built_per_bucket_and_is_the_whole_table_frame(flow_config, tiny_world, kind, monkeypatch):
    """A snapshot in engine.partitions buckets: the train flow's frame is built per bucket, in its own
    process with the local engine (one bucket's working memory at a time), on a LocalCluster for the
    run with dask and no address; gathered, it is the whole-table frame."""
    monkeypatch.setattr(tasks, "PER_BUCKET_FROM_ROWS", 1)  # the local engine's threshold, for a tiny world
    path = flow_config(engine={"kind": kind, "partitions": PARTITIONS})
    config = load_config(path)
    as_of = tiny_world[1]
    snapshot = pipeline.ingest(str(path), as_of).snapshot
    assert workspace.snapshot_partitions(Path(snapshot)) == PARTITIONS
    tables = workspace.read_snapshot(Path(snapshot))
    whole = build_training_frame(tables, config, as_of, schema=training_schema(tables, config, as_of))

    gathered = _training_frame(str(path), snapshot, as_of)

    folder = engine.bucket_training_dir(config, as_of)
    assert sorted(p.name for p in folder.glob("*.parquet")) == [f"bucket={k}.parquet" for k in range(PARTITIONS)]
    assert whole.height > 1000
    assert_frame_equal(gathered, whole, **FLOAT_TOLERANCE)


@pytest.mark.usefixtures("prefect_api")
def test_below_the_row_threshold_the_local_engine_builds_the_whole_table_frame(flow_config, tiny_world):
    """A small bucketed snapshot: no bucket files are written (the whole-table build is quicker there)."""
    path = flow_config(engine={"partitions": PARTITIONS})
    config = load_config(path)
    as_of = tiny_world[1]
    snapshot = pipeline.ingest(str(path), as_of).snapshot
    rows = sum(t["accepted"] for t in workspace.read_manifest(Path(snapshot))["tables"].values())
    assert 0 < rows < tasks.PER_BUCKET_FROM_ROWS

    training = _training_frame(str(path), snapshot, as_of)

    assert training.height > 1000
    assert not engine.bucket_training_dir(config, as_of).exists()
