"""The morning report (docs/report.md): read one scored date and the monitoring history from the sink,
render it (report/), write the page into the workspace; the nightly also logs it to MLflow and links
it from a Prefect artifact."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from configs import Config
from flows import workspace
from flows.tasks import IO_RETRIES, IO_RETRY_DELAY_S, PipelineError, uncached_task
from report import ReportTables, render_report

MLFLOW_ARTIFACT_DIR = "reports"


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    as_of: date
    mlflow_run_id: str  # the training run of the model version that scored the date


def read_report_tables(config: Config, as_of: date | None) -> ReportTables:
    """The date's churn_scores (None: the newest scored date) and the monitoring history; a date with
    no scores is an error that names the dates there are."""
    from sinks import open_sink

    sink = open_sink(config.sink)
    scores = sink.read_scores(as_of)
    runs = sink.read_score_runs()
    if scores.height == 0:
        dates = sorted({d.isoformat() for d in runs["as_of"]})
        if not dates:
            raise PipelineError(
                f"the sink ({config.sink.kind}) holds no scores yet, so there is nothing to report: run "
                "`quietchurn run nightly --config ...` first (docs/report.md)"
            )
        shown = ", ".join(dates[-5:]) + (f" (and {len(dates) - 5} earlier)" if len(dates) > 5 else "")
        raise PipelineError(
            f"churn_scores holds no rows for as-of {as_of}, so there is no report for it; scored dates: {shown}. Pick one "
            f"with --as-of, or score the date first: `quietchurn run score --config ... --as-of {as_of}` (docs/report.md)"
        )
    return ReportTables(scores, runs, sink.read_feature_drift(), sink.read_score_performance())


def _write_text(text: str, target: Path) -> Path:
    """Write a file atomically (temp file + rename): a reader never sees half a page."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    staging.write_text(text, encoding="utf-8")
    os.replace(staging, target)
    return target


def write_report(config: Config, as_of: date | None = None, out: Path | None = None) -> WrittenReport:
    """Render the date's report (None: the newest scored date) to ``out`` (default: the workspace)."""
    tables = read_report_tables(config, as_of)
    day = tables.scores["as_of"][0]
    html = render_report(tables, config, datetime.now(UTC))
    path = _write_text(html, out or workspace.report_path(config, day))
    return WrittenReport(path.resolve(), day, tables.scores["mlflow_run_id"][0])


@uncached_task(name="write-report", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def publish_report(config: Config, as_of: date) -> str:
    """The nightly's report: written to the workspace, logged to MLflow as an artifact of the training
    run of the model version that scored the date (under `reports/`), and linked from a Prefect
    markdown artifact. Returns the file's absolute path."""
    from prefect.artifacts import create_markdown_artifact

    from models.registry import client_for

    written = write_report(config, as_of)
    client_for(config).log_artifact(written.mlflow_run_id, str(written.path), artifact_path=MLFLOW_ARTIFACT_DIR)
    create_markdown_artifact(
        markdown=f"# quietchurn morning report as of {as_of}\n\n[{written.path}]({written.path.as_uri()})\n\n"
        f"Also in MLflow: run `{written.mlflow_run_id}`, artifact `{MLFLOW_ARTIFACT_DIR}/{written.path.name}`.\n",
        key=f"quietchurn-report-{as_of.isoformat()}",
        description="quietchurn morning report",
    )
    return str(written.path)
