"""Can this data support training? Pure facts about loaded tables, for `quietchurn check-data`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from configs import Config
from features.contract import TABLES
from features.timeline import snapshot_dates

DAYS_PER_MONTH = 30.44


@dataclass(frozen=True)
class TableFacts:
    name: str
    read: int
    accepted: int
    rejected: int
    reject_reasons: dict[str, int]
    first: date | None
    last: date | None
    null_share: dict[str, float]  # optional contract columns only


@dataclass(frozen=True)
class HistoryFacts:
    first_activity: date | None
    observed_until: date
    months_available: float
    months_needed: float
    first_snapshot: date
    last_snapshot: date


@dataclass(frozen=True)
class SurveyFacts:
    invitations: int
    answers: int
    customers_invited: int
    customers_answered: int

    @property
    def response_rate(self) -> float:
        return self.answers / self.invitations if self.invitations else 0.0


@dataclass
class SufficiencyReport:
    tables: list[TableFacts]
    history: HistoryFacts
    surveys: SurveyFacts | None
    churn_base_rate: float | None = None
    history_problem: str | None = None
    problems: list[str] = field(default_factory=list)  # blocking: training cannot work
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _time_column(table: str) -> str:
    """The column that dates a row of this table (its first required timestamp)."""
    return next(c.name for c in TABLES[table].columns if c.is_time and c.required)


def table_facts(name: str, frame: pl.DataFrame | pl.LazyFrame, read: int, accepted: int, rejected: int, reasons: dict[str, int]) -> TableFacts:
    """Dates and null shares of a table's accepted rows (read in one streaming pass when lazy)."""
    when = _time_column(name)
    columns = frame.collect_schema().names()
    optional = [c.name for c in TABLES[name].columns if not c.required and c.name in columns]
    row = frame.lazy().select(
        pl.col(when).min().dt.date().alias("first"),
        pl.col(when).max().dt.date().alias("last"),
        *[pl.col(c).is_null().mean().alias(c) for c in optional],
    ).collect(engine="streaming").row(0, named=True)
    null_share = {c: (row[c] if row[c] is not None else 0.0) for c in optional}
    return TableFacts(name, read, accepted, rejected, reasons, row["first"], row["last"], null_share)


def history_facts(config: Config, first_activity: date | None, observed_until: date) -> tuple[HistoryFacts, str | None]:
    """The history that training snapshots need (features.timeline.snapshot_dates decides), and the
    reason it falls short, if it does."""
    planned = snapshot_dates(observed_until, config)
    first_planned, last_snapshot = planned[0], planned[-1]
    needed_from = first_planned - timedelta(days=max(config.features.windows_days))
    problem, first_snapshot = None, first_planned
    if first_activity is not None:
        try:
            first_snapshot = snapshot_dates(observed_until, config, data_starts=first_activity)[0]
        except ValueError as exc:
            problem = str(exc)
    available = (observed_until - first_activity).days if first_activity else 0
    facts = HistoryFacts(
        first_activity=first_activity,
        observed_until=observed_until,
        months_available=available / DAYS_PER_MONTH,
        months_needed=(observed_until - needed_from).days / DAYS_PER_MONTH,
        first_snapshot=first_snapshot,
        last_snapshot=last_snapshot,
    )
    return facts, problem


def survey_facts(surveys: pl.DataFrame | pl.LazyFrame) -> SurveyFacts:
    answered = pl.col("responded_at").is_not_null()
    row = surveys.lazy().select(
        pl.len().alias("invitations"),
        answered.sum().alias("answers"),
        pl.col("customer_id").n_unique().alias("customers_invited"),
        pl.col("customer_id").filter(answered).n_unique().alias("customers_answered"),
    ).collect().row(0, named=True)
    return SurveyFacts(**{k: int(v) for k, v in row.items()})


def assess(report: SufficiencyReport, config: Config) -> SufficiencyReport:
    """Fill in blocking problems and warnings, naming the config keys involved."""
    history = report.history
    if history.first_activity is None:
        report.problems.append("events holds no accepted rows: there is no behavior to learn from")
    elif history.months_available + 1e-9 < history.months_needed and report.history_problem is None:
        report.warnings.append(
            f"history shorter than training.snapshots={config.training.snapshots} x training.step_days="
            f"{config.training.step_days} plus the longest window would like ({history.months_available:.1f} of "
            f"{history.months_needed:.1f} months): training uses the snapshots from {history.first_snapshot} on"
        )
    if report.history_problem:
        report.problems.append(report.history_problem)
    if report.churn_base_rate is not None and report.churn_base_rate == 0:
        report.problems.append("no churn observed in the latest fully observed label window: nothing to learn")
    if report.surveys is None:
        report.warnings.append("no surveys table: no satisfaction model; dissatisfaction_probability will be null")
    elif report.surveys.answers < 200:
        report.warnings.append(
            f"only {report.surveys.answers} survey answers: the satisfaction model will be weak (want >= 200)"
        )
    if config.churn.definition == "subscription_end" and not any(t.name == "subscriptions" for t in report.tables):
        report.problems.append("churn.definition is 'subscription_end' but there is no subscriptions table")
    return report
