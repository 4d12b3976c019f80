"""What a killed run leaves behind, and how the next run cleans it (docs/operations.md).

A run killed with SIGKILL (or by a power cut) cannot clean up after itself: staging folders of a
half-written snapshot or Parquet sink date, an MLflow run left RUNNING, a registered model version
the gate never looked at. Every `quietchurn run`/`serve`/`demo` holds a shared lock on
`<workspace>/.lock` while it lives (the OS drops it when a process dies, however it dies); the one
that finds nobody else holding it knows that whatever is staged was left by a dead run, and cleans.

DuckDB's `<file>.wal` is not a leftover: it is DuckDB's own log of committed writes, replayed the next
time the file is opened.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from configs import Config

NO_GATE = "no gate decision: the training that registered this version stopped before the gate ran; not promoted"
STOPPED = "stopped before it finished (process killed); marked FAILED by the next run"

_held: dict[Path, int] = {}  # lock files this process holds, kept open for its lifetime


def hold_workspace(workspace: Path) -> bool:
    """Take this process's shared lock on the workspace; True when no other quietchurn process holds it
    (then this one may clean). Idempotent: a second call reports what the first found."""
    path = (workspace / ".lock").resolve()
    if path in _held:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        alone = True
    except BlockingIOError:
        alone = False
    fcntl.flock(fd, fcntl.LOCK_SH)  # from exclusive: converts; otherwise waits out another's brief cleaning
    _held[path] = fd
    return alone


def release_workspace(workspace: Path) -> None:
    fd = _held.pop((workspace / ".lock").resolve(), None)
    if fd is not None:
        os.close(fd)


def staged_leftovers(config: Config) -> list[Path]:
    """Staging folders and temporary files that only a run still in progress would need."""
    workspace = config.workspace
    found = [
        *workspace.glob(".staging-*"),  # check-data's scratch snapshot
        *(workspace / "snapshots").glob(".staging-*"),  # an ingest's snapshot being written
        *(workspace / "snapshots").glob(".old-*"),  # the snapshot a commit was replacing
        *(p for p in (workspace / "features").glob(".*") if p.is_file()),  # a feature frame being written
    ]
    if config.sink.kind == "parquet" and config.sink.path is not None:
        found += (config.sink.path / ".staging").glob("*")
    return sorted(found)


def remove_staged(config: Config) -> list[str]:
    removed = []
    for path in staged_leftovers(config):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(f"removed {path}")
    return removed


def _store_exists(config: Config) -> bool:
    """A local MLflow store that was never created has nothing to clean (and must not be created here)."""
    uri = config.tracking_uri
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).exists()
    if uri.startswith("file:"):
        return Path(uri.removeprefix("file://").removeprefix("file:")).exists()
    return True


def settle_mlflow(config: Config) -> list[str]:
    """Runs of this config's experiment left RUNNING become FAILED; versions with no gate decision get one."""
    if not _store_exists(config):
        return []
    from mlflow import MlflowClient
    from mlflow.entities import RunStatus
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)
    done = []
    experiment = client.get_experiment_by_name(config.experiment_name)
    if experiment is not None:
        for run in client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'"):
            client.set_tag(run.info.run_id, "quietchurn.cleanup", STOPPED)
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
            done.append(f"MLflow run {run.info.run_id} ({run.info.run_name}) was left RUNNING: marked FAILED")
    try:
        versions = client.search_model_versions(f"name = '{config.registered_model_name}'")
    except MlflowException:
        versions = []
    for version in versions:
        if "gate" not in version.tags:
            client.set_model_version_tag(config.registered_model_name, version.version, "gate", NO_GATE)
            done.append(f"model {config.registered_model_name} version {version.version} had no gate decision: tagged, not promoted")
    return done


def clean_after_killed_runs(config: Config) -> list[str]:
    """Clean what dead runs left, when this process is the only quietchurn process on the workspace.

    Returns one line per thing cleaned (empty when nothing was left, or another run is alive).
    """
    if not hold_workspace(config.workspace):
        return []
    return [*remove_staged(config), *settle_mlflow(config)]
