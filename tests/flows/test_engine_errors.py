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
