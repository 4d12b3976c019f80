"""`quietchurn serve` against a real local Prefect server (the temporary one never fires cron).

One `quietchurn serve` process, with the server it starts itself, for the module; the last test of
that group stops it with SIGTERM. Serving against an existing server (PREFECT_API_URL) is tested apart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from configs import DEMO_CONFIG, ConfigError, load_config
from flows.serve import READY, deployments, free_port, local_server

CRON, TIMEZONE = "30 3 * * *", "Europe/Paris"
SERVE_STARTUP_S = 90


@dataclass
class Served:
    api_url: str
    config_path: Path
    name: str
    today: date
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()

    def tail(self) -> str:
        return self.log()[-4000:]


def _client_call(served: Served, call):
    """Run `call(client)` against the served API (whatever API another fixture set for this process)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def run():
        async with get_client() as client:
            return await call(client)

    with temporary_settings({PREFECT_API_URL: served.api_url}):
        return asyncio.run(run())


def _wait_for(condition, timeout_s: float, what: str, served: Served):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            pytest.fail(f"serve exited with {served.process.returncode} while waiting for {what}:\n{served.tail()}")
        if value := condition():
            return value
        time.sleep(1)
    pytest.fail(f"no {what} within {timeout_s:.0f} s:\n{served.tail()}")


def _write_config(folder: Path, data: Path) -> Path:
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["name"] = "servetest"
    raw["workspace"] = str(folder / "workspace")
    raw["source"]["path"] = str(data)
    raw["sink"]["path"] = str(folder / "scores.duckdb")
    raw["mlflow"] = {"tracking_uri": f"sqlite:///{folder / 'mlflow.db'}"}
    raw["scoring"]["capacity"] = 50
    raw["schedule"] = {"cron": CRON, "timezone": TIMEZONE}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def _quiet_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return env | {
        "PREFECT_HOME": str(folder / "prefect-client"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",  # default 10 s between looks for runs to start
        "OMP_WAIT_POLICY": "PASSIVE",  # LightGBM's threads otherwise spin on a busy box
    }


def _start_serve(folder: Path, config_path: Path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen, Path]:
    log_path = folder / "serve.log"
    # the user's folder as the README lays it out: their own configs/ of YAML files beside the data
    (folder / "configs").mkdir(exist_ok=True)
    (folder / "configs" / "acme.yaml").write_text("name: acme\n")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "quietchurn"), "serve", "--config", str(config_path), *args],
            env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
        )
    return process, log_path


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_world) -> Iterator[Served]:
    """`quietchurn serve --port P` with no PREFECT_API_URL: it starts (and stops) a server of its own."""
    folder = tmp_path_factory.mktemp("serve")
    config_path = _write_config(folder, tiny_world[0])
    port = free_port()
    process, log_path = _start_serve(folder, config_path, _quiet_env(folder), "--port", str(port))
    handle = Served(f"http://127.0.0.1:{port}/api", config_path, "servetest", tiny_world[1], process, log_path)
    try:
        _wait_for(lambda: READY in handle.log() and _deployments(handle), SERVE_STARTUP_S, "served deployments", handle)
        yield handle
    finally:
        _stop(process)
    assert not _answers(f"{handle.api_url}/health"), "serve left its Prefect server running"


def test_deployments_are_named_after_the_config_and_only_nightly_is_scheduled(make_config, tmp_path):
    config = make_config(schedule={"cron": CRON, "timezone": TIMEZONE})
    built = {d.flow_name: d for d in deployments(config, tmp_path / "acme.yaml")}
    assert {flow: d.name for flow, d in built.items()} == {"nightly": "test", "train": "test", "score": "test"}
    assert [(s.schedule.cron, s.schedule.timezone) for s in built["nightly"].schedules] == [(CRON, TIMEZONE)]
    assert built["train"].schedules == [] and built["score"].schedules == []
    for d in built.values():
        assert d.parameters == {"config_path": str((tmp_path / "acme.yaml").resolve())}
        assert d.concurrency_limit == 1 and d.entrypoint.startswith("flows.pipeline.")


def test_a_cron_prefect_cannot_read_is_a_config_error_naming_the_key(make_config, tmp_path):
    config = make_config(schedule={"cron": "61 2 * * *"})  # five fields, so the config schema lets it through
    with pytest.raises(ConfigError, match="schedule.cron"):
        deployments(config, tmp_path / "acme.yaml")


def _deployments(served: Served) -> dict | None:
    from prefect.exceptions import ObjectNotFound

    async def read(client):
        try:
            return {f: await client.read_deployment_by_name(f"{f}/{served.name}") for f in ("nightly", "train", "score")}
        except ObjectNotFound:
            return None

    return _client_call(served, read)


def _scheduled_runs(served: Served, deployment_id) -> list:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    return _client_call(
        served,
        lambda client: client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
        ),
    )


def test_nightly_is_served_on_the_configured_cron_and_the_scheduler_plans_it(served):
    deployments = _deployments(served)
    nightly = deployments["nightly"]
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in nightly.schedules] == [(CRON, TIMEZONE, True)]
    for flow_name, deployment in deployments.items():
        assert deployment.parameters == {"config_path": str(served.config_path.resolve())}, flow_name
        assert deployment.global_concurrency_limit.limit == 1, flow_name
        assert deployment.enforce_parameter_schema, flow_name
    assert deployments["train"].schedules == [] and deployments["score"].schedules == []

    runs = _wait_for(lambda: _scheduled_runs(served, nightly.id), 60, "scheduled nightly run", served)
    first = min(run.expected_start_time for run in runs).astimezone(ZoneInfo(TIMEZONE))
    assert (first.hour, first.minute) == (3, 30)  # 03:30 in Paris, whatever the server's zone


