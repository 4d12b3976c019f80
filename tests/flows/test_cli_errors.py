"""Errors a user can fix end in one message naming the key, no traceback; `--debug` shows it.

Commands that run Prefect flows are run as real subprocesses (against the session's Prefect API), so
that what is checked is what the terminal shows, Prefect's own console logging included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.errors import FIX_INPUT, TRY_AGAIN, UNEXPECTED, explain

runner = CliRunner()
SOURCE_ENV, SINK_ENV = "QUIETCHURN_SOURCE_DSN", "QUIETCHURN_TEST_SINK_DSN"
PASSWORD = "s3cret-pw-h4"
MISSING_DB = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/quietchurn_no_such_db_h4?connect_timeout=5"
CLOSED_PORT = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/quietchurn?connect_timeout=5"


def one_line(text: str) -> str:
    return " ".join(text.split())


def assert_clean_error(output: str, code: int, expected_code: int, *needles: str) -> None:
    assert code == expected_code, output
    assert "Traceback" not in output, output
    assert [line.startswith("error:") for line in output.splitlines()].count(True) == 1, output
    text = one_line(output)
    for needle in needles:
        assert needle in text, f"{needle!r} not in {text!r}"
    assert PASSWORD not in output


@pytest.fixture
def api_env(prefect_api) -> dict[str, str]:
    """The environment of a `quietchurn` subprocess that talks to this session's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "COLUMNS": "200"}


def quietchurn(*args: str, env: dict[str, str], timeout: float = 300) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    return done.returncode, done.stdout + done.stderr


# --- before any flow runs: the config and its environment -------------------------------------------


@pytest.mark.parametrize(
    ("section", "command"),
    [
        ({"source": {"kind": "postgres", "dsn_env": SOURCE_ENV, "path": None}}, ["run", "nightly"]),
        ({"source": {"kind": "postgres", "dsn_env": SOURCE_ENV, "path": None}}, ["check-data"]),
        ({"sink": {"kind": "postgres", "dsn_env": SOURCE_ENV, "path": None}}, ["scores"]),
    ],
)
def test_an_unset_dsn_variable_is_named_with_its_key(flow_config, monkeypatch, section, command):
    monkeypatch.delenv(SOURCE_ENV, raising=False)
    config = flow_config(**section)
    result = runner.invoke(app, [*command, "--config", str(config)])
    key = "source.dsn_env" if "source" in section else "sink.dsn_env"
    assert_clean_error(result.output, result.exit_code, FIX_INPUT, f"environment variable {SOURCE_ENV} ({key}) is not set")


def test_a_set_dsn_variable_passes_the_check(flow_config, monkeypatch):
    """The negative of the above: with the variable set, the command gets as far as the database."""
    monkeypatch.setenv(SOURCE_ENV, MISSING_DB)
    result = runner.invoke(app, ["scores", "--config", str(flow_config(sink={"kind": "postgres", "dsn_env": SOURCE_ENV, "path": None}))])
    assert "is not set" not in result.output


def test_a_wrong_sink_dsn_names_sink_dsn_env_and_hides_the_password(flow_config, monkeypatch):
    monkeypatch.setenv(SINK_ENV, MISSING_DB)
    config = flow_config(sink={"kind": "postgres", "dsn_env": SINK_ENV, "path": None})
    result = runner.invoke(app, ["scores", "--config", str(config)])
    assert_clean_error(result.output, result.exit_code, TRY_AGAIN, "the sink database failed", f"${SINK_ENV} (sink.dsn_env)")


def test_a_wrong_source_dsn_names_source_dsn_env(flow_config, monkeypatch):
    monkeypatch.setenv(SOURCE_ENV, CLOSED_PORT)
    config = flow_config(source={"kind": "postgres", "dsn_env": SOURCE_ENV, "path": None})
    result = runner.invoke(app, ["check-data", "--config", str(config)])
    assert_clean_error(result.output, result.exit_code, TRY_AGAIN, "the source database failed", f"${SOURCE_ENV} (source.dsn_env)")


def test_an_unexpected_error_is_one_line_with_the_debug_hint_and_debug_shows_the_traceback(flow_config, monkeypatch):
    """A bug (here: a view that divides by zero) is not dressed up as the user's fault."""
    import flows.views

    def broken(*args, **kwargs):
        return 1 / 0

    monkeypatch.setattr(flows.views, "print_scores", broken)
    config = str(flow_config())
    quiet = runner.invoke(app, ["scores", "--config", config])
    assert_clean_error(quiet.output, quiet.exit_code, UNEXPECTED, "unexpected error: ZeroDivisionError", "run again with --debug")
    loud = runner.invoke(app, ["--debug", "scores", "--config", config])
    assert loud.exit_code == UNEXPECTED
    assert "Traceback" in loud.output and "ZeroDivisionError" in loud.output


def test_brackets_in_a_message_are_printed_not_taken_for_markup(flow_config, monkeypatch):
    import flows.views

    def broken(*args, **kwargs):
        raise RuntimeError("IO: [libpq] failed near [bold]x[/bold]")

    monkeypatch.setattr(flows.views, "print_scores", broken)
    result = runner.invoke(app, ["scores", "--config", str(flow_config())])
    assert result.exit_code == UNEXPECTED and "[libpq] failed near [bold]x[/bold]" in result.output


