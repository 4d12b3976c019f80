"""What each flow returns: small typed records instead of dicts read by string key.

They hold references and figures (paths, versions, counts, the run summary), never frames, so a
flow's result stays cheap to keep in memory; Prefect returns them as they are (results are not persisted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class TableCounts:
    """Rows of one input table: read = accepted + rejected."""

    read: int
    accepted: int
    rejected: int


@dataclass(frozen=True)
class IngestResult:
    as_of: date
    snapshot: str  # the committed snapshot folder
    rejects: int
    tables: dict[str, TableCounts]


@dataclass(frozen=True)
class FeaturesResult:
    as_of: date
    path: str  # the feature frame (Parquet)
    rows: int
    columns: int


@dataclass(frozen=True)
class TrainResult:
    run_id: str  # the MLflow run
    version: str  # the registered model version
    promoted: bool  # whether the gate gave it the champion alias
    reason: str  # the gate's reason, in words
    notes: list[str]
    metrics: dict[str, float]
    split: dict[str, str]  # split_train_dates, split_valid_date, split_test_date


@dataclass(frozen=True)
class ScoreRun:
    """One score_runs row (docs/output-tables.md); ``drift_summary`` stays null until the monitor fills it."""

    as_of: date
    flow_run_id: str
    model_name: str
    model_version: str
    customers_scored: int
    high_risk: int
    silent_dissatisfied: int
    survey_response_rate: float | None
    respondent_score: float | None
    estimated_population_score: float | None
    rejects: int
    started_at: datetime
    finished_at: datetime
    drift_summary: dict | None = None

    def row(self) -> dict:
        """The row as the sink appends it."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class ScoreResult:
    run: ScoreRun
    mlflow_run_id: str
    summary_markdown: str
    warnings: list[str] = field(default_factory=list)

    # the figures callers read most, without reaching into the run
    @property
    def as_of(self) -> date:
        return self.run.as_of

    @property
    def model_name(self) -> str:
        return self.run.model_name

    @property
    def model_version(self) -> str:
        return self.run.model_version

    @property
    def customers_scored(self) -> int:
        return self.run.customers_scored

    @property
    def flow_run_id(self) -> str:
        return self.run.flow_run_id


@dataclass(frozen=True)
class MonitorResult:
    as_of: date
    model_version: str
    status: str  # drift status: ok | warn | fail | unknown
    drift_summary: dict  # the verdict written to score_runs.drift_summary
    summary_markdown: str
    feature_drift_rows: int
    estimated_rows: int
    realised_dates: list[date]


@dataclass(frozen=True)
class NightlyResult:
    as_of: date
    ingest: IngestResult
    train: TrainResult | None  # None: the champion was fresh
    train_reason: str | None  # why it trained (None: it did not)
    features: FeaturesResult
    score: ScoreResult
    monitor: MonitorResult
    report: str | None = None  # the morning report's file (docs/report.md)
