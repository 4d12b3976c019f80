"""engine.address that does not answer: one message naming the key, before any task runs."""

import socket

import pytest

from configs.schema import EngineConfig
from flows import engine
from flows.tasks import PipelineError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_names_engine_address():
    address = f"tcp://127.0.0.1:{_closed_port()}"
    with pytest.raises(PipelineError, match=r"Dask scheduler at tcp://127\.0\.0\.1:\d+ \(engine\.address\) did not answer"):
        engine.check_scheduler(EngineConfig(kind="dask", address=address), timeout_s=1)


def test_no_address_needs_no_scheduler():
    engine.check_scheduler(EngineConfig(kind="dask"))  # a LocalCluster is started by the run itself


def test_a_feature_folder_of_another_bucket_count_is_refused_naming_the_key(tmp_path):
    import polars as pl

    for k in range(4):
        pl.DataFrame({"customer_id": [f"c{k}"]}).write_parquet(tmp_path / f"bucket={k}.parquet")
    engine.check_feature_buckets(str(tmp_path), 4)  # built with the same engine.partitions
    engine.check_feature_buckets(None, 8)  # features built by the score run itself
    with pytest.raises(PipelineError, match=r"holds 4 bucket file\(s\), not the 8 of engine.partitions"):
        engine.check_feature_buckets(str(tmp_path), 8)
