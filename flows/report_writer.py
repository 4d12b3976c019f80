"""Read one scored date and the monitoring history from the sink, render the morning report (report/),
write the page (docs/report.md). Plain functions: `quietchurn report` calls them without Prefect, so
nothing heavy is imported here (flows.tasks brings LightGBM and Prefect: seconds); flows/report_tasks.py
is the nightly's task around them.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from configs import Config
from flows import workspace
from report import ReportTables, render_report


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
        from flows.tasks import PipelineError  # the error the CLI explains (flows/errors.py); imported only to raise it

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
