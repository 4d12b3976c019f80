"""Typed configuration: YAML is validated into these models once, at start.

Unknown keys and bad values are errors that name the key path. Secrets never live here:
a DSN is read from the environment variable that ``dsn_env`` names, at the moment it is needed.
Relative paths resolve against the current working directory when the file is loaded.
"""

from __future__ import annotations

import os
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

TableName = Literal["customers", "events", "subscriptions", "tickets", "orders", "billing", "surveys"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as 'UTC' or 'Europe/Paris')") from exc
    return value


def read_secret(env_var: str | None, key_path: str) -> str:
    """The value of the environment variable a config key names (DSNs, passwords)."""
    if not env_var:
        raise ValueError(f"{key_path} is not set: name the environment variable that holds the DSN")
    value = os.environ.get(env_var)
    if not value:
        raise ValueError(f"environment variable {env_var} (named by {key_path}) is not set")
    return value


def _path_or_url(value: object) -> object:
    """A URL (``s3://bucket/data``) stays text, anything else becomes a Path (Path would fold the '//')."""
    if isinstance(value, str):
        return value if is_url(value) else Path(value)
    return value


def is_url(path: object) -> bool:
    return isinstance(path, str) and "://" in path


class SourceConfig(_Strict):
    kind: Literal["files", "duckdb", "postgres"] = "files"
    # a folder, a DuckDB file, or for files a URL polars reads (s3://, gs://, az://, file://; docs/input-contract.md)
    path: Annotated[Path | str | None, BeforeValidator(_path_or_url)] = None
    dsn_env: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    timezone: str = "UTC"
    tables: dict[TableName, str] = {}
    columns: dict[TableName, dict[str, str]] = {}
    pii: dict[TableName, list[str]] = {"customers": ["email", "name"]}
    exclude: dict[TableName, list[str]] = {}

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _check_timezone(v)))

    @model_validator(mode="after")
    def _where_to_read(self) -> SourceConfig:
        if self.kind in ("files", "duckdb") and self.path is None:
            raise ValueError(f"source.path is required when source.kind is {self.kind!r}")
        if self.kind == "duckdb" and is_url(self.path):
            raise ValueError(f"source.path: a DuckDB source is a local file, got the URL {self.path!r} (URLs work with source.kind: files)")
        if self.kind == "postgres" and not self.dsn_env:
            raise ValueError("source.dsn_env is required when source.kind is 'postgres' (the DSN comes from the environment)")
        return self

    def dsn(self) -> str:
        return read_secret(self.dsn_env, "source.dsn_env")


class ChurnConfig(_Strict):
    definition: Literal["subscription_end", "inactivity"] = "subscription_end"
    horizon_days: Annotated[int, Field(ge=1, le=365)] = 30
    grace_days: Annotated[int, Field(ge=0, le=365)] = 0
    active_within_days: Annotated[int, Field(ge=1, le=365)] = 30
    activity_event_types: list[str] | None = None


class FeaturesConfig(_Strict):
    windows_days: Annotated[list[Annotated[int, Field(ge=1, le=730)]], Field(min_length=1)] = [7, 30, 90]


class SurveyConfig(_Strict):
    scale: Literal["nps", "csat"] = "nps"
    dissatisfied_max_score: float | None = None
    silence_days: Annotated[int, Field(ge=1)] = 180
    response_window_days: Annotated[int, Field(ge=0)] = 14

    @property
    def score_range(self) -> tuple[float, float]:
        return (0.0, 10.0) if self.scale == "nps" else (1.0, 5.0)

    @property
    def dissatisfied_cut(self) -> float:
        """Scores at or below this count as dissatisfied (NPS detractor <= 6; CSAT <= 2)."""
        if self.dissatisfied_max_score is not None:
            return self.dissatisfied_max_score
        return 6.0 if self.scale == "nps" else 2.0

    @model_validator(mode="after")
    def _cut_in_scale(self) -> SurveyConfig:
        low, high = self.score_range
        cut = self.dissatisfied_max_score
        if cut is not None and not low <= cut < high:
            raise ValueError(f"survey.dissatisfied_max_score must lie in [{low:g}, {high:g}) for scale {self.scale!r}, got {cut:g}")
        return self


class GateConfig(_Strict):
    metric: Literal["test_pr_auc", "test_roc_auc", "test_lift_at_capacity"] = "test_pr_auc"
    min_improvement: Annotated[float, Field(ge=0.0)] = 0.0


# The LightGBM settings the backtest chooses among (models/backtest.py defines each; docs/dates-and-training.md)
CandidateName = Literal["regularised", "default", "unconstrained", "flexible", "linear_tree"]


class BacktestConfig(_Strict):
    folds: Annotated[int, Field(ge=3, le=24)] = 3
    candidates: Annotated[list[CandidateName], Field(min_length=1)] = ["regularised", "default", "unconstrained", "flexible", "linear_tree"]
    max_rows: Annotated[int, Field(ge=10_000)] = 100_000


class TrainingConfig(_Strict):
    snapshots: Annotated[int, Field(ge=4, le=60)] = 6
    step_days: Annotated[int, Field(ge=1)] = 30
    max_model_age_days: Annotated[int, Field(ge=1)] = 30
    seed: int = 42
    # above this many rows before the test snapshot, the final churn model fits every snapshot of a
    # seeded sample of customers (null: all rows): the fit's time grows with its rows, and 2M rows
    # bring a 1M-customer training (4.5M rows) on a 2-core machine nearer 15 minutes (docs/scale.md)
    max_rows: Annotated[int, Field(ge=100_000)] | None = 2_000_000
    lightgbm: dict[str, object] = {}
    gate: GateConfig = GateConfig()
    backtest: BacktestConfig = BacktestConfig()