# --- the classification itself, on errors raised by the real parts ------------------------------------


def test_explain_tells_the_source_from_the_sink_by_where_the_driver_failed(flow_config, monkeypatch):
    from configs import load_config
    from sources import open_tables
    from sinks.postgres_sink import PostgresSink

    monkeypatch.setenv(SOURCE_ENV, CLOSED_PORT)
    config = load_config(flow_config(source={"kind": "postgres", "dsn_env": SOURCE_ENV, "path": None}))
    with pytest.raises(Exception) as source_error:
        with open_tables(config.source):
            pass
    with pytest.raises(Exception) as sink_error:
        PostgresSink(CLOSED_PORT).read_score_runs()
    source, sink = explain(source_error.value, config), explain(sink_error.value, config)
    assert source.message.startswith("the source database failed") and "source.dsn_env" in source.hint
    assert sink.message.startswith("the sink database failed") and "sink.dsn_env" in sink.hint
    assert source.exit_code == sink.exit_code == TRY_AGAIN
    assert explain(RuntimeError("a bug")) is None  # anything unknown stays unexpected


def test_explain_truth_table_of_the_user_fixable_types(tmp_path):
    from configs import ConfigError
    from features.contract import ContractError
    from features.sufficiency import DataCoverageError
    from flows.serve import ServerUnavailable
    from sinks.duckdb_sink import DuckDBLockedError, DuckDBSink

    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(DuckDBLockedError) as locked:
            DuckDBSink(path, lock_timeout_s=0.3).read_score_runs()
    finally:
        holder.kill()
        holder.wait()
    cases = [
        (ConfigError("scoring.capacity: must be > 0"), FIX_INPUT, "scoring.capacity"),
        (ContractError("events.ts: missing (source.columns.events.ts)"), FIX_INPUT, "docs/input-contract.md"),
        (DataCoverageError("as-of 2026-03-01 is beyond the data: ..."), FIX_INPUT, "docs/dates-and-training.md"),
        (locked.value, TRY_AGAIN, "docs/operations.md"),
        (ServerUnavailable("the Prefect server was not healthy"), TRY_AGAIN, "PREFECT_API_URL"),
    ]
    for error, code, needle in cases:
        explained = explain(error)
        assert explained is not None and explained.exit_code == code, error
        assert needle in explained.message + explained.hint, error
    assert locked.value.retryable is False and "s waited" in str(locked.value)


# --- errors raised inside Prefect flows, as the terminal shows them ------------------------------------


def test_no_champion_is_one_message_without_prefect_tracebacks_and_debug_shows_them(flow_config, api_env):
    config = str(flow_config())
    code, output = quietchurn("run", "score", "--config", config, env=api_env)
    assert_clean_error(output, code, FIX_INPUT, "champion", "quietchurn run train")
    assert "Encountered exception" not in output and "Finished in state Failed" not in output
    code, output = quietchurn("--debug", "run", "score", "--config", config, env=api_env)
    assert code == FIX_INPUT and "Traceback" in output and "PipelineError" in output


@pytest.fixture
def rejected_world(tiny_world, tmp_path) -> Path:
    """The tiny world with a third of its survey answers out of the 0-10 scale."""
    data = tmp_path / "rejected"
    shutil.copytree(tiny_world[0], data)
    surveys = pl.read_parquet(data / "surveys.parquet")
    surveys.with_columns(score=pl.when(pl.int_range(pl.len()) % 3 == 0).then(99).otherwise(pl.col("score"))).write_parquet(data / "surveys.parquet")
    return data


def test_too_many_rejects_names_the_table_and_the_key(flow_config, api_env, rejected_world):
    code, output = quietchurn("run", "ingest", "--config", str(flow_config(source={"path": str(rejected_world)})), env=api_env)
    assert_clean_error(output, code, FIX_INPUT, "surveys", "monitoring.max_reject_share", "rejects")


def test_a_source_database_that_is_down_is_retried_then_named(flow_config, api_env):
    env = {**api_env, SOURCE_ENV: CLOSED_PORT}
    config = flow_config(source={"kind": "postgres", "dsn_env": SOURCE_ENV, "path": None})
    code, output = quietchurn("run", "ingest", "--config", str(config), env=env)
    assert_clean_error(output, code, TRY_AGAIN, "the source database failed", f"${SOURCE_ENV} (source.dsn_env)")
    assert "retry 1/2 will start" in output and "retry 2/2" in output  # an outage may heal: retried before giving up


@pytest.mark.slow
def test_a_locked_duckdb_sink_waits_once_and_says_how_long(flow_config, api_env, tmp_path):
    """A reader holding the DuckDB file (read-only) blocks the run's writes: one wait, no task retry."""
    sink = tmp_path / "scores.duckdb"
    duckdb.connect(str(sink)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(sink)!r}, read_only=True); print('ok', flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        code, output = quietchurn("run", "ingest", "--config", str(flow_config()), env=api_env)
    finally:
        holder.kill()
        holder.wait()
    assert_clean_error(output, code, TRY_AGAIN, "another process holds a lock on the DuckDB file", "30 s waited", "docs/operations.md")
    assert "retry" not in output.lower()
