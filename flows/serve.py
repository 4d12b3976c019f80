"""`quietchurn serve`: the nightly, train and score deployments, served until stopped.

Prefect's temporary local server never runs the scheduler, so cron would never fire on it
(STACK_NOTES): without a configured PREFECT_API_URL, serving starts a real `prefect server start`
whose database lives in the workspace, and stops it after the runner has stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from prefect import serve
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL, temporary_settings

from configs import Config, load_config
from flows.runtime import apply_quiet_defaults

DEFAULT_PORT = 4200
LOOPBACK = "127.0.0.1"


def deployments(config: Config, config_path: str | Path) -> list[RunnerDeployment]:
    """nightly on the configured cron and time zone; train and score for manual runs only.

    Each is named after the config (`nightly/<name>`) and allows one run at a time: runs share one
    sink and one MLflow store, and a second run of the same flow would collide with the first.
    """
    from flows import pipeline

    defaults = {
        "name": config.name,
        "parameters": {"config_path": str(Path(config_path).resolve())},
        "concurrency_limit": 1,
        "tags": ["quietchurn"],
        # module path, not file path: runs load `flows.pipeline` from the installed package, whatever the cwd
        "entrypoint_type": EntrypointType.MODULE_PATH,
    }
    nightly_schedule = Cron(config.schedule.cron, timezone=config.schedule.timezone)
    return [
        pipeline.nightly.to_deployment(schedule=nightly_schedule, **defaults),
        pipeline.train.to_deployment(**defaults),
        pipeline.score_flow.to_deployment(**defaults),
    ]


def free_port(preferred: int | None = None) -> int:
    """`preferred` when nothing listens on it, else a port the OS says is free."""
    if preferred is not None:
        with socket.socket() as probe:
            if probe.connect_ex((LOOPBACK, preferred)) != 0:
                return preferred
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM the server's process group (it is its own session), then SIGKILL if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def local_server(home: Path, port: int | None = None, startup_timeout_s: float = 60.0) -> Iterator[str]:
    """A real Prefect server (scheduler on) on 127.0.0.1 with PREFECT_HOME=`home`; yields its API URL.

    Output goes to `home`/server.log. The server runs in its own session so that a Ctrl-C aimed at
    the terminal reaches the runner first; it is stopped when the block exits.
    """
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port(DEFAULT_PORT)
    api_url = f"http://{LOOPBACK}:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true"}
    env.pop("PREFECT_API_URL", None)
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", LOOPBACK, "--port", str(port), "--analytics-off"]
    log_path = home / "server.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not _healthy(api_url):
            if process.poll() is not None:
                raise RuntimeError(f"the Prefect server exited with code {process.returncode} before it was healthy; see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server was not healthy within {startup_timeout_s:.0f} s at {api_url}; see {log_path}")
            time.sleep(0.25)
        yield api_url
    finally:
        _stop(process)


def serve_forever(config_path: str | Path, port: int | None = None, announce: Callable[[str], None] = print) -> None:
    """Serve the deployments of a config until SIGTERM or Ctrl-C, on PREFECT_API_URL or a local server.

    With a local server, the runner stops first (SIGTERM and Ctrl-C both end `serve`), then the server.
    """
    apply_quiet_defaults()
    config = load_config(config_path)
    served = deployments(config, config_path)
    with ExitStack() as stack:
        api_url = PREFECT_API_URL.value()
        if api_url:
            announce(f"Using the Prefect server at {api_url} (PREFECT_API_URL).")
        else:
            home = config.workspace / "prefect"
            announce(f"Starting a local Prefect server (PREFECT_HOME={home}) ...")
            api_url = stack.enter_context(local_server(home, port))
            stack.enter_context(temporary_settings({PREFECT_API_URL: api_url}))
            announce(f"Prefect UI: {api_url.removesuffix('/api')}  (API: {api_url})")
        schedule = f"{config.schedule.cron} ({config.schedule.timezone})"
        announce(f"Serving nightly/{config.name} on '{schedule}', train/{config.name} and score/{config.name} on demand.")
        announce(f"Trigger a run: PREFECT_API_URL={api_url} prefect deployment run 'nightly/{config.name}' --param retrain=true")
        serve(*served, limit=1, print_starting_message=False)
