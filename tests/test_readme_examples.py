"""Every shell example in README.md and in every command's `--help` runs, as written, on a small
simulated world: in a fresh folder (with `.venv` linked and `configs/` copied), after the README's
own setup (`quietchurn demo`, here on 1,500 customers), each command runs in a shell where the
README's `. .venv/bin/activate` was sourced, and must exit 0.

What the test changes in a command, and why, is listed in one place (`_as_run`): ports (other
servers may hold 5000 and 4200 on a shared machine) and the DSNs of the own-data block (our test
database stands in for the user's warehouse). What it does not run is listed in `NOT_RUN` with the
reason. Servers (`mlflow ui`, `prefect server start`, `quietchurn serve`) are started, waited on
until they answer, used, and stopped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
CUSTOMERS = 1500  # the README's demo world, made small: same code paths, seconds instead of minutes
COMMAND_TIMEOUT_S = 600
SERVER_STARTUP_S = 90
ENV_PREFIX = r"(?:[A-Z][A-Z0-9_]*=\S+\s+)*"
COMMAND_START = re.compile(rf"^{ENV_PREFIX}(?:quietchurn|prefect|mlflow)\s")
# where a command starts inside a line: more than one means the help rendered its examples as a paragraph
STARTS = re.compile(rf"(?<!\S){ENV_PREFIX}(?:quietchurn|prefect|mlflow)\s")

# Examples not executed, each with the reason (the command without its comment, as a regex -> why).
NOT_RUN = {
    r"python3 -m venv .*": "installs the package: CI (.ci/run) runs it in a fresh environment, then the test command; "
    "the `quietchurn demo` it ends with is the setup here, on 1,500 customers",
    r"quietchurn demo": "the 20,000-customer default: the same code path as the setup here "
    "(`quietchurn demo --customers 1500`), minutes instead of seconds",
}


@dataclass(frozen=True)
class Example:
    where: str  # README.md:LINE or `quietchurn CMD --help`
    command: str  # one shell line, or a whole block where its lines share state (exports)
    kind: str = "bash"  # bash | python


@dataclass
class World:
    """The folder the examples run in, and what they left running or found wrong."""

    cwd: Path
    env: dict[str, str]
    failures: list[str] = field(default_factory=list)

    def fail(self, example: Example, why: str) -> None:
        self.failures.append(f"{example.where}: {example.command}\n    {why}")


# --- collecting the examples -------------------------------------------------------------------------


def readme_examples(text: str) -> list[Example]:
    """Each command of the README's ```bash blocks (continuation lines joined) and each ```python block.

    A block that exports variables is one example: its later lines need them.
    """
    examples = []
    for match in re.finditer(r"^```(bash|python)\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        line = text.count("\n", 0, match.start()) + 2
        kind, body = match.group(1), match.group(2)
        if kind == "python":
            examples.append(Example(f"README.md:{line}", body, "python"))
            continue
        commands = [c.strip() for c in body.replace("\\\n", " ").splitlines()]
        commands = [c for c in commands if c and not c.startswith("#")]
        if any(c.startswith("export ") for c in commands):
            examples.append(Example(f"README.md:{line}", "\n".join(commands)))
        else:
            examples += [Example(f"README.md:{line}", c) for c in commands]
    return examples


def help_examples(help_text: str, where: str) -> tuple[list[Example], bool]:
    """The commands in the "Example(s):" section of a rendered `--help`, and whether they ran together
    on one line (the help shows them as a paragraph instead of one per line)."""
    section = re.search(r"^\s*Examples?:\s*$(.*?)(?=^\s*[╭─]|\Z)", help_text, re.MULTILINE | re.DOTALL)
    if not section:
        return [], False
    examples, run_on = [], False
    for line in section.group(1).splitlines():
        line = line.strip().strip("│").strip()
        if not COMMAND_START.match(line):
            continue
        starts = [m.start() for m in STARTS.finditer(line)]
        parts = [line[a:b] for a, b in zip(starts, [*starts[1:], len(line)])]
        run_on |= len(parts) > 1
        examples += [Example(where, part.strip()) for part in parts]
    return examples, run_on


def command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the CLI, root first: ('',), ('run',), ('run', 'ingest'), …"""
    import typer.main

    from flows.cli import app

    def walk(command, path):
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app), ()))


def rendered_help(path: tuple[str, ...]) -> str:
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "quietchurn"), *path, "--help"],
        capture_output=True, text=True, timeout=120, env=os.environ | {"COLUMNS": "250", "TERM": "dumb"},
    )
    assert result.returncode == 0, f"quietchurn {' '.join(path)} --help exited {result.returncode}: {result.stderr[-2000:]}"
    return result.stdout


