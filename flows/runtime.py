"""Process-wide defaults and run dates, applied at the edges (CLI, flows), never at import."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

from configs import Config

# No telemetry by default (STACK_NOTES): users may still opt in by setting these themselves.
_QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",  # MLflow needs exactly "true"; Prefect's client honours it too
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # LightGBM's OpenMP threads spin while waiting: beside another busy process a 1 s fit took 40+ s (STACK_NOTES)
    "OMP_WAIT_POLICY": "PASSIVE",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",  # a cold PREFECT_HOME takes 10+ s to start
}


def apply_quiet_defaults() -> None:
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)


def simulated_today(config: Config) -> date | None:
    """The simulated 'today' when the source is a simulator's output folder, else None."""
    if config.source.kind != "files" or config.source.path is None:
        return None
    manifest = config.source.path / "simulation.json"
    if not manifest.is_file():
        return None
    return date.fromisoformat(json.loads(manifest.read_text())["today"])


def default_as_of(config: Config) -> date:
    """Today in the schedule's time zone; for simulated data, the simulated today."""
    return simulated_today(config) or datetime.now(ZoneInfo(config.schedule.timezone)).date()
