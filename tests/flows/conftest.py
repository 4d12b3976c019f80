"""One Prefect test harness and one tiny simulated world for the flow tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml

from configs import DEMO_CONFIG


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory) -> Iterator[None]:
    """A throwaway Prefect API for every flow test (starting one costs seconds: once per session)."""
    import os

    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> tuple[Path, date]:
    """1,500 customers over 300 days: enough history for 6 monthly snapshots plus 90-day windows."""
    from simulator import write_world

    out = tmp_path_factory.mktemp("world") / "data"
    summary = write_world(out, customers=1500, days=300, seed=3)
    return out, summary.today


@pytest.fixture
def flow_config(tmp_path: Path, tiny_world) -> Callable[..., Path]:
    """Write a config for the tiny world into tmp_path and return its path; ``sections`` override keys."""

    def write(**sections: dict) -> Path:
        raw = yaml.safe_load(DEMO_CONFIG.read_text())
        raw["workspace"] = str(tmp_path / "workspace")
        raw["source"]["path"] = str(tiny_world[0])
        raw["sink"]["path"] = str(tmp_path / "scores.duckdb")
        raw["mlflow"] = {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}
        raw["scoring"]["capacity"] = 50
        for section, values in sections.items():
            raw[section] = {**raw.get(section, {}), **values} if isinstance(values, dict) else values
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(raw))
        return path

    return write