# --- the collectors on their own: they find what is there and nothing else ----------------------------


def test_readme_examples_are_found_one_per_command():
    text = "intro\n```bash\nquietchurn a --x 1   # note\n\n# a comment\nquietchurn b \\\n  --y 2\n```\n" \
           "```bash\nexport A=1\nquietchurn c\n```\n```python\nprint(1)\n```\n```yaml\nkey: 1\n```\n"
    found = readme_examples(text)
    assert [(e.where, e.command, e.kind) for e in found] == [
        ("README.md:3", "quietchurn a --x 1   # note", "bash"),
        ("README.md:3", "quietchurn b    --y 2", "bash"),
        ("README.md:10", "export A=1\nquietchurn c", "bash"),
        ("README.md:14", "print(1)\n", "python"),
    ]


def test_help_examples_one_per_line_and_a_paragraph_is_noticed():
    one_per_line = " Examples:\n\n   quietchurn demo   # all of it\n   PREFECT_API_URL=http://h/api quietchurn serve -c x.yaml\n" \
                   "   prefect deployment run 'score/demo'\n\n╭─ Options ─╮\n│ quietchurn not-an-example │\n"
    found, run_on = help_examples(one_per_line, "h")
    assert [e.command for e in found] == [
        "quietchurn demo   # all of it", "PREFECT_API_URL=http://h/api quietchurn serve -c x.yaml", "prefect deployment run 'score/demo'",
    ]
    assert not run_on
    paragraph = " Examples:\n\n quietchurn demo  # all of it quietchurn simulate --out d/ quietchurn scores -c x\n"
    found, run_on = help_examples(paragraph, "h")
    assert [e.command for e in found] == ["quietchurn demo  # all of it", "quietchurn simulate --out d/", "quietchurn scores -c x"]
    assert run_on
    assert help_examples(" Usage: quietchurn run\n", "h") == ([], False)


# --- running them ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def user_env(home: Path) -> dict[str, str]:
    """A fresh user's shell: no Prefect, MLflow or quietchurn settings from the test runner, its own HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_", "QUIETCHURN_", "VIRTUAL_ENV"))}
    # the runner looks for triggered runs every second instead of every 10 s: the same runs, sooner
    return env | {"HOME": str(home), "COLUMNS": "250", "PREFECT_RUNNER_POLL_FREQUENCY": "1"}


def shell(world: World, command: str, timeout_s: float = COMMAND_TIMEOUT_S, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`command` in bash, in the world's folder, after the README's `. .venv/bin/activate`."""
    return subprocess.run(
        ["bash", "-c", f". .venv/bin/activate && {command}"],
        cwd=world.cwd, env=env or world.env, input=stdin, capture_output=True, text=True, timeout=timeout_s,
    )


def tail(text: str, chars: int = 1500) -> str:
    return text[-chars:].replace("\n", "\n    ")


def without_comment(command: str) -> str:
    return re.sub(r"\s+#.*$", "", command)