def test_a_parameter_of_the_wrong_type_is_refused_before_any_run(served):
    from prefect.exceptions import PrefectHTTPStatusError

    nightly = _deployments(served)["nightly"]
    with pytest.raises(PrefectHTTPStatusError, match="retrain"):
        _client_call(served, lambda client: client.create_flow_run_from_deployment(nightly.id, parameters={"retrain": "maybe"}))


@pytest.mark.slow
def test_manual_runs_with_parameters_complete_one_at_a_time(served):
    """Parameters as `prefect deployment run --param` sends them (a date as text); runs never overlap."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from models.registry import champion_version, client_for, promote
    from sinks import open_sink

    config = load_config(served.config_path)
    as_of = served.today.isoformat()
    with temporary_settings({PREFECT_API_URL: served.api_url}):
        train = run_deployment(f"train/{served.name}", parameters={"as_of": as_of}, timeout=0)
        state = _wait_for(lambda: _final_state(served, train.id), 600, "finished train run", served)
        assert state.is_completed(), f"{state}\n{served.tail()}"
        client = client_for(config)
        if champion_version(client, config.registered_model_name) is None:  # a world this small may not pass the gate
            latest = max(int(v.version) for v in client.search_model_versions(f"name='{config.registered_model_name}'"))
            promote(client, config.registered_model_name, str(latest))
        # triggered together: serve's limit=1 runs them one after the other (DuckDB has a single writer)
        nightly = run_deployment(f"nightly/{served.name}", parameters={"as_of": as_of, "retrain": True}, timeout=0)
        score = run_deployment(f"score/{served.name}", parameters={"as_of": as_of}, timeout=0)
        for run in (nightly, score):
            state = _wait_for(lambda r=run: _final_state(served, r.id), 600, f"finished {run.name} run", served)
            assert state.is_completed(), f"{state}\n{served.tail()}"
    runs = sorted((_client_call(served, lambda c, i=run.id: c.read_flow_run(i)) for run in (nightly, score)), key=lambda r: r.start_time)
    assert runs[0].end_time <= runs[1].start_time
    assert open_sink(config.sink).read_scores(served.today).height > 0


def _final_state(served: Served, flow_run_id):
    run = _client_call(served, lambda client: client.read_flow_run(flow_run_id))
    return run.state if run.state.is_final() else None


def test_a_served_run_with_an_as_of_beyond_the_data_fails_before_any_work(served):
    """The deployments call the same flows: `--param as_of=` past the data is refused, naming its end."""
    from datetime import timedelta

    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from sinks import open_sink

    config = load_config(served.config_path)
    beyond = served.today + timedelta(days=30)
    with temporary_settings({PREFECT_API_URL: served.api_url}):
        run = run_deployment(f"nightly/{served.name}", parameters={"as_of": beyond.isoformat()}, timeout=0)
        state = _wait_for(lambda: _final_state(served, run.id), 300, "finished nightly run", served)
    assert state.is_failed(), f"{state}\n{served.tail()}"
    assert f"as-of {beyond} is beyond the data: the newest event is" in (state.message or "") + served.log()
    assert not (config.workspace / "snapshots" / beyond.isoformat()).exists()
    assert open_sink(config.sink).read_scores(beyond).is_empty()


# Runs last of the tests on `served`: it stops the instance they share.
def test_serve_shows_its_ui_then_sigterm_stops_the_runner_and_its_server(served):
    port = served.api_url.split(":")[-1].removesuffix("/api")
    assert f"Prefect UI: http://127.0.0.1:{port}" in served.log()
    assert _answers(f"http://127.0.0.1:{port}/")  # the UI (served offline)
    workspace = load_config(served.config_path).workspace
    assert (workspace / "prefect" / "prefect.db").is_file()  # run history lives in the workspace

    started = time.monotonic()
    assert _stop(served.process) == 0, served.tail()
    assert time.monotonic() - started < 60
    assert "All deployments have been paused!" in served.log()
    assert not _answers(f"{served.api_url}/health")


@pytest.mark.slow
def test_with_an_api_url_serve_uses_that_server_and_leaves_it_running(tmp_path, tiny_world):
    config_path = _write_config(tmp_path, tiny_world[0])
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    # serve first: it waits for a server that is still booting
    process, log_path = _start_serve(tmp_path, config_path, _quiet_env(tmp_path) | {"PREFECT_API_URL": api_url})
    served = Served(api_url, config_path, "servetest", tiny_world[1], process, log_path)
    try:
        with local_server(tmp_path / "prefect-server", port):
            _wait_for(lambda: READY in served.log() and _deployments(served), SERVE_STARTUP_S, "served deployments", served)
            assert f"Using the Prefect server at {api_url}" in served.log() and "Prefect UI:" not in served.log()
            assert _stop(process) == 0, served.tail()
            assert _answers(f"{api_url}/health")  # not ours to stop
            assert _deployments(served)["nightly"].paused
    finally:
        _stop(process)
    assert not _answers(f"{api_url}/health")
