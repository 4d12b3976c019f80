"""The `quietchurn` command line. Heavy libraries are imported inside commands so `--help` stays fast.

An error the user can fix prints one message and a hint, no traceback (`--debug` shows it); which
errors those are, and their exit codes, is flows/errors.py (docs/operations.md).
"""

from __future__ import annotations

import os
import sys
import traceback
from contextlib import contextmanager, suppress
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup
from typer.exceptions import TyperException

from flows.runtime import apply_quiet_defaults

_session: dict[str, Any] = {"debug": False, "config": None}  # this invocation: --debug, and the config once loaded
console = Console()
err_console = Console(stderr=True)


class _Group(TyperGroup):
    """The root command: renders the errors of every subcommand (flows/errors.py)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # exits, aborts and usage errors: click's own
            raise
        except BrokenPipeError:  # `quietchurn ... | head`: the reader has gone, which is no error of ours
            with suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/yellow]")
            raise typer.Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - every error ends in one message (or the traceback with --debug)
            _report(exc, _session["debug"], _session["config"])


def _report(exc: Exception, debug: bool, config) -> None:
    from rich.markup import escape

    from flows.errors import DEBUG_HINT, explain, redact, unexpected

    explained = explain(exc, config) or unexpected(exc)
    if debug:
        err_console.print(traceback.format_exc(), markup=False, highlight=False, soft_wrap=True)
    message = escape(redact(explained.message, _secrets(config)))  # "[libpq]" and the like are text, not markup
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    if not (debug and explained.hint == DEBUG_HINT):
        err_console.print(f"[dim]hint:[/dim] {escape(explained.hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(explained.exit_code) from None


def _secrets(config) -> list[str]:
    """The DSNs and the alert URL the config's environment variables hold: never printed."""
    if config is None:
        return []
    return [os.environ.get(env, "") for env in (config.source.dsn_env, config.sink.dsn_env, config.monitoring.alert_url_env) if env]


app = typer.Typer(
    name="quietchurn",
    cls=_Group,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="On an error, show the full traceback (and Prefect's own logs).")] = False,
) -> None:
    """Find customers who are unhappy but silent.

    Examples:

    ```sh
    quietchurn demo        # simulate a company and run the pipeline on it
    quietchurn simulate --customers 5000 --days 365 --seed 7 --out data/
    quietchurn check-data --config configs/demo.yaml
    quietchurn --debug run nightly --config configs/demo.yaml   # tracebacks on errors
    ```

    Exit codes: 0 done; 1 check-data found too little data, or an unexpected error; 2 something to
    fix in the config, the data or the registry; 3 a database or server was unavailable: try again.
    See docs/operations.md.
    """
    _session.update(debug=debug, config=None)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="YAML config (see configs/demo.yaml).", exists=True, dir_okay=False),
]




def _fail(message: str, code: int = 2) -> None:
    from rich.markup import escape

    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _debug() -> bool:
    return bool(_session["debug"])


def _load(path: Path | None, *, source: bool = False, sink: bool = False):
    """The config, remembered for error messages; the DSN variables the command needs must be set.

    A missing variable is found here, before Prefect starts, not after an ingest's retries.
    """
    from configs import load_config

    config = _session["config"] = load_config(path)
    for needed, part, key in ((source, config.source, "source.dsn_env"), (sink, config.sink, "sink.dsn_env")):
        if needed and part.kind == "postgres" and not os.environ.get(part.dsn_env or ""):
            _fail(f"environment variable {part.dsn_env} ({key}) is not set: it must hold the PostgreSQL DSN, e.g. "
                  f"export {part.dsn_env}='postgresql://user@host:5432/db' (docs/operations.md)")
    return config


