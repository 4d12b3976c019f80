"""The nightly's morning report (docs/report.md): written to the workspace, logged to MLflow, linked
from a Prefect artifact. Reading and rendering are flows/report_writer.py's."""

from __future__ import annotations

from datetime import date

from configs import Config
from flows.report_writer import write_report
from flows.tasks import IO_RETRIES, IO_RETRY_DELAY_S, uncached_task

MLFLOW_ARTIFACT_DIR = "reports"


@uncached_task(name="write-report", retries=IO_RETRIES, retry_delay_seconds=IO_RETRY_DELAY_S)
def publish_report(config: Config, as_of: date) -> str:
    """The date's report written to the workspace, logged to MLflow as an artifact of the training run
    of the model version that scored the date (under `reports/`), and linked from a Prefect markdown
    artifact. Returns the file's absolute path."""
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
