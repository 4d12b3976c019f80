"""Tables as folders of hive-partitioned Parquet files (and sources named by URL) read exactly like
one file per table (docs/input-contract.md, 'Partitioned tables')."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from configs import ConfigError, parse_config
from features.contract import ContractError, UnreadableSourceError
from sources import read_tables, time_bounds
from tests.sources.test_sources import PII, load, world, write_files

# events two levels deep, tickets by customer: a customer's duplicate ticket rows stay in one file, in order
PARTITIONS = {"events": ["event_type", "customer_id"], "tickets": ["customer_id"]}


def write_partitioned(folder: Path) -> None:
    frames = world()
    write_files(folder, {name: frame for name, frame in frames.items() if name not in PARTITIONS}, "parquet")
    for name, keys in PARTITIONS.items():
        frames[name].write_parquet(folder / name, partition_by=keys)
        (folder / name / "_SUCCESS").touch()  # what Spark leaves beside its files: not rows


def config_for(make_config, path: str):
    return make_config(source={"kind": "files", "path": path, "timezone": "America/New_York", "pii": PII}, monitoring={"max_reject_share": 1.0})


def assert_same_rows(expected, actual) -> None:
    assert expected.tables.keys() == actual.tables.keys() and expected.counts == actual.counts
    for table, frame in expected.tables.items():
        keys = [c for c in frame.columns if frame[c].dtype != pl.Object]
        assert_frame_equal(actual.tables[table].select(frame.columns).sort(keys, nulls_last=True), frame.sort(keys, nulls_last=True))
    reasons = ["table_name", "reason"]
    assert_frame_equal(expected.rejects.select(reasons).sort(reasons), actual.rejects.select(reasons).sort(reasons))


@pytest.fixture
def single_files(make_config, tmp_path):
    write_files(tmp_path / "single", world(), "parquet")
    return load(config_for(make_config, str(tmp_path / "single")))


def test_a_hive_partitioned_folder_per_table_loads_like_one_file_per_table(single_files, make_config, tmp_path):
    write_partitioned(tmp_path / "hive")
    assert (tmp_path / "hive" / "events" / "event_type=login" / "customer_id=C001").is_dir()
    assert_same_rows(single_files, load(config_for(make_config, str(tmp_path / "hive"))))


def test_a_source_named_by_url_reads_like_the_local_folder(single_files, make_config, tmp_path):
    write_partitioned(tmp_path / "hive")
    url = (tmp_path / "hive").as_uri()  # file:///…: the same code path as s3://, without a network
    config = config_for(make_config, url)
    assert config.source.path == url  # kept as written, not folded into a local path
    assert_same_rows(single_files, load(config))
    assert time_bounds(config.source, "events", "ts") == time_bounds(config_for(make_config, str(tmp_path / "single")).source, "events", "ts")


def test_time_bounds_of_a_partitioned_table_are_those_of_its_single_file(make_config, tmp_path):
    write_partitioned(tmp_path / "hive")
    write_files(tmp_path / "single", world(), "parquet")
    hive, single = (config_for(make_config, str(tmp_path / name)).source for name in ("hive", "single"))
    assert time_bounds(hive, "events", "ts") == time_bounds(single, "events", "ts") is not None
    assert time_bounds(hive, "events", "no_such_column") is None


def test_pii_is_left_out_of_a_partitioned_table_too(make_config, tmp_path):
    folder = tmp_path / "hive"
    write_partitioned(folder)
    (folder / "customers.parquet").unlink()
    world()["customers"].write_parquet(folder / "customers", partition_by=["plan"])
    tables = read_tables(config_for(make_config, str(folder)).source)
    assert "email" not in tables["customers"].columns and "name" not in tables["customers"].columns
    assert tables["customers"].height == 4 and "plan" in tables["customers"].columns  # the hive key comes back as a column


def test_a_folder_without_parquet_files_is_no_table(make_config, tmp_path):
    folder = tmp_path / "hive"
    write_files(folder, {"customers": world()["customers"]}, "parquet")
    (folder / "events" / "month=2025-06").mkdir(parents=True)
    (folder / "events" / "month=2025-06" / "notes.txt").write_text("not a table")
    with pytest.raises(ContractError) as error:
        read_tables(config_for(make_config, str(folder)).source)
    message = str(error.value)
    assert "required table 'events' not found" in message and "events.parquet or events.csv or a folder events/ of Parquet files" in message


def test_a_damaged_file_in_a_partitioned_table_names_the_folder(make_config, tmp_path):
    folder = tmp_path / "hive"
    write_partitioned(folder)
    damaged = next((folder / "events").rglob("*.parquet"))
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    with pytest.raises(UnreadableSourceError) as error:
        load(config_for(make_config, str(folder)))
    assert f"{folder / 'events'}: cannot read this Parquet dataset (folder of files)" in str(error.value)


def test_a_url_is_no_duckdb_file(make_config):
    with pytest.raises(ConfigError, match="source.path: a DuckDB source is a local file, got the URL 's3://bucket/crm.duckdb'"):
        parse_config({"name": "t", "workspace": "w", "source": {"kind": "duckdb", "path": "s3://bucket/crm.duckdb"}})
