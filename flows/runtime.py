"""Process-wide defaults and run dates, applied at the edges (CLI, flows), never at import."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from configs import Config

# No telemetry by default (docs/operations.md): users may still opt in by setting these themselves.
_QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",  # MLflow needs exactly "true"; Prefect's client honours it too
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # LightGBM's OpenMP threads spin while waiting: beside another busy process a 1 s fit took 40+ s (measured on a 2-core machine)
    "OMP_WAIT_POLICY": "PASSIVE",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",  # a cold PREFECT_HOME takes 10+ s to start
}


def apply_quiet_defaults() -> None:
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)


def use_workspace_prefect_home(config: Config) -> Path | None:
    """Point PREFECT_HOME at `<workspace>/prefect`, so that Prefect's database there holds this config's
    runs (`PREFECT_HOME=<workspace>/prefect prefect server start` shows them), unless the user chose a
    home or a server (PREFECT_HOME / PREFECT_API_URL). Must run before Prefect is imported; returns the
    home it set, or None. The user's Prefect profiles (~/.prefect/profiles.toml) stay in use."""
    if os.environ.get("PREFECT_HOME") or os.environ.get("PREFECT_API_URL"):
        return None
    default_profiles = Path.home() / ".prefect" / "profiles.toml"
    if default_profiles.is_file():
        os.environ.setdefault("PREFECT_PROFILES_PATH", str(default_profiles))
    home = (config.workspace / "prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)  # Prefect makes only the last level
    os.environ["PREFECT_HOME"] = str(home)
    return home


def simulated_today(config: Config) -> date | None:
    """The simulated 'today' when the source is a simulator's output folder, else None."""
    if config.source.kind != "files" or not isinstance(config.source.path, Path):  # a URL source is never the simulator's
        return None
    manifest = config.source.path / "simulation.json"
    if not manifest.is_file():
        return None
    return date.fromisoformat(json.loads(manifest.read_text())["today"])


def default_as_of(config: Config) -> date:
    """Today in the schedule's time zone; for simulated data, the simulated today."""
    return simulated_today(config) or datetime.now(ZoneInfo(config.schedule.timezone)).date()
