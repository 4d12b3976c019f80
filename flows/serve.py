"""`quietchurn serve`: the nightly, train and score deployments, served until stopped.

Prefect's temporary local server never runs the scheduler, so cron would never fire on it
(measured with Prefect 3.8): without a configured PREFECT_API_URL, serving starts a real `prefect server start`
whose database lives in the workspace, and stops it after the runner has stopped.
"""

from __future__ import annotations

import asyncio
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

from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.logging import get_logger
from prefect.runner import Runner
from prefect.schedules import Cron
from prefect.settings import PREFECT_API_URL, temporary_settings

from configs import Config, ConfigError, load_config
from flows.leftovers import clean_after_killed_runs
from flows.runtime import apply_quiet_defaults

DEFAULT_PORT = 4200
LOOPBACK = "127.0.0.1"


class ServerUnavailable(RuntimeError):
    """The Prefect server did not come up (or is not reachable) in time."""


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
    try:
        nightly_schedule = Cron(config.schedule.cron, timezone=config.schedule.timezone)
    except ValueError as exc:  # the config checks the field count; Prefect checks each field
        raise ConfigError(f"schedule.cron: {exc}") from None
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


def wait_until_healthy(healthy: Callable[[], bool], timeout_s: float, what: str, server: subprocess.Popen | None = None) -> None:
    """Block until `healthy()`; fail clearly on timeout, or as soon as the `server` we started dies."""
    deadline = time.monotonic() + timeout_s
    while not healthy():
        if server is not None and server.poll() is not None:
            raise ServerUnavailable(f"{what} exited with code {server.returncode} before it was healthy")
        if time.monotonic() > deadline:
            raise ServerUnavailable(f"{what} was not healthy within {timeout_s:.0f} s")
        time.sleep(0.5)


def _configured_api_healthy() -> bool:
    """The configured API's health check through Prefect's client (which sends the API key, if any)."""
    from prefect.client.orchestration import get_client

    async def check() -> bool:
        async with get_client() as client:
            return await client.api_healthcheck() is None

    return asyncio.run(check())


def _stop_server(process: subprocess.Popen, grace_s: float = 20.0) -> None:
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
        wait_until_healthy(lambda: _healthy(api_url), startup_timeout_s, f"the Prefect server at {api_url} (log: {log_path})", process)
        yield api_url
    finally:
        _stop_server(process)


READY = "runner started: waiting for scheduled and manual runs"


class _GracefulRunner(Runner):
    """A runner that SIGTERM and Ctrl-C stop the same way: in-flight runs cancelled, schedules paused.

    Prefect 3.8.8's own SIGTERM handler calls the async `stop` without awaiting it and exits from
    inside the event loop (a traceback, no cancellation); this schedules `astop` on the loop instead.
    """

    async def __aenter__(self):
        runner = await super().__aenter__()
        get_logger("runner").info(READY)
        return runner

    def handle_sigterm(self, *args: object) -> None:
        if not self.started:
            raise KeyboardInterrupt  # still registering deployments: nothing to cancel
        if self.stopping:
            return
        get_logger("runner").info("stopping: cancelling in-flight runs and pausing the schedules (takes a few seconds)")
        # threadsafe: wakes the loop now (a plain create_task waits out the poller's sleep, up to 10 s)
        self._stopping = asyncio.run_coroutine_threadsafe(self.astop(), asyncio.get_running_loop())


async def _run_until_stopped(runner: Runner) -> None:
    # Runner.start() installs the handler for SIGTERM only, and only once it has registered the
    # deployments: a SIGTERM in between would otherwise kill the process and orphan a local server
    signal.signal(signal.SIGTERM, runner.handle_sigterm)
    signal.signal(signal.SIGINT, runner.handle_sigterm)
    await runner.start()


@contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM, like Ctrl-C, unwinds whatever is starting (a local server stops too) and ends quietly."""

    def interrupt(*args: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve_deployments(served: list[RunnerDeployment], limit: int = 1) -> None:
    """`prefect.serve` with a graceful stop. `limit` runs at once across all served deployments."""
    runner = _GracefulRunner(pause_on_shutdown=True, limit=limit)
    for deployment in served:
        runner.add_deployment(deployment)
    try:
        asyncio.run(_run_until_stopped(runner))
    except KeyboardInterrupt:
        pass


def _packages_ahead_of_the_working_directory() -> None:
    """Served runs execute in child processes, and Prefect imports the flows there with the working
    directory first on sys.path: a user's own `configs/` folder of YAML files (as the README lays it
    out) would then stand in for this package's `configs` as an empty namespace package under an
    editable install, and every served run would crash on import. PYTHONPATH naming the folder that
    holds the packages puts the real ones on the path: a regular package beats a namespace portion."""
    import configs

    root = str(Path(configs.__file__).resolve().parents[1])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])


def serve_forever(
    config_path: str | Path, port: int | None = None, announce: Callable[[str], None] = print, startup_timeout_s: float = 60.0
) -> None:
    """Serve the deployments of a config until SIGTERM or Ctrl-C, on PREFECT_API_URL or a local server.

    One run at a time in this process (`limit=1`): nightly, train and score share the sink and the
    MLflow store. With a local server, the runner stops first, then the server.
    """
    apply_quiet_defaults()
    _packages_ahead_of_the_working_directory()
    config = load_config(config_path)
    served = deployments(config, config_path)
    for line in clean_after_killed_runs(config):  # and holds the workspace while serving (flows/leftovers.py)
        announce(f"Cleaned after a killed run: {line}")
    with _stopped_by_sigterm(), ExitStack() as stack:
        api_url = PREFECT_API_URL.value()
        if api_url:
            announce(f"Using the Prefect server at {api_url} (PREFECT_API_URL).")
            wait_until_healthy(_configured_api_healthy, startup_timeout_s, f"the Prefect server at {api_url}")  # may still be booting
        else:
            home = config.workspace / "prefect"
            announce(f"Starting a local Prefect server (PREFECT_HOME={home}) ...")
            api_url = stack.enter_context(local_server(home, port, startup_timeout_s))
            stack.enter_context(temporary_settings({PREFECT_API_URL: api_url}))
            announce(f"Prefect UI: {api_url.removesuffix('/api')}  (API: {api_url})")
        announce(
            f"Serving nightly/{config.name} on '{config.schedule.cron}' ({config.schedule.timezone}); "
            f"train/{config.name} and score/{config.name} on demand. Stop with Ctrl-C or SIGTERM."
        )
        announce(f"Trigger a run: PREFECT_API_URL={api_url} prefect deployment run 'nightly/{config.name}' --param retrain=true")
        serve_deployments(served, limit=1)