class ScoringConfig(_Strict):
    capacity: Annotated[float, Field(gt=0)] = 500
    silent_threshold: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    reasons_for: Literal["flagged", "all"] = "flagged"
    value_column: str | None = "monthly_value"

    def capacity_for(self, eligible: int) -> int:
        """Customers the team can contact: a count, or a share of the eligible when < 1."""
        if self.capacity < 1:
            return max(1, round(self.capacity * eligible))
        return int(self.capacity)

    @field_validator("capacity")
    @classmethod
    def _whole_count(cls, value: float) -> float:
        if value >= 1 and value != int(value):
            raise ValueError(f"a capacity of 1 or more is a count of customers and must be whole, got {value}")
        return value


class SinkConfig(_Strict):
    kind: Literal["duckdb", "postgres", "parquet"] = "duckdb"
    path: Path | None = None
    dsn_env: str | None = None
    schema_: str = Field(default="quietchurn", alias="schema")

    @model_validator(mode="after")
    def _where_to_write(self) -> SinkConfig:
        if self.kind in ("duckdb", "parquet") and self.path is None:
            raise ValueError(f"sink.path is required when sink.kind is {self.kind!r}")
        if self.kind == "postgres" and not self.dsn_env:
            raise ValueError("sink.dsn_env is required when sink.kind is 'postgres' (the DSN comes from the environment)")
        return self

    def dsn(self) -> str:
        return read_secret(self.dsn_env, "sink.dsn_env")


class MlflowConfig(_Strict):
    tracking_uri: str | None = None
    experiment: str | None = None
    registered_model: str | None = None


class ScheduleConfig(_Strict):
    cron: str = "0 2 * * *"
    timezone: str = "UTC"

    _tz = field_validator("timezone")(classmethod(lambda cls, v: _check_timezone(v)))

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"schedule.cron must have 5 fields (minute hour day month weekday), got {value!r}")
        return value


class DriftConfig(_Strict):
    """PSI levels at which a feature's or a score's drift warns / fails the monitor run (docs/monitoring.md)."""

    warn: Annotated[float, Field(gt=0.0)] = 0.1
    fail: Annotated[float, Field(gt=0.0)] = 0.25

    @model_validator(mode="after")
    def _warn_before_fail(self) -> DriftConfig:
        if self.warn > self.fail:
            raise ValueError(f"monitoring.drift.warn ({self.warn}) must be <= monitoring.drift.fail ({self.fail})")
        return self


class MonitoringConfig(_Strict):
    max_reject_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.01
    # a run's as-of may be at most this long after the newest event (docs/dates-and-training.md)
    max_staleness_hours: Annotated[int, Field(ge=1, le=24 * 366)] = 48
    drift: DriftConfig = DriftConfig()
    # nightly retrains when a matured date's realised PR-AUC falls below this share of the model's test PR-AUC
    min_realised_pr_auc_ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 0.8
    # per table, the staleness limit of the monitor's data health for a table normally quieter than the rest (e.g. customers: 720)
    max_staleness_hours_by_table: dict[TableName, Annotated[int, Field(ge=1, le=24 * 366)]] = {}
    # the NAME of the environment variable holding the alert URL (Apprise URL or http(s) webhook); null: no alerts
    alert_url_env: str | None = None


class EngineConfig(_Strict):
    """Where feature building and scoring run: this process, or a Dask cluster (docs/scale.md)."""

    kind: Literal["local", "dask"] = "local"
    # tcp://host:port of a running Dask scheduler; null with kind dask starts a LocalCluster on this machine
    address: str | None = None
    # customer hash buckets: the unit of work of one Dask task (features/buckets.py)
    partitions: Annotated[int, Field(ge=1, le=65_536)] = 16

    @field_validator("address")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme, sep, rest = value.partition("://")
        host, colon, port = rest.rpartition(":")
        if not sep or scheme not in ("tcp", "tls") or not colon or not host or not port.isdigit() or not 0 < int(port) < 65_536:
            raise ValueError("expected a Dask scheduler address such as 'tcp://scheduler:8786' (tcp:// or tls://, host and port)")
        return value

    @model_validator(mode="after")
    def _address_needs_dask(self) -> EngineConfig:
        if self.address is not None and self.kind != "dask":
            raise ValueError(f"engine.address is set but engine.kind is {self.kind!r}: set engine.kind: dask to use the cluster")
        return self


class Config(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    workspace: Path
    source: SourceConfig
    churn: ChurnConfig = ChurnConfig()
    features: FeaturesConfig = FeaturesConfig()
    survey: SurveyConfig = SurveyConfig()
    training: TrainingConfig = TrainingConfig()
    scoring: ScoringConfig = ScoringConfig()
    sink: SinkConfig
    mlflow: MlflowConfig = MlflowConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    engine: EngineConfig = EngineConfig()

    @model_validator(mode="after")
    def _label_windows_never_overlap(self) -> Config:
        needed = self.churn.horizon_days + self.churn.grace_days
        if self.training.step_days < needed:
            raise ValueError(
                f"training.step_days ({self.training.step_days}) must be >= churn.horizon_days + churn.grace_days "
                f"({needed}): label windows of consecutive snapshots would overlap"
            )
        return self

    @property
    def experiment_name(self) -> str:
        return self.mlflow.experiment or f"quietchurn-{self.name}"

    @property
    def registered_model_name(self) -> str:
        return self.mlflow.registered_model or f"quietchurn-{self.name}"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow.tracking_uri or f"sqlite:///{(self.workspace / 'mlflow.db').resolve()}"

    def dry_dict(self) -> dict:
        """The config as plain data for logging: no secrets live in it (only env var names)."""
        return self.model_dump(mode="json", by_alias=True)