def _stop(process: subprocess.Popen) -> int:
    """SIGTERM to the process group the example started (a server and its workers), then wait."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def start(world: World, command: str, log: Path, env: dict | None = None) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            ["bash", "-c", f". .venv/bin/activate && exec env {command}"],  # env: the command may begin with VAR=value
            cwd=world.cwd, env=env or world.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def wait_for(condition: Callable[[], object], process: subprocess.Popen, timeout_s: float = SERVER_STARTUP_S) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        if process.poll() is not None:
            return None
        time.sleep(1)
    return None


def run_server(world: World, example: Example, command: str, health_url: str, env: dict | None = None) -> None:
    """A UI server: it must answer its health URL, then stops cleanly on SIGTERM."""
    log = world.cwd / f"server-{free_port()}.log"
    process = start(world, command, log, env)
    try:
        if not wait_for(lambda: answers(health_url), process):
            world.fail(example, f"{health_url} never answered (exit {process.poll()}):\n    {tail(log.read_text())}")
    finally:
        _stop(process)


def as_run(command: str, world: World) -> tuple[str, dict[str, str], str | None]:
    """The command with what the test must change, the environment for it, and the health URL of a
    server it starts (None for a command that ends by itself)."""
    env = dict(world.env)
    if command.startswith("mlflow ui"):
        port = free_port()
        return re.sub(r"--port \d+", f"--port {port}", without_comment(command)), env, f"http://127.0.0.1:{port}/health"
    if "prefect server start" in command:
        port = free_port()
        env["PREFECT_SERVER_API_PORT"] = str(port)
        return without_comment(command), env, f"http://127.0.0.1:{port}/api/health"
    return command, env, None


def run_example(world: World, example: Example) -> None:
    command = example.command
    if any(re.fullmatch(pattern, without_comment(command)) for pattern in NOT_RUN):
        return
    if example.kind == "python":
        result = shell(world, "python -", stdin=command)
    elif re.match(rf"{ENV_PREFIX}quietchurn serve\b", command):
        return run_serve(world, example)
    elif command.startswith("prefect deployment run"):
        return run_deployment(world, example)
    else:
        command, env, health_url = as_run(command, world)
        if health_url:
            return run_server(world, example, command, health_url, env)
        result = shell(world, command, env=env)
    if result.returncode != 0:
        world.fail(example, f"exit {result.returncode}:\n    {tail(result.stdout + result.stderr)}")


# --- quietchurn serve, and the deployment runs it serves ----------------------------------------------

_API_URL = re.compile(r"(http://127\.0\.0\.1:\d+/api)\b")


@dataclass
class Serving:
    process: subprocess.Popen
    log: Path
    api_url: str


SERVING: dict[str, Serving] = {}  # at most one: the `quietchurn serve` the README and help start


def run_serve(world: World, example: Example) -> None:
    """`quietchurn serve` runs until it is ready; it keeps serving for the `prefect deployment run`
    examples that follow it, and `stop_serving` stops it (it must exit 0 and stop its server)."""
    from flows.serve import READY

    command, env = example.command, dict(world.env)
    if "PREFECT_API_URL=" in command:  # a server the user runs: the README's `prefect server start`
        server_port = free_port()
        server_log = world.cwd / "prefect-server.log"
        server_env = env | {"PREFECT_SERVER_API_PORT": str(server_port), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_HOME": str(world.cwd / "prefect-own")}
        server = start(world, "prefect server start", server_log, server_env)
        try:
            if not wait_for(lambda: answers(f"http://127.0.0.1:{server_port}/api/health"), server):
                return world.fail(example, f"the Prefect server for it never answered:\n    {tail(server_log.read_text())}")
            command = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{server_port}", command)
            _serve_and_stop(world, example, command, env)
            if not answers(f"http://127.0.0.1:{server_port}/api/health"):
                world.fail(example, "serve stopped the Prefect server that PREFECT_API_URL names (it is the user's)")
        finally:
            _stop(server)
        return
    stop_serving(world)  # a new `quietchurn serve` example replaces the one before
    log = world.cwd / "serve.log"
    process = start(world, command, log, env)
    if not wait_for(lambda: READY in log.read_text(), process):
        _stop(process)
        return world.fail(example, f"never ready (exit {process.poll()}):\n    {tail(log.read_text())}")
    SERVING["serve"] = Serving(process, log, _API_URL.search(log.read_text()).group(1))


def _serve_and_stop(world: World, example: Example, command: str, env: dict) -> None:
    from flows.serve import READY

    log = world.cwd / "serve-own-server.log"
    process = start(world, command, log, env)
    ready = wait_for(lambda: READY in log.read_text(), process)
    code = _stop(process)
    if not ready or code != 0:
        world.fail(example, f"ready: {bool(ready)}, exit after SIGTERM {code}:\n    {tail(log.read_text())}")


def stop_serving(world: World) -> None:
    serving = SERVING.pop("serve", None)
    if serving is None:
        return
    code = _stop(serving.process)
    if code != 0:
        world.failures.append(f"quietchurn serve exited {code} on SIGTERM:\n    {tail(serving.log.read_text())}")
    if answers(f"{serving.api_url}/health"):
        world.failures.append(f"quietchurn serve left its Prefect server running at {serving.api_url}")


_FINAL_STATE = """
import asyncio, sys, time
from prefect.client.orchestration import get_client
async def main(run_id):
    async with get_client() as client:
        deadline = time.monotonic() + float(sys.argv[2])
        while time.monotonic() < deadline:
            run = await client.read_flow_run(run_id)
            if run.state and run.state.is_final():
                return run.state.name
            await asyncio.sleep(1)
    return "still running"
