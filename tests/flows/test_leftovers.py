"""What a killed run leaves is cleaned by the next one, and only when no other run is alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from configs import load_config
from flows import leftovers, watchdog
from flows.runtime import use_workspace_prefect_home


def holding_the_workspace(workspace: Path) -> subprocess.Popen:
    """Another live quietchurn-like process: it holds the workspace's shared lock until killed."""
    code = (
        "import sys, time; from pathlib import Path; from flows.leftovers import hold_workspace; "
        f"hold_workspace(Path({str(workspace)!r})); print('held', flush=True); time.sleep(120)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def make_leftovers(config) -> list[Path]:
    workspace = config.workspace
    made = [
        workspace / "snapshots" / ".staging-0123abcd",
        workspace / "snapshots" / ".old-4567ef",
        workspace / ".staging-89ab",
        config.sink.path / ".staging" / "cdef0123",
    ]
    for folder in made:
        folder.mkdir(parents=True)
        (folder / "events.parquet").write_bytes(b"half a file")
    temp = workspace / "features" / ".as_of=2025-06-01.parquet.0a1b2c"
    temp.parent.mkdir(parents=True, exist_ok=True)
    temp.write_bytes(b"half a frame")
    return [*made, temp]


def keepers(config) -> list[Path]:
    """What a finished run leaves and nobody may remove."""
    workspace = config.workspace
    kept = [workspace / "snapshots" / "2025-06-01" / "manifest.json", workspace / "features" / "as_of=2025-06-01.parquet",
            config.sink.path / "churn_scores" / "as_of=2025-06-01" / "part-0.parquet"]
    for path in kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    return kept


def test_the_next_run_removes_staging_left_by_a_killed_run_and_keeps_finished_work(flow_config, tmp_path):
    config = load_config(flow_config(sink={"kind": "parquet", "path": str(tmp_path / "sink")}))
    kept = keepers(config)
    left = make_leftovers(config)
    cleaned = leftovers.clean_after_killed_runs(config)
    try:
        assert sorted(cleaned) == sorted(f"removed {p}" for p in left)
        assert not any(p.exists() for p in left)
        assert all(p.exists() for p in kept)
        assert leftovers.clean_after_killed_runs(config) == []  # already held by this process: nothing twice
    finally:
        leftovers.release_workspace(config.workspace)


def test_staging_of_a_live_run_is_left_alone(flow_config, tmp_path):
    config = load_config(flow_config(sink={"kind": "parquet", "path": str(tmp_path / "sink")}))
    left = make_leftovers(config)
    other = holding_the_workspace(config.workspace)
    try:
        assert leftovers.clean_after_killed_runs(config) == []
        assert all(p.exists() for p in left)
    finally:
        other.kill()
        other.wait()
        leftovers.release_workspace(config.workspace)
    # the other run is gone (killed: the OS dropped its lock), so now they are leftovers
    assert len(leftovers.clean_after_killed_runs(config)) == len(left)
    leftovers.release_workspace(config.workspace)


def test_mlflow_runs_left_running_are_failed_and_ungated_versions_tagged(flow_config):
    from mlflow.entities import RunStatus

    from models.registry import client_for, ensure_experiment

    config = load_config(flow_config())
    client = client_for(config)
    experiment = ensure_experiment(client, config)
    killed = client.create_run(experiment, run_name="train-2025-06-01").info.run_id  # never terminated
    finished = client.create_run(experiment, run_name="train-2025-05-01").info.run_id
    client.set_terminated(finished, "FINISHED")
    client.create_registered_model(config.registered_model_name)
    gated = client.create_model_version(config.registered_model_name, "file:///nowhere", run_id=finished).version
    client.set_model_version_tag(config.registered_model_name, gated, "gate", "test_pr_auc 0.31 beats ...")
    ungated = client.create_model_version(config.registered_model_name, "file:///nowhere", run_id=killed).version

    done = leftovers.settle_mlflow(config)
    assert len(done) == 2, done
    assert client.get_run(killed).info.status == RunStatus.to_string(RunStatus.FAILED)
    assert client.get_run(killed).data.tags["quietchurn.cleanup"] == leftovers.STOPPED
    assert client.get_run(finished).info.status == "FINISHED"
    assert client.get_model_version(config.registered_model_name, ungated).tags["gate"] == leftovers.NO_GATE
    assert client.get_model_version(config.registered_model_name, gated).tags["gate"].startswith("test_pr_auc")
    assert leftovers.settle_mlflow(config) == []  # nothing left the second time


def test_a_missing_mlflow_store_is_not_created_by_the_cleanup(flow_config, tmp_path):
    config = load_config(flow_config())
    assert leftovers.settle_mlflow(config) == []
    assert not (tmp_path / "mlflow.db").exists()


def test_duckdb_replays_its_wal_after_a_killed_writer(tmp_path):
    """DuckDB's .wal is its recovery log, not a leftover: committed rows survive a SIGKILL."""
    path = tmp_path / "scores.duckdb"
    writer = (
        "import duckdb, os, signal; c = duckdb.connect(%r); c.execute('create table t (x int)'); "
        "c.execute('insert into t values (1), (2), (3)'); os.kill(os.getpid(), signal.SIGKILL)" % str(path)
    )
    assert subprocess.run([sys.executable, "-c", writer], check=False).returncode == -signal.SIGKILL
    assert Path(f"{path}.wal").exists()
    with duckdb.connect(str(path)) as connection:
        assert connection.execute("select sum(x) from t").fetchall() == [(6,)]
    assert not Path(f"{path}.wal").exists()  # checkpointed on a clean close


def test_prefect_home_goes_to_the_workspace_unless_the_user_chose(flow_config, monkeypatch):
    config = load_config(flow_config())
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)  # restored afterwards, whatever the call sets
    for chosen in ({}, {"PREFECT_HOME": "/elsewhere"}, {"PREFECT_API_URL": "http://127.0.0.1:4200/api"}):
        monkeypatch.delenv("PREFECT_HOME", raising=False)
        monkeypatch.delenv("PREFECT_API_URL", raising=False)
        for key, value in chosen.items():
            monkeypatch.setenv(key, value)
        home = use_workspace_prefect_home(config)
        if chosen:
            assert home is None and os.environ.get("PREFECT_HOME") == chosen.get("PREFECT_HOME")
        else:
            assert home == (config.workspace / "prefect").resolve() and os.environ["PREFECT_HOME"] == str(home)
            assert home.is_dir()


