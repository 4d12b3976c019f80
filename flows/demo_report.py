"""What `quietchurn demo` prints at the end: where everything is, the run summary, the top silent customers."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.markdown import Markdown

from configs import Config
from flows.results import NightlyResult, TrainResult


def print_demo_report(
    console: Console, config: Config, result: NightlyResult, trained: TrainResult, crowned_by_hand: bool, prefect_home: str, started: datetime
) -> None:
    """``trained``: the demo's own training run before the nightly (which then finds a fresh champion)."""
    scored = result.score
    if crowned_by_hand:
        console.print(
            f"[yellow]Note:[/yellow] model v{scored.model_version} scores because the demo promoted it by hand after the "
            f"gate refused it ({trained.reason}).",
            highlight=False,
        )
    console.rule("Run summary")
    console.print(Markdown(scored.summary_markdown))
    from flows.summary import training_lines

    console.print(Markdown("\n".join(training_lines(trained))))
    console.rule("Where everything is")
    store = config.tracking_uri.removeprefix("sqlite:///")
    console.print(
        f"Scores (DuckDB)     {config.sink.path}  tables churn_scores, latest_churn_scores, score_runs, rejects\n"
        f"Input snapshot      {result.ingest.snapshot}\n"
        f"Feature frame       {result.features.path}\n"
        f"Morning report      {result.report}  (open it in a browser; docs/report.md)\n"
        f"MLflow store        {config.tracking_uri}  (model {scored.model_name} v{scored.model_version}, run {scored.mlflow_run_id})\n"
        f"Prefect data        {prefect_home}",
        highlight=False,
    )
    console.rule("Look around")
    console.print(
        "Read the scores:     quietchurn scores --config configs/demo.yaml --silent-only --top 20\n"
        f"                     python -c \"import duckdb; duckdb.connect('{config.sink.path}', read_only=True).sql('from latest_churn_scores order by risk_rank limit 10').show()\"\n"
        f"MLflow UI:           MLFLOW_DISABLE_TELEMETRY=true mlflow ui --backend-store-uri sqlite:///{store} --port 5000   (then http://127.0.0.1:5000)\n"
        f"Prefect UI:          PREFECT_HOME={prefect_home} PREFECT_SERVER_ANALYTICS_ENABLED=false prefect server start   (then http://127.0.0.1:4200)\n"
        "Running it nightly:  docs/operations.md (exit codes, errors and their fixes, reading DuckDB while a run writes)",
        highlight=False,
    )
    console.print(f"\nDone in {(datetime.now() - started).total_seconds():.0f} s.")
