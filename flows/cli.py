"""The `quietchurn` command line. Heavy libraries are imported inside commands so `--help` stays fast."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.runtime import apply_quiet_defaults

app = typer.Typer(
    name="quietchurn",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
console = Console()


@app.callback()
def _root() -> None:
    """Find customers who are unhappy but silent.

    Examples:

        quietchurn demo        # simulate a company and run the pipeline on it
        quietchurn simulate --customers 5000 --days 365 --seed 7 --out data/
        quietchurn check-data --config configs/demo.yaml
    """

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="YAML config (see configs/demo.yaml).", exists=True, dir_okay=False),
]


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _load(path: Path | None):
    from configs import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        _fail(str(exc))


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date like 2026-01-31, got {value!r}") from None


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write one Parquet file per table, and ground_truth/, into.")],
    customers: Annotated[int, typer.Option(min=100, max=5_000_000, help="Customers in the simulated company.")] = 20_000,
    days: Annotated[int, typer.Option(min=30, max=3650, help="Days of history; the simulated today is start + days.")] = 365,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: a seed always gives the same world.")] = 42,
    start: Annotated[str | None, typer.Option(help="First simulated day (YYYY-MM-DD); fixed default.")] = None,
) -> None:
    """Write a synthetic company's input tables (and its hidden ground truth, apart).

    Examples:

        quietchurn simulate --out data/      # 20,000 customers, 1 year, seed 42
        quietchurn simulate --customers 2000 --days 240 --seed 7 --start 2024-03-01 --out /tmp/small
    """
    from simulator import DEFAULT_START, write_world

    summary = write_world(out, customers=customers, days=days, seed=seed, start=_parse_date(start) or DEFAULT_START)
    console.print(f"Simulated world written to [bold]{out}[/bold] (today = {summary.today}).")
    for table, rows in summary.row_counts.items():
        console.print(f"  {table:<14} {rows:>12,} rows")
    console.print(f"Ground truth (never read by the pipeline): {out / 'ground_truth'}")


@app.command("check-data")
def check_data(
    config: ConfigOption,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Data observed until this date (default: today, or the simulated today).")] = None,
) -> None:
    """Data-sufficiency and quality report for the configured sources, before any training.

    Exits non-zero, with the reason, when the data cannot support training.

    Example:

        quietchurn check-data --config configs/demo.yaml
    """
    from features.contract import ContractError
    from flows.check_data import build_report, render_report
    from flows.runtime import default_as_of

    cfg = _load(config)
    observed_until = _parse_date(as_of) or default_as_of(cfg)
    try:
        report, _ = build_report(cfg, observed_until)
    except ContractError as exc:
        _fail(str(exc))
    render_report(report, console)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=500, max=2_000_000, help="Customers in the simulated company.")] = 20_000,
    days: Annotated[int, typer.Option(min=300, max=3650, help="Days of simulated history.")] = 365,
    seed: Annotated[int, typer.Option(min=0)] = 42,
) -> None:
    """Simulate a company, train, then run the nightly pipeline on the embedded defaults.

    Everything lands under .quietchurn/demo in the current directory (configs/demo.yaml);
    re-running regenerates the same world and scores it again.

    Example:

        quietchurn demo
        quietchurn demo --customers 5000
    """
    import os
    import shutil

    from configs import DEMO_CONFIG

    cfg = _load(DEMO_CONFIG)
    prefect_home = cfg.workspace / "prefect"
    os.environ.setdefault("PREFECT_HOME", str(prefect_home))  # the demo's runs stay in its workspace
    from flows.demo_report import print_demo_report
    from simulator import DEFAULT_START, write_world

    started = datetime.now()
    if cfg.source.path.exists():
        shutil.rmtree(cfg.source.path)  # the simulated world is regenerated: same seed, same world
    console.rule("1/2 Simulating a company")
    summary = write_world(cfg.source.path, customers=customers, days=days, seed=seed, start=DEFAULT_START)
    console.print(f"{customers:,} customers over {days} days; simulated today = {summary.today}; data in {cfg.source.path}")
    console.rule("2/3 Training: ingest -> train -> gate (Prefect)")
    trained = _run_flow("train", DEMO_CONFIG, summary.today.isoformat())
    crowned_by_hand = _crown_if_refused(cfg, trained)
    console.rule("3/3 Nightly pipeline: ingest -> build_features -> score (Prefect; the fresh model is not retrained)")
    result = _run_flow("nightly", DEMO_CONFIG, summary.today.isoformat())
    result["train"], result["crowned_by_hand"] = trained, crowned_by_hand
    print_demo_report(console, cfg, result, os.environ["PREFECT_HOME"], started)


def _crown_if_refused(cfg, trained: dict) -> bool:
    """If the gate refused the demo's first model, say so and promote it by hand so the demo can score.

    In production nightly stops at that point with no champion; promoting a refused version is
    the operator's call (`quietchurn model promote`), and the demo makes that call in the open.
    """
    from models.registry import champion_version, client_for, promote

    client = client_for(cfg)
    if trained["promoted"] or champion_version(client, cfg.registered_model_name) is not None:
        state = "promoted" if trained["promoted"] else "not promoted; the current champion keeps scoring"
        console.print(f"Version {trained['version']} {state}: {trained['reason']}", highlight=False)
        return False
    console.print(
        f"[yellow]The promotion gate refused version {trained['version']}:[/yellow] {trained['reason']}.\n"
        "In production nightly would stop here without a champion. The demo promotes it by hand so you can see "
        f"scores (the same as `quietchurn model promote --config configs/demo.yaml --version {trained['version']}`).",
        highlight=False,
    )
    promote(client, cfg.registered_model_name, trained["version"])
    return True


@app.command()
def scores(
    config: ConfigOption,
    top: Annotated[int, typer.Option(min=1, max=100_000, help="How many rows to print.")] = 20,
    silent_only: Annotated[bool, typer.Option("--silent-only", help="Only silent-dissatisfied customers, by silent_rank.")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Scores of this date (default: the newest).")] = None,
) -> None:
    """Print the scored table, most at risk first.

    Examples:

        quietchurn scores --config configs/demo.yaml --top 20
        quietchurn scores --config configs/demo.yaml --silent-only --as-of 2026-01-01
    """
    from flows.views import print_scores
    from sinks import open_sink

    cfg = _load(config)
    frame = open_sink(cfg.sink).read_scores(_parse_date(as_of))
    print_scores(console, frame, top, silent_only)


run_app = typer.Typer(help="Run one flow now, locally (Prefect's local API unless PREFECT_API_URL is set).", no_args_is_help=True)
app.add_typer(run_app, name="run")

AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Run date YYYY-MM-DD (default: today in schedule.timezone; for simulated data, the simulated today)."),
]


def _run_flow(name: str, config: Path, as_of: str | None, **params):
    """Call a flow in-process with the resolved config path; a contract error becomes a clean exit."""
    from features.contract import ContractError
    from flows import pipeline
    from flows.pipeline import PipelineError

    flows = {
        "ingest": pipeline.ingest,
        "features": pipeline.build_features,
        "train": pipeline.train,
        "score": pipeline.score_flow,
        "nightly": pipeline.nightly,
    }
    _load(config)  # fail fast with key paths before Prefect starts
    try:
        return flows[name](str(config.resolve()), _parse_date(as_of), **params)
    except (ContractError, PipelineError) as exc:
        _fail(str(exc))


@run_app.command("ingest")
def run_ingest(config: ConfigOption, as_of: AsOfOption = None) -> None:
    """Read and validate the sources into a dated snapshot; quarantine bad rows in `rejects`.

    Example:

        quietchurn run ingest --config configs/demo.yaml --as-of 2026-01-01
    """
    result = _run_flow("ingest", config, as_of)
    console.print(f"Snapshot {result['snapshot']} ({result['rejects']:,} rejected rows recorded).")


@run_app.command("features")
def run_features(
    config: ConfigOption,
    as_of: AsOfOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the feature frame here (Parquet).")] = None,
) -> None:
    """Build the point-in-time feature frame of every eligible customer as of a date.

    Example:

        quietchurn run features --config configs/demo.yaml --as-of 2026-01-01 --out features.parquet
    """
    result = _run_flow("features", config, as_of, out=str(out.resolve()) if out else None)
    console.print(f"Feature frame {result['rows']:,} rows x {result['columns']} columns -> {result['path']}")


@run_app.command("train")
def run_train(config: ConfigOption, as_of: AsOfOption = None) -> None:
    """Train, evaluate out of time, log to MLflow, register, and gate the `champion` alias.

    Example:

        quietchurn run train --config configs/demo.yaml
    """
    result = _run_flow("train", config, as_of)
    state = "promoted to champion" if result["promoted"] else "registered (not promoted)"
    console.print(f"Version {result['version']} {state}: {result['reason']}")
    for note in result["notes"]:
        console.print(f"note: {note}")


@run_app.command("score")
def run_score(config: ConfigOption, as_of: AsOfOption = None) -> None:
    """Score every eligible customer with the champion into `churn_scores`.

    Example:

        quietchurn run score --config configs/demo.yaml --as-of 2026-01-01
    """
    result = _run_flow("score", config, as_of)
    console.print(result["summary_markdown"], markup=False, highlight=False)


@run_app.command("nightly")
def run_nightly(
    config: ConfigOption,
    as_of: AsOfOption = None,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train even if the champion is fresh.")] = False,
) -> None:
    """ingest -> train (when asked, missing or stale) -> build_features -> score.

    Examples:

        quietchurn run nightly --config configs/demo.yaml
        quietchurn run nightly --config configs/demo.yaml --as-of 2026-01-31 --retrain
    """
    result = _run_flow("nightly", config, as_of, retrain=retrain)
    console.print(result["score"]["summary_markdown"], markup=False, highlight=False)


@app.command()
def serve(
    config: ConfigOption,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port of the local Prefect server (default: 4200, or a free one). Ignored when PREFECT_API_URL is set.")] = None,
) -> None:
    """Serve the nightly (on `schedule.cron`), train and score deployments until Ctrl-C or SIGTERM.

    Without PREFECT_API_URL it starts a local Prefect server (database in the workspace) and prints
    its UI address; Prefect's temporary server would never fire the schedule. One run at a time.

    Examples:

        quietchurn serve --config configs/demo.yaml
        PREFECT_API_URL=http://127.0.0.1:4200/api quietchurn serve --config configs/acme.yaml
        prefect deployment run 'nightly/demo' --param as_of=2026-01-31 --param retrain=true
        prefect deployment run 'score/demo'
    """
    from configs import ConfigError
    from flows.serve import ServerUnavailable, serve_forever

    _load(config)  # fail fast with key paths before any server starts
    try:
        serve_forever(config, port, announce=lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True))
    except ConfigError as exc:
        _fail(str(exc))
    except ServerUnavailable as exc:
        _fail(str(exc), code=1)


model_app = typer.Typer(help="Move the `champion` alias of the registered model by hand.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("promote")
def model_promote(
    config: ConfigOption,
    version: Annotated[str, typer.Option("--version", help="Registered model version to make champion.")],
) -> None:
    """Make a registered model version the `champion` (the one nightly scoring uses).

    Example:

        quietchurn model promote --config configs/demo.yaml --version 3
    """
    from mlflow.exceptions import MlflowException

    from models.registry import client_for, promote

    cfg = _load(config)
    try:
        promote(client_for(cfg), cfg.registered_model_name, version)
    except MlflowException as exc:
        _fail(f"cannot promote {cfg.registered_model_name} version {version}: {exc.message}")
    console.print(f"{cfg.registered_model_name}@champion -> version {version}")


@model_app.command("rollback")
def model_rollback(config: ConfigOption) -> None:
    """Move `champion` back to the version that held it before the current one.

    Example:

        quietchurn model rollback --config configs/demo.yaml
    """
    from mlflow.exceptions import MlflowException

    from models.registry import client_for, rollback

    cfg = _load(config)
    try:
        previous = rollback(client_for(cfg), cfg.registered_model_name)
    except (ValueError, MlflowException) as exc:
        _fail(str(exc))
    console.print(f"{cfg.registered_model_name}@champion -> version {previous}")


def main() -> None:
    apply_quiet_defaults()
    app()


if __name__ == "__main__":
    main()