def test_the_watchdog_stops_marked_children_of_a_killed_parent_only():
    """A parent with two children, one marked; SIGKILL the parent: the marked child goes, the other stays."""
    parent_code = (
        "import subprocess, sys, time; from flows.watchdog import guard_children; "
        "marked = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', 'quietchurn-test-marker']); "
        "plain = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
        "guard_children('quietchurn-test-marker'); print(marked.pid, plain.pid, flush=True); time.sleep(120)"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    marked, plain = map(int, parent.stdout.readline().split())
    try:
        time.sleep(2 * watchdog.POLL_S + 0.5)  # the watchdog has looked at the children at least once
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 15
        while _alive(marked) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(marked)
        assert _alive(plain)
    finally:
        for pid in (marked, plain):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_sigkilled_run_does_not_leave_prefect_s_temporary_server_behind(flow_config, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    cli = subprocess.Popen([sys.executable, "-m", "flows.cli", "run", "ingest", "--config", str(flow_config())], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, servers = time.monotonic() + 120, {}
        while not servers and time.monotonic() < deadline and cli.poll() is None:
            servers = watchdog.matching_children(cli.pid, watchdog.PREFECT_SERVER_MARKER)
            time.sleep(0.2)
        assert servers, "the temporary Prefect server never started"
        cli.kill()
        cli.wait()
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in servers)
    finally:
        if cli.poll() is None:
            cli.kill()
