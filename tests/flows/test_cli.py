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
    # --help must not import the heavy stack (prefect, mlflow and lightgbm take seconds to import)
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


# --- help that reads well ------------------------------------------------------------------------------

HELP_PAGES = [
    [], ["simulate"], ["check-data"], ["demo"], ["scores"], ["serve"], ["run"], ["run", "ingest"], ["run", "features"],
    ["run", "train"], ["run", "score"], ["run", "nightly"], ["run", "backfill"], ["model"], ["model", "promote"], ["model", "rollback"],
]


def _command(path: list[str]):
    import typer.main

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def _examples(path: list[str]) -> list[str]:
    """The lines of the ```sh blocks in a command's help source."""
    lines, inside = [], False
    for line in (_command(path).help or "").splitlines():
        if line.strip().startswith("```"):
            inside = not inside
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def test_every_help_example_renders_on_its_own_line():
    for path in HELP_PAGES:
        examples = _examples(path)
        assert examples, f"{path}: no examples"
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, path
        rendered = [line.strip() for line in result.output.splitlines()]
        for example in examples:
            assert example in rendered, f"{path}: {example!r} is not a line of its own in\n{result.output}"


def test_a_run_on_paragraph_would_fail_the_line_check():
    """The negative of the check above: examples in an indented paragraph (what the help had) run together."""
    from rich.console import Console
    from typer.rich_utils import _make_rich_text

    console = Console(width=200, record=True)
    console.print(_make_rich_text(text="Examples:\n\n    quietchurn demo\n    quietchurn demo --customers 5000", markup_mode="markdown"))
    rendered = [line.strip() for line in console.export_text().splitlines()]
    assert "quietchurn demo" not in rendered and "quietchurn demo quietchurn demo --customers 5000" in rendered


def test_as_of_options_say_date_and_its_format():
    for path in (["check-data"], ["scores"], ["run", "ingest"], ["run", "features"], ["run", "train"], ["run", "score"], ["run", "nightly"]):
        (option,) = [p for p in _command(path).params if "--as-of" in p.opts]
        assert option.metavar == "DATE" and "YYYY-MM-DD" in option.help, path
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert "DATE" in result.output and "<str>" not in result.output, path


def test_example_dates_lie_inside_the_demo_data():
    import re
    from datetime import date, timedelta

    from simulator import DEFAULT_START

    demo_today = DEFAULT_START + timedelta(days=365)  # `quietchurn demo` simulates 365 days
    for path in HELP_PAGES:
        for example in _examples(path):
            for found in re.findall(r"(?:--as-of |as_of=)(\d{4}-\d{2}-\d{2})", example):
                assert DEFAULT_START < date.fromisoformat(found) <= demo_today, f"{path}: {example}"


def test_run_summaries_print_as_tables_not_markdown(monkeypatch):
    from rich.console import Console

    import flows.cli
    from flows.results import TableCounts
    from flows.summary import ingest_lines

    recorded = Console(width=120, record=True)
    monkeypatch.setattr(flows.cli, "console", recorded)
    markdown = "\n".join(ingest_lines({"events": TableCounts(read=1200, accepted=1190, rejected=10)}))
    assert "|---|" in markdown  # what used to be printed as is
    flows.cli._print_summary(markdown)
    text = recorded.export_text()
    assert "|---|" not in text and "## Input" not in text
    assert "1,190" in text and any(box in text for box in "┃│━─")
