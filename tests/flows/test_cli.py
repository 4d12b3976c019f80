"""The command line as a user runs it: help with examples, check-data verdicts, clear errors."""

from __future__ import annotations

import shutil
import subprocess
import sys

import polars as pl
from typer.testing import CliRunner

from flows.cli import app

runner = CliRunner()


def test_help_lists_commands_with_examples_and_stays_light():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "simulate", "check-data", "run", "scores", "model"):
        assert command in result.output
    assert "quietchurn simulate --customers" in result.output
    # --help must not import the heavy stack (STACK_NOTES: keep heavy imports off --help paths)
    probe = "import sys; from flows.cli import app; print(sorted(m for m in ('prefect','mlflow','lightgbm','polars','sklearn') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_every_command_help_shows_a_worked_example():
    for command in (["demo"], ["simulate"], ["check-data"], ["scores"], ["run", "nightly"], ["run", "features"], ["model", "promote"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "quietchurn " + command[0] in result.output, command


def test_check_data_passes_on_a_sufficient_world(flow_config):
    result = runner.invoke(app, ["check-data", "--config", str(flow_config())])
    assert result.exit_code == 0, result.output
    assert "Churn base rate" in result.output
    assert "The data can support training." in result.output


def test_check_data_fails_when_history_is_too_short(flow_config):
    # the world starts 2025-01-01: by June only two snapshot dates have 90 days of history behind them
    result = runner.invoke(app, ["check-data", "--config", str(flow_config()), "--as-of", "2025-06-01"])
    assert result.exit_code == 1, result.output
    assert "cannot train" in result.output
    assert "training.snapshots" in " ".join(result.output.split())


def test_a_missing_required_column_names_table_column_and_key(flow_config, tiny_world, tmp_path):
    data = tmp_path / "renamed"
    shutil.copytree(tiny_world[0], data)
    events = pl.read_parquet(data / "events.parquet").rename({"ts": "happened_at"})
    events.write_parquet(data / "events.parquet")
    result = runner.invoke(app, ["check-data", "--config", str(flow_config(source={"path": str(data)}))])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "events" in text and "ts" in text and "source.columns.events.ts" in text
    # mapping the column fixes it
    fixed = flow_config(source={"path": str(data), "columns": {"events": {"ts": "happened_at"}}})
    assert runner.invoke(app, ["check-data", "--config", str(fixed)]).exit_code == 0


def test_a_bad_config_exits_with_the_key_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nworkspace: w\nsource: {kind: files, path: d}\nsink: {kind: duckdb, path: s.duckdb}\nscoring: {capacity: -3}\n")
    result = runner.invoke(app, ["check-data", "--config", str(bad)])
    assert result.exit_code == 2
    assert "scoring.capacity" in result.output


def test_check_data_says_which_free_text_columns_are_no_features(flow_config):
    # email and name undeclared as PII: still no features, and check-data says why
    result = runner.invoke(app, ["check-data", "--config", str(flow_config(source={"pii": {}}))])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "customers.email is not a feature: 1" in text and "source.pii" in text
    assert "customers.plan is not a feature" not in text
    declared = runner.invoke(app, ["check-data", "--config", str(flow_config())])
    assert "is not a feature" not in declared.output