def _parse_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date YYYY-MM-DD like 2025-12-01, got {value!r}") from None


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write one Parquet file per table, and ground_truth/, into.")],
    customers: Annotated[int, typer.Option(min=100, max=5_000_000, help="Customers in the simulated company.")] = 20_000,
    days: Annotated[int, typer.Option(min=30, max=3650, help="Days of history; the simulated today is start + days.")] = 365,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: a seed always gives the same world.")] = 42,
    start: Annotated[str | None, typer.Option(metavar="DATE", help="First simulated day, YYYY-MM-DD (default 2025-01-01).")] = None,
    regime: Annotated[
        str,
        typer.Option(
            metavar="[subscription|purchases]",
            help="subscription: contracts that end (the demo's). purchases: a shop, no subscriptions table, churn only "
            "visible as inactivity (read it with churn.definition: inactivity).",
        ),
    ] = "subscription",
    response_rate: Annotated[
        float | None,
        typer.Option(min=0.01, max=0.95, help="Share of survey invitations answered, e.g. 0.05 (default: ~21% subscription, 10% purchases)."),
    ] = None,
) -> None:
    """Write a synthetic company's input tables (and its hidden ground truth, apart).

    Examples:

    ```sh
    quietchurn simulate --out data/      # 20,000 customers from 2025-01-01, 1 year (today = 2026-01-01), seed 42
    quietchurn simulate --customers 2000 --days 240 --seed 7 --start 2024-03-01 --out /tmp/small
    quietchurn simulate --regime purchases --customers 2000 --days 730 --start 2024-01-01 --response-rate 0.05 --out /tmp/shop
    ```
    """
    from simulator import DEFAULT_START, REGIMES, write_world

    if regime not in REGIMES:
        _fail(f"--regime must be one of {', '.join(REGIMES)}, got {regime!r}")
    summary = write_world(
        out, customers=customers, days=days, seed=seed, start=_parse_date(start) or DEFAULT_START, regime=regime, response_rate=response_rate
    )
    console.print(f"Simulated world written to [bold]{out}[/bold] (today = {summary.today}).")
    for table, rows in summary.row_counts.items():
        console.print(f"  {table:<14} {rows:>12,} rows")
    console.print(f"Ground truth (never read by the pipeline): {out / 'ground_truth'}")


AS_OF_HELP = "Run date YYYY-MM-DD (default: today in schedule.timezone; for simulated data, the simulated today)."
AsOfOption = Annotated[str | None, typer.Option("--as-of", metavar="DATE", help=AS_OF_HELP)]


