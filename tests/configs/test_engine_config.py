"""engine: local by default; dask with or without a scheduler address; bad values name the key."""

import pytest
import yaml

from configs import DEMO_CONFIG, ConfigError, load_config, parse_config


def with_engine(engine: dict) -> dict:
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["engine"] = engine
    return raw


def test_demo_config_runs_locally_with_16_buckets():
    engine = load_config().engine
    assert (engine.kind, engine.address, engine.partitions) == ("local", None, 16)


@pytest.mark.parametrize(
    ("engine", "address"),
    [({"kind": "dask"}, None), ({"kind": "dask", "address": "tcp://scheduler:8786"}, "tcp://scheduler:8786"), ({"kind": "dask", "address": "tls://10.0.0.5:8786"}, "tls://10.0.0.5:8786")],
)
def test_dask_engine_accepts_a_local_cluster_or_a_scheduler_address(engine, address):
    config = parse_config(with_engine(engine))
    assert (config.engine.kind, config.engine.address) == ("dask", address)


@pytest.mark.parametrize(
    ("engine", "expected"),
    [
        ({"kind": "spark"}, "engine.kind: Input should be 'local' or 'dask'"),
        ({"partitions": 0}, "engine.partitions: Input should be greater than or equal to 1"),
        ({"partitions": "many"}, "engine.partitions"),
        ({"kind": "dask", "address": "scheduler:8786"}, "engine.address: expected a Dask scheduler address"),
        ({"kind": "dask", "address": "tcp://scheduler"}, "engine.address: expected a Dask scheduler address"),
        ({"kind": "dask", "address": "tcp://scheduler:99999"}, "engine.address"),
        ({"kind": "dask", "address": "http://scheduler:8786"}, "engine.address"),
        ({"address": "tcp://scheduler:8786"}, "engine.address is set but engine.kind is 'local'"),
        ({"workers": 4}, "engine.workers: unknown key"),
    ],
)
def test_bad_engine_names_the_key(engine, expected):
    with pytest.raises(ConfigError) as err:
        parse_config(with_engine(engine))
    assert expected in str(err.value)
