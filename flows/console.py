"""What a run shows on the terminal: one line per finished step with its time, the pipeline's own
notes, warnings, and no tracebacks unless `--debug`.

Prefect's console handler prints every task state and, when a flow fails, the traceback of the
failure at each level (task, subflow, flow). Without `--debug` that handler shows warnings only and
never a traceback (the CLI prints the failure once, docs/operations.md); the Prefect API still
receives the full run logs. With `--debug` Prefect's console is left as it is.
"""

from __future__ import annotations

import logging
import time
import warnings

from rich.console import Console
from rich.markup import escape

RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")

# what each finished task means to a reader; tasks not named here are shown by their own name
STEPS = {
    "load-config": None,  # instant and always there: not shown
    "check-coverage": "as-of date checked against the data",
    "require-champion": "champion found",
    "stage-snapshot": "sources read and validated",
    "record-rejects": "rejected rows recorded",
    "commit-snapshot": "snapshot committed",
    "read-snapshot": None,
    "training-frames": "training frames built",
    "fit-models": "models fitted",
    "register-model": "model logged, registered and gated",
    "load-champion": "champion loaded",
    "needs-training": "training need checked",
    "scoring-features": "features built",
    "write-features": "feature frame written",
    "read-features": "feature frame read",
    "score-customers": "customers scored",
    "write-scores": "scores written",
    "record-score-run": "run recorded",
    "publish-summary": "summary published",
    "read-scored-date": "scores of the date read",
    "load-scoring-model": "scoring model loaded",
    "check-data-health": "data health checked",
    "measure-drift": "drift measured",
    "read-matured-scores": "matured dates read",
    "measure-performance": "performance estimated and realised",
    "test-pr-aucs": "test PR-AUCs read",
    "judge-date": "verdict made",
    "write-monitoring": "monitoring tables written",
    "raise-alarm": "thresholds checked",
    "publish-monitor-summary": "verdict published",
}


def _is_failure_report(record: logging.LogRecord) -> bool:
    """Prefect's own report of a failed task or flow: the CLI says it once, in words."""
    if not record.name.startswith(RUN_LOGGERS):
        return False
    return record.exc_info is not None or record.getMessage().startswith("Finished in state")


def _without_traceback(format_record):
    """A handler's format that leaves out exc_info and stack info (other handlers still get them)."""

    def format(record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info = record.exc_text = record.stack_info = None
        try:
            return format_record(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved

    return format


def quiet_prefect_console() -> None:
    """Prefect's console handlers: warnings and errors only, no failure reports, no tracebacks."""
    import prefect.main  # noqa: F401 - configures Prefect's logging (on first import), adjusted below
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in ("prefect", *RUN_LOGGERS))]
    for handler in {h for logger in loggers for h in logger.handlers if isinstance(h, PrefectConsoleHandler)}:
        if getattr(handler, "_quietchurn_quiet", False):
            continue
        # a filter, not setLevel: Prefect's incremental logging setup resets handler levels
        handler.addFilter(lambda record: record.levelno >= logging.WARNING and not _is_failure_report(record))
        handler.format = _without_traceback(handler.format)
        handler._quietchurn_quiet = True
    # MLflow's notes on how a model gets logged ("Creating initial MLflow database tables", CloudPickle,
    # schema hints) are for quietchurn's developers, not for whoever runs it
    import mlflow  # noqa: F401 - sets its loggers' levels when first imported: adjusted after that

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.")


class StepProgress(logging.Handler):
    """Turns Prefect's run records into a line per finished step: "features built  12.3 s".

    Tasks of a flow run one after another, so a step took the time since the previous step (or its
    flow) finished or began.
    """

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console
        self.mark = time.monotonic()
        self.flow_started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._show(record)
        except Exception:  # noqa: BLE001 - progress must never fail a run
            self.handleError(record)

    def _show(self, record: logging.LogRecord) -> None:
        now, message = time.monotonic(), record.getMessage()
        flow_run = str(getattr(record, "flow_run_id", ""))
        if record.levelno >= logging.WARNING or record.exc_info:
            return  # Prefect's console shows warnings; failures are reported once by the CLI
        if record.name == "prefect.flow_runs":
            if message.startswith(("Beginning flow run", "Beginning subflow run")):
                self.flow_started[flow_run] = self.mark = now
                self.console.print(f"[bold]{getattr(record, 'flow_name', 'flow')}[/bold]", highlight=False)
            elif message.startswith("Finished in state Completed"):
                took = now - self.flow_started.pop(flow_run, now)
                self.console.print(f"[bold]{getattr(record, 'flow_name', 'flow')}[/bold] done in {_seconds(took)}", highlight=False)
                self.mark = now
            elif not message.startswith("Finished in state"):
                self.console.print(f"  [dim]{escape(message)}[/dim]", highlight=False)
            return
        if record.name == "prefect.task_runs":
            name = getattr(record, "task_name", "task")
            if message.startswith("Finished in state Completed"):
                took, self.mark = now - self.mark, now
                words = STEPS.get(name, name)
                if words:
                    self.console.print(f"  {words} in {_seconds(took)}", highlight=False)
            elif "Retry" in message and "will start" in message:
                self.console.print(f"  [yellow]{escape(_retry_line(name, record, message))}[/yellow]", highlight=False, soft_wrap=True)
            elif not message.startswith("Finished in state"):
                self.console.print(f"  [dim]{escape(message)}[/dim]", highlight=False)


def _retry_line(name: str, record: logging.LogRecord, message: str) -> str:
    """Prefect's "Task run failed with exception: <repr> - Retry 1/2 will start 5 second(s) from now", shortened."""
    if isinstance(record.args, tuple) and len(record.args) == 5:
        _, failure, attempt, attempts, when = record.args
        first = next((line.strip() for line in str(failure).splitlines() if line.strip()), type(failure).__name__)
        return f"{name} failed ({type(failure).__name__}: {first}); retry {attempt}/{attempts} will start {when}"
    return f"{name}: {message}"


def _seconds(took: float) -> str:
    return f"{took:.1f} s" if took < 10 else f"{took:.0f} s"


def show_progress(console: Console) -> StepProgress:
    """Attach a StepProgress to Prefect's run loggers (once); returns it."""
    for name in RUN_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, StepProgress):
                return handler
    progress = StepProgress(console)
    for name in RUN_LOGGERS:
        logging.getLogger(name).addHandler(progress)
    return progress