@app.command("check-data")
def check_data(
    config: ConfigOption,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", metavar="DATE", help="Data observed until this date, YYYY-MM-DD (default: today, or the simulated today)."),
    ] = None,
) -> None:
    """Data-sufficiency and quality report for the configured sources, before any training.

    Exits 1, with the reason, when the data cannot support training.

    Examples:

    ```sh
    quietchurn check-data --config configs/demo.yaml
    quietchurn check-data --config configs/demo.yaml --as-of 2025-12-01
    ```
    """
    from flows.check_data import build_report, render_report
    from flows.runtime import default_as_of

    cfg = _load(config, source=True)
    observed_until = _parse_date(as_of) or default_as_of(cfg)
    report, _ = build_report(cfg, observed_until)
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

    Examples:

    ```sh
    quietchurn demo
    quietchurn demo --customers 5000
    ```
    """
    import shutil

    from configs import DEMO_CONFIG
    from flows.runtime import use_workspace_prefect_home

    cfg = _load(DEMO_CONFIG)
    use_workspace_prefect_home(cfg)  # before Prefect is imported: the demo's runs stay in its workspace
    from flows.demo_report import print_demo_report
    from simulator import DEFAULT_START, write_world

    started = datetime.now()
    if cfg.source.path.exists():
        shutil.rmtree(cfg.source.path)  # the simulated world is regenerated: same seed, same world
    console.rule("1/3 Simulating a company")
    summary = write_world(cfg.source.path, customers=customers, days=days, seed=seed, start=DEFAULT_START)
    console.print(f"{customers:,} customers over {days} days; simulated today = {summary.today}; data in {cfg.source.path}")
    console.rule("2/3 Training: ingest -> train -> gate (Prefect)")
    trained = _run_flow("train", DEMO_CONFIG, summary.today.isoformat())
    crowned_by_hand = _crown_if_refused(cfg, trained)
    console.rule("3/3 Nightly pipeline: ingest -> build_features -> score (Prefect; the fresh model is not retrained)")
    result = _run_flow("nightly", DEMO_CONFIG, summary.today.isoformat())
    print_demo_report(console, cfg, result, trained, crowned_by_hand, os.environ.get("PREFECT_HOME", "(PREFECT_API_URL)"), started)


def _crown_if_refused(cfg, trained) -> bool:
    """If the gate refused the demo's first model, say so and promote it by hand so the demo can score.

    In production nightly stops at that point with no champion; promoting a refused version is
    the operator's call (`quietchurn model promote`), and the demo makes that call in the open.
    """
    from models.registry import champion_version, client_for, promote

    client = client_for(cfg)
    if trained.promoted or champion_version(client, cfg.registered_model_name) is not None:
        state = "promoted" if trained.promoted else "not promoted; the current champion keeps scoring"
        console.print(f"Version {trained.version} {state}: {trained.reason}", highlight=False)
        return False
    console.print(
        f"[yellow]The promotion gate refused version {trained.version}:[/yellow] {trained.reason}.\n"
        "In production nightly would stop here without a champion. The demo promotes it by hand so you can see "
        f"scores (the same as `quietchurn model promote --config configs/demo.yaml --version {trained.version}`).",
        highlight=False,
    )
    promote(client, cfg.registered_model_name, trained.version, by_hand=True)
    return True


@app.command()
def scores(
    config: ConfigOption,
    top: Annotated[int, typer.Option(min=1, max=100_000, help="How many rows to print.")] = 20,
    silent_only: Annotated[bool, typer.Option("--silent-only", help="Only silent-dissatisfied customers, by silent_rank.")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="DATE", help="Scores of this date, YYYY-MM-DD (default: the newest).")] = None,
) -> None:
    """Print the scored table, most at risk first.

    Examples:

    ```sh
    quietchurn scores --config configs/demo.yaml --top 20
    quietchurn scores --config configs/demo.yaml --silent-only --as-of 2026-01-01
    ```
    """
    from flows.views import print_scores
    from sinks import open_sink

    cfg = _load(config, sink=True)
    frame = open_sink(cfg.sink).read_scores(_parse_date(as_of))
    print_scores(console, frame, top, silent_only)


@app.command()
def report(
    config: ConfigOption,
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="DATE", help="Report on this scored date, YYYY-MM-DD (default: the newest).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="HTML file to write (default: reports/report-DATE.html in the config's workspace).", dir_okay=False)] = None,
) -> None:
    """Write the morning report: one self-contained HTML page (risk, silent list with reasons, drift, performance over time, data health).

    Reads the sink's tables only; the page loads nothing from the network. Every nightly writes one too (docs/report.md).

    Examples:

    ```sh
    quietchurn report --config configs/demo.yaml
    quietchurn report --config configs/demo.yaml --as-of 2026-01-01 --out /tmp/morning.html
    ```
    """
    from flows.report_writer import write_report

    cfg = _load(config, sink=True)
    written = write_report(cfg, _parse_date(as_of), out)
    console.print(f"Morning report for {written.as_of} written to {written.path}", highlight=False, soft_wrap=True)


run_app = typer.Typer(
    help="""Run one flow now, locally (Prefect's temporary local API unless PREFECT_API_URL is set).

Each run prints a line per finished step with its time, then its summary. Runs and their logs are
kept in `<workspace>/prefect` (PREFECT_HOME), unless PREFECT_HOME or PREFECT_API_URL is set.

Examples:

```sh
quietchurn run nightly --config configs/demo.yaml
quietchurn run train --config configs/demo.yaml --as-of 2025-12-01
quietchurn run score --config configs/demo.yaml
quietchurn run monitor --config configs/demo.yaml --as-of 2026-01-01
quietchurn run backfill --config configs/demo.yaml --from 2025-11-03 --to 2025-12-29
quietchurn --debug run ingest --config configs/demo.yaml   # tracebacks on errors
```
""",
    no_args_is_help=True,
)
app.add_typer(run_app, name="run")


@contextmanager
def _prefect_session(cfg):
    """Prefect set up for a run from the terminal: its home in the workspace, quiet console with
    progress lines, its temporary server stopped even if this process is killed; leftovers of killed
    runs cleaned first (flows/leftovers.py)."""
    from rich.markup import escape

    from flows.leftovers import clean_after_killed_runs, release_workspace
    from flows.runtime import use_workspace_prefect_home

    home = use_workspace_prefect_home(cfg) or os.environ.get("PREFECT_HOME")  # set before Prefect is imported
    if not _debug():  # the temporary server writes to this terminal: only what stops it, not errors it retries itself
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    from prefect.settings import PREFECT_API_URL

    from flows.console import quiet_prefect_console, show_progress

    if not _debug():
        quiet_prefect_console()
    show_progress(err_console)
    for line in clean_after_killed_runs(cfg):
        err_console.print(f"[yellow]cleaned after a killed run:[/yellow] {escape(line)}", highlight=False, soft_wrap=True)
    from flows.watchdog import guard_children

    if not PREFECT_API_URL.value() and guard_children() is not None:  # the first run of this process starts it
        where = f" (PREFECT_HOME={home})" if home else ""
        err_console.print(f"[dim]starting Prefect's temporary local API{where} ...[/dim]", highlight=False, soft_wrap=True)
    try:
        yield
    finally:
        release_workspace(cfg.workspace)


def _run_flow(name: str, config: Path, as_of: str | None, **params):
    """Call a flow in-process with the resolved config path (its errors are rendered by the root group)."""
    cfg = _load(config, source=True, sink=True)  # fail fast with key paths before Prefect starts
    day = _parse_date(as_of)
    from flows.alerts import require_alert_url

    require_alert_url(cfg)  # monitoring.alert_url_env names a variable that must be set (docs/monitoring.md#alerts)
    with _prefect_session(cfg):
        from flows import pipeline

        flows = {
            "ingest": pipeline.ingest,
            "features": pipeline.build_features,
            "train": pipeline.train,
            "score": pipeline.score_flow,
            "nightly": pipeline.nightly,
            "monitor": pipeline.monitor,
            "backfill": pipeline.backfill,
        }
        return flows[name](str(config.resolve()), day, **params)


@run_app.command("ingest")
def run_ingest(config: ConfigOption, as_of: AsOfOption = None) -> None:
    """Read and validate the sources into a dated snapshot; quarantine bad rows in `rejects`.

    Example:

    ```sh
    quietchurn run ingest --config configs/demo.yaml --as-of 2026-01-01
    ```
    """
    result = _run_flow("ingest", config, as_of)
    console.print(f"Snapshot {result.snapshot} ({result.rejects:,} rejected rows recorded).")


@run_app.command("features")
def run_features(
    config: ConfigOption,
    as_of: AsOfOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the feature frame here (Parquet).")] = None,
) -> None:
    """Build the point-in-time feature frame of every eligible customer as of a date.

    Example:

    ```sh
    quietchurn run features --config configs/demo.yaml --as-of 2026-01-01 --out features.parquet
    ```
    """
    result = _run_flow("features", config, as_of, out=str(out.resolve()) if out else None)
    console.print(f"Feature frame {result.rows:,} rows x {result.columns} columns -> {result.path}")


@run_app.command("train")
def run_train(config: ConfigOption, as_of: AsOfOption = None) -> None:
    """Train, evaluate out of time, log to MLflow, register, and gate the `champion` alias.

    Examples:

    ```sh
    quietchurn run train --config configs/demo.yaml
    quietchurn run train --config configs/demo.yaml --as-of 2025-12-01
    ```
    """
    result = _run_flow("train", config, as_of)
    state = "promoted to champion" if result.promoted else "registered (not promoted)"
    console.print(f"Version {result.version} {state}: {result.reason}", highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)


def _print_summary(markdown: str) -> None:
    from rich.markdown import Markdown

    console.print(Markdown(markdown))


@run_app.command("score")
def run_score(config: ConfigOption, as_of: AsOfOption = None) -> None:
    """Score every eligible customer with the champion into `churn_scores`.

    Example:

    ```sh
    quietchurn run score --config configs/demo.yaml --as-of 2026-01-01
    ```
    """
    result = _run_flow("score", config, as_of)
    _print_summary(result.summary_markdown)


@run_app.command("monitor")
def run_monitor(config: ConfigOption, as_of: AsOfOption = None) -> None:
    """Drift, estimated and realised performance of a scored date into `feature_drift` and `score_performance`.

    Compares the date's features and scores with the training reference of the model version that
    scored it; fails (after writing) when drift reaches `monitoring.drift.fail` (docs/monitoring.md).

    Examples:

    ```sh
    quietchurn run monitor --config configs/demo.yaml
    quietchurn run monitor --config configs/demo.yaml --as-of 2026-01-01
    ```
    """
    result = _run_flow("monitor", config, as_of)
    verdict = result.drift_summary
    console.print(f"Monitored {result.as_of} (model v{result.model_version}): drift {verdict['status']}.", highlight=False)
    for worst in verdict.get("worst_features", []):  # the largest drifts; only the ten most important features decide
        console.print(f"  {worst['feature']} (importance rank {worst['importance_rank']}): PSI {worst['value']:.3f} ({worst['status']})", highlight=False)
    for check in verdict["realised"]:
        figures = "undefined" if check["pr_auc"] is None else f"{check['pr_auc']:.4f}"
        test = "" if check["test_pr_auc"] is None else f" (the model's test PR-AUC {check['test_pr_auc']:.4f})"
        console.print(f"  realised PR-AUC of {check['as_of']}: {figures}{test}", highlight=False)
    health = verdict["data_health"]
    console.print(f"Data health {health['status']}.", highlight=False)
    for issue in health["issues"]:
        console.print(f"  {issue}", highlight=False)


def _parse_every(value: str) -> int:
    """`7d`, `7` (days) or `2w` (weeks) -> days."""
    import re

    match = re.fullmatch(r"\s*(\d+)\s*([dw]?)\s*", value.lower())
    if not match or int(match[1]) < 1:
        raise typer.BadParameter(f"expected a step like 7d (days) or 2w (weeks), at least one day; got {value!r}")
    return int(match[1]) * (7 if match[2] == "w" else 1)


@run_app.command("backfill")
def run_backfill(
    config: ConfigOption,
    start: Annotated[str, typer.Option("--from", metavar="DATE", help="First as-of date to score and monitor (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", metavar="DATE", help="Last as-of date (YYYY-MM-DD); included when it falls on the step.")],
    every: Annotated[str, typer.Option("--every", metavar="STEP", help="Step between dates: 7d (days) or 2w (weeks).")] = "7d",
) -> None:
    """Score and monitor a range of past dates with the champion, so a new installation has a drift and
    performance history at once.

    Every date is scored into `churn_scores` and monitored into `feature_drift` / `score_performance`
    from one input snapshot (features as of a date see only rows before it); running it again replaces
    each date's rows. A range the data does not cover is refused before anything is written
    (docs/monitoring.md#backfill).

    Examples:

    ```sh
    quietchurn run backfill --config configs/demo.yaml --from 2025-11-03 --to 2025-12-29
    quietchurn run backfill --config configs/demo.yaml --from 2025-10-06 --to 2025-12-29 --every 4w
    ```
    """
    from flows.backfill_tasks import backfill_dates

    backfill_dates(_parse_date(start), _parse_date(end), _parse_every(every))  # a bad range fails before Prefect starts
    result = _run_flow("backfill", config, start, end=_parse_date(end), every_days=_parse_every(every))
    console.print(f"Backfilled {len(result.dates)} date(s) with model v{result.model_version} from {result.snapshot}:", highlight=False, soft_wrap=True)
    for d in result.dates:
        realised = f", realised {len(d.realised_dates)} earlier date(s)" if d.realised_dates else ""
        console.print(f"  {d.as_of}: {d.customers_scored:,} scored, drift {d.drift_status}, data health {d.data_health}{realised}", highlight=False)
    if result.in_sample_until and result.dates[0].as_of <= result.in_sample_until:
        console.print(f"Dates up to {result.in_sample_until} (the model's test snapshot) lie in its training history: their realised "
                      "performance is in-sample, not a forecast's.", highlight=False, soft_wrap=True)


@run_app.command("nightly")
def run_nightly(
    config: ConfigOption,
    as_of: AsOfOption = None,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train even if the champion is fresh.")] = False,
) -> None:
    """ingest -> train (when asked, missing, stale or drifted) -> build_features -> score -> monitor -> morning report.

    Examples:

    ```sh
    quietchurn run nightly --config configs/demo.yaml
    quietchurn run nightly --config configs/demo.yaml --as-of 2025-12-01 --retrain
    ```
    """
    result = _run_flow("nightly", config, as_of, retrain=retrain)
    _print_summary(result.score.summary_markdown)
    console.print(f"Morning report: {result.report}", highlight=False, soft_wrap=True)


@app.command()
def serve(
    config: ConfigOption,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port of the local Prefect server (default: 4200, or a free one). Ignored when PREFECT_API_URL is set.")] = None,
) -> None:
    """Serve the nightly (on `schedule.cron`), train and score deployments until Ctrl-C or SIGTERM.

    Without PREFECT_API_URL it starts a local Prefect server (database in `<workspace>/prefect`) and
    prints its UI address; Prefect's temporary server would never fire the schedule. One run at a time.

    Examples:

    ```sh
    quietchurn serve --config configs/demo.yaml
    PREFECT_API_URL=http://127.0.0.1:4200/api quietchurn serve --config configs/acme.yaml
    prefect deployment run 'nightly/demo' --param as_of=2025-12-01 --param retrain=true
    prefect deployment run 'score/demo'
    ```
    """
    from flows.runtime import use_workspace_prefect_home

    cfg = _load(config, source=True, sink=True)  # fail fast with key paths before any server starts
    use_workspace_prefect_home(cfg)  # before Prefect is imported
    from flows.serve import serve_forever

    serve_forever(config, port, announce=lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True))


model_app = typer.Typer(
    help="""Move the `champion` alias of the registered model by hand.

The champion is the version nightly scoring uses. Training promotes a version only when it beats
the baselines and the current champion (training.gate); these commands override that by hand.

Examples:

```sh
quietchurn model promote --config configs/demo.yaml --version 2
quietchurn model rollback --config configs/demo.yaml
```
""",
    no_args_is_help=True,
)
app.add_typer(model_app, name="model")


@model_app.command("promote")
def model_promote(
    config: ConfigOption,
    version: Annotated[str, typer.Option("--version", help="Registered model version to make champion.")],
) -> None:
    """Make a registered model version the `champion` (the one nightly scoring uses).

    Example:

    ```sh
    quietchurn model promote --config configs/demo.yaml --version 1
    ```
    """
    from mlflow.exceptions import MlflowException

    from models.registry import client_for, promote

    cfg = _load(config)
    try:
        promote(client_for(cfg), cfg.registered_model_name, version, by_hand=True)
    except MlflowException as exc:
        _fail(f"cannot promote {cfg.registered_model_name} version {version}: {exc.message}")
    console.print(f"{cfg.registered_model_name}@champion -> version {version}")


@model_app.command("rollback")
def model_rollback(config: ConfigOption) -> None:
    """Move `champion` back to the version that held it before the current one.

    Example:

    ```sh
    quietchurn model rollback --config configs/demo.yaml
    ```
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