print(asyncio.run(main(sys.argv[1])))
"""


def run_deployment(world: World, example: Example) -> None:
    """`prefect deployment run` against the served deployments; its flow run must complete."""
    serving = SERVING.get("serve")
    if serving is None:
        return world.fail(example, "no `quietchurn serve` example ran before it (or it never became ready)")
    env = world.env | {"PREFECT_API_URL": serving.api_url}
    result = shell(world, example.command, env=env, timeout_s=120)
    run_id = re.search(r"UUID:\s*([0-9a-f-]{36})", result.stdout)
    if result.returncode != 0 or not run_id:
        return world.fail(example, f"exit {result.returncode}:\n    {tail(result.stdout + result.stderr)}")
    state = shell(world, f"python -c '{_FINAL_STATE}' {run_id.group(1)} {COMMAND_TIMEOUT_S}", env=env)
    if state.stdout.strip() != "Completed":
        world.fail(example, f"flow run {run_id.group(1)} ended {state.stdout.strip()!r}{state.stderr[-500:]}:\n    {tail(serving.log.read_text())}")


@pytest.mark.parametrize(
    ("example", "failed"),
    [
        (Example("t", "true"), False),
        (Example("t", "exit 3"), True),
        (Example("t", "quietchurn --help > /dev/null   # the venv is active"), False),
        (Example("t", "import sys; sys.exit(0)", "python"), False),
        (Example("t", "raise SystemExit(4)", "python"), True),
        (Example("t", "python3 -m venv .venv && exit 1"), False),  # NOT_RUN: never executed
        (Example("t", "prefect deployment run 'score/demo'"), True),  # nothing served before it
    ],
)
def test_the_runner_reports_what_fails_and_only_that(tmp_path, example, failed):
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    failures = run_in_order(World(tmp_path, user_env(tmp_path)), [example])
    assert bool(failures) is failed, failures
    assert all(f.startswith(f"t: {example.command}") for f in failures)


# --- the world ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    """A fresh folder set up as the README says: `.venv` (linked), `configs/`, then `quietchurn demo`."""
    cwd = tmp_path_factory.mktemp("readme")
    (cwd / ".venv").symlink_to(ROOT / ".venv")
    shutil.copytree(ROOT / "configs", cwd / "configs", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    the_world = World(cwd, user_env(cwd))
    _write_acme_config(cwd)
    setup = shell(the_world, f"quietchurn demo --customers {CUSTOMERS}")
    assert setup.returncode == 0, f"quietchurn demo --customers {CUSTOMERS} exited {setup.returncode}:\n{tail(setup.stdout + setup.stderr, 4000)}"
    try:
        yield the_world
    finally:
        stop_serving(the_world)


def _write_acme_config(cwd: Path) -> None:
    """The README's own-data step: copy configs/example-postgres.yaml to configs/acme.yaml and set the
    workspace and MLflow store to places this user can write (the example's are a server's)."""
    raw = yaml.safe_load((cwd / "configs" / "example-postgres.yaml").read_text())
    raw["workspace"] = ".quietchurn/acme"
    raw["mlflow"] = {"tracking_uri": "sqlite:///.quietchurn/acme/mlflow.db"}
    (cwd / "configs" / "acme.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def _needs_postgres(example: Example) -> bool:
    """The own-data examples: they read and write PostgreSQL (configs/acme.yaml names DSN variables)."""
    return "_DSN=" in example.command or "configs/acme.yaml" in example.command


def all_help_examples() -> tuple[list[Example], list[str]]:
    """The examples of every command's --help, and the helps that show theirs as one paragraph."""
    examples, run_on = [], []
    for path in command_paths():
        where = f"quietchurn {' '.join(path)} --help".replace("  ", " ")
        found, paragraph = help_examples(rendered_help(path), where)
        if paragraph:
            run_on.append(where)
        examples += found
    return examples, run_on


def _keeps_serving(example: Example) -> bool:
    """The served deployments live from a `quietchurn serve` example to the deployment runs after it."""
    return example.command.startswith("prefect deployment run") or "quietchurn serve" in example.command


def run_in_order(world: World, examples: list[Example]) -> list[str]:
    """Run the examples one after the other; what failed."""
    world.failures = []
    for example in examples:
        if SERVING and not _keeps_serving(example):
            stop_serving(world)
        run_example(world, example)
    stop_serving(world)
    return world.failures


@pytest.fixture(scope="module")
def readme_failures(world) -> list[str]:
    """Every README example but the PostgreSQL block, once, in the README's order (later ones use what
    earlier ones made: scores, model versions)."""
    examples = [e for e in readme_examples(README.read_text()) if not _needs_postgres(e)]
    assert len(examples) >= 15, [e.command for e in examples]
    return run_in_order(world, examples)


@pytest.mark.slow
def test_every_readme_example_runs_as_written(readme_failures):
    assert not readme_failures, f"{len(readme_failures)} README example(s) failed:\n" + "\n".join(readme_failures)


@pytest.mark.slow
def test_every_help_example_runs_as_written(world, readme_failures):
    """After the README's examples (the help's refer to the model versions they made)."""
    readme = {without_comment(e.command) for e in readme_examples(README.read_text())}
    examples, run_on = all_help_examples()
    assert examples, "no --help shows an example"
    # an example the README has ran already; serving examples run again for the deployment runs after them;
    # the own-data ones run with PostgreSQL (test_the_own_data_examples_run_on_postgresql)
    examples = [e for e in examples if (without_comment(e.command) not in readme or _keeps_serving(e)) and not _needs_postgres(e)]
    outside = {Path(m) for e in examples for m in re.findall(r"--out (/\S+)", e.command)}
    outside = {path for path in outside if not path.exists()}  # written by an example outside its folder: removed after
    try:
        failures = run_in_order(world, examples)
    finally:
        for path in outside:
            shutil.rmtree(path, ignore_errors=True)
    if run_on:
        failures.append(f"examples shown as one paragraph instead of one per line in: {', '.join(run_on)}")
    assert not failures, f"{len(failures)} --help example(s) failed:\n" + "\n".join(failures)


# --- the own-data block: PostgreSQL in, PostgreSQL out ------------------------------------------------


def _load_into_postgres(dsn: str, data: Path, config_path: Path) -> None:
    """The simulated tables as the user's warehouse holds them: the names and columns configs/acme.yaml
    maps (contract -> yours, reversed here), in its source schema, with the PII columns it declares."""
    import polars as pl
    from adbc_driver_postgresql import dbapi

    source = yaml.safe_load(config_path.read_text())["source"]
    with dbapi.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{source["schema"]}"')
        for file in sorted(data.glob("*.parquet")):
            table = file.stem
            frame = pl.read_parquet(file).rename(source.get("columns", {}).get(table, {}))
            if table == "customers":  # a real customers table holds what the config declares as PII or excludes
                frame = frame.rename({"name": "full_name"}).with_columns(phone=pl.lit("+1 555 0100"), sales_rep=pl.lit("rep"))
            cursor.adbc_ingest(source.get("tables", {}).get(table, table), frame.to_arrow(), mode="create", db_schema_name=source["schema"])
        connection.commit()


@pytest.mark.slow
@pytest.mark.postgres
def test_the_own_data_examples_run_on_postgresql(world, postgres_dsn):
    """The README's "own data" block with configs/acme.yaml: check-data, then nightly (which trains,
    there being no champion) reading and writing PostgreSQL. The data ends today: the block's nightly
    uses the default as-of, today. Then the --help examples with configs/acme.yaml, in a shell where
    the block's variables are exported."""
    (example,) = [e for e in readme_examples(README.read_text()) if _needs_postgres(e)]
    config = yaml.safe_load((world.cwd / "configs" / "acme.yaml").read_text())
    # today where the config's schedule runs, as the CLI's default as-of is: this machine's date can be
    # a day behind it (late evening UTC is already tomorrow in Berlin), and data ending a day before
    # the as-of shifts every recency feature by one day (the monitor then fails on drift, rightly)
    today = datetime.now(ZoneInfo(config["schedule"]["timezone"])).date()
    data = world.cwd / "acme-data"
    simulated = shell(world, f"quietchurn simulate --customers {CUSTOMERS} --days 400 --start {today - timedelta(days=400)} --out {data}")
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    _load_into_postgres(postgres_dsn, data, world.cwd / "configs" / "acme.yaml")
    # our test database stands in for the user's warehouse, reader and writer alike
    script = re.sub(r"^(export \w+_DSN=)\S+", lambda m: m.group(1) + postgres_dsn, example.command, flags=re.MULTILINE)
    assert script.count(postgres_dsn) == 2, script
    failures = run_in_order(world, [Example(example.where, f"set -e\n{script}")])
    exported = dict(re.findall(r"^export (\w+)=(\S+)", script, re.MULTILINE))
    user_env, world.env = world.env, world.env | exported
    try:
        failures += run_in_order(world, [e for e in all_help_examples()[0] if _needs_postgres(e)])
    finally:
        world.env = user_env
    assert not failures, "\n".join(failures)
    from adbc_driver_postgresql import dbapi

    with dbapi.connect(postgres_dsn) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*), max(as_of) FROM quietchurn.latest_churn_scores")
        rows, as_of = cursor.fetchone()
    assert rows > 0 and as_of == today
