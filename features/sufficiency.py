"""Can this data support a run, and training? Pure facts about loaded tables, for `quietchurn
check-data` and for the flows, which refuse before any work (docs/dates-and-training.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from configs import Config
from features.contract import TABLES, ContractError
from features.timeline import as_of_instant, snapshot_dates

DAYS_PER_MONTH = 30.44
# Each of the training, validation and test snapshots needs this many churners and as many who
# stayed: the calibrator cross-fits in 5 folds, and a metric on one class means nothing.
MIN_PER_CLASS = 5


class DataCoverageError(ContractError):
    """The as-of date lies beyond the data's end or before its start: nothing was read or written."""


class CannotTrain(ContractError):
    """Training refused before fitting; the message says what is missing and what would fix it."""


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
    last_activity: date | None  # the newest event's day: history is measured up to it, not to the as-of

    @property
    def last_day(self) -> date | None:
        """The last day of history counted: the newest event's, or the day before the as-of when that is earlier."""
        before = self.observed_until - timedelta(days=1)
        return min(self.last_activity, before) if self.last_activity else None
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


def history_facts(
    config: Config, first_activity: date | None, observed_until: date, last_activity: date | None = None
) -> tuple[HistoryFacts, str | None]:
    """The history that training snapshots need (features.timeline.snapshot_dates decides), and the
    reason it falls short, if it does. History available runs from the first to the newest event."""
    planned = snapshot_dates(observed_until, config)
    first_planned, last_snapshot = planned[0], planned[-1]
    needed_from = first_planned - timedelta(days=max(config.features.windows_days))
    problem, first_snapshot = None, first_planned
    if first_activity is not None:
        try:
            first_snapshot = snapshot_dates(observed_until, config, data_starts=first_activity)[0]
        except ValueError as exc:
            problem = str(exc)
    until = min(observed_until, last_activity + timedelta(days=1)) if last_activity else observed_until
    available = max((until - first_activity).days, 0) if first_activity else 0
    facts = HistoryFacts(
        first_activity=first_activity,
        observed_until=observed_until,
        last_activity=last_activity,
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


# --- refusals before any work ---------------------------------------------------------------


def _as_utc(value: object, tz: str) -> datetime | None:
    """A source's time value in UTC; naive values are wall-clock time in ``tz`` (source.timezone), as ingest reads them."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None  # unparseable text: ingest rejects such rows, and the check is left to it
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=ZoneInfo(tz))).astimezone(UTC)


def coverage_problem(first: datetime | None, last: datetime | None, as_of: date, config: Config) -> str | None:
    """Why ``as_of`` lies outside the events (``first``/``last`` in UTC), or None when the data covers it:
    as_of 00:00 (schedule.timezone) must come after the first event and at most
    monitoring.max_staleness_hours after the newest one."""
    if first is None or last is None:
        return None  # no events: ingest and training say so in their own words
    tz, hours = config.schedule.timezone, config.monitoring.max_staleness_hours
    start = as_of_instant(as_of, tz)
    if start <= first:
        earliest = first.astimezone(ZoneInfo(tz)).date() + timedelta(days=1)
        return (
            f"as-of {as_of} is before the data: the first event is {first:%Y-%m-%d %H:%M} UTC, so nothing is known "
            f"before it; use --as-of {earliest} or later"
        )
    if start - last > timedelta(hours=hours):
        latest = (last + timedelta(hours=hours)).astimezone(ZoneInfo(tz)).date()
        return (
            f"as-of {as_of} is beyond the data: the newest event is {last:%Y-%m-%d %H:%M} UTC, more than "
            f"monitoring.max_staleness_hours ({hours}) before it; use --as-of {latest} or earlier, "
            "or check that the source is still updating (docs/dates-and-training.md)"
        )
    return None


def require_coverage(bounds: tuple[object, object] | None, as_of: date, config: Config) -> None:
    """Raise DataCoverageError when the events' (first, newest) time, as the source holds them, do not cover ``as_of``."""
    if bounds is None:
        return
    tz = config.source.timezone
    problem = coverage_problem(_as_utc(bounds[0], tz), _as_utc(bounds[1], tz), as_of, config)
    if problem:
        raise DataCoverageError(problem)


def require_history(config: Config, first_activity: date | None, observed_until: date) -> None:
    """Raise CannotTrain when the events cannot give the training snapshots their history."""
    if first_activity is None:
        raise CannotTrain("cannot train: events holds no accepted rows, so there is no behavior to learn from; load the events table")
    _, problem = history_facts(config, first_activity, observed_until)
    if problem:
        raise CannotTrain(f"cannot train: {problem}")


def label_problem(labels: pl.DataFrame, parts: dict[str, Sequence[date]]) -> str | None:
    """Why the labelled snapshots (``as_of``, ``churned``) cannot train, validate and test a model, or None.

    ``parts`` names the snapshot dates of each part (training, validation, test)."""
    counts = {
        part: labels.filter(pl.col("as_of").is_in(list(dates))).select(
            pl.len().alias("customers"), pl.col("churned").sum().cast(pl.Int64).alias("churned")
        ).row(0, named=True)
        for part, dates in parts.items()
    }
    short = {
        part: c for part, c in counts.items() if c["churned"] < MIN_PER_CLASS or c["customers"] - c["churned"] < MIN_PER_CLASS
    }
    if not short:
        return None
    described = "; ".join(
        f"the {part} snapshot{'s' if len(parts[part]) > 1 else ''} ({', '.join(map(str, parts[part]))}) "
        f"{_holding(c['customers'], len(parts[part]))}, {c['churned']:,} churned and {c['customers'] - c['churned']:,} stayed"
        for part, c in short.items()
    )
    churned, total = sum(c["churned"] for c in counts.values()), sum(c["customers"] for c in counts.values())
    if any(c["customers"] < 2 * MIN_PER_CLASS for c in counts.values()):
        fix = "provide more customers (or more history)"
    elif churned == 0:
        fix = "no customer churned within churn.horizon_days: check churn.definition (and that subscriptions do end) or lengthen the horizon"
    elif churned == total:
        fix = "every customer churned: check churn.definition and churn.activity_event_types (what counts as staying active)"
    else:
        fix = "provide more customers or more history, or lengthen churn.horizon_days so more churn falls inside it"
    return (
        f"cannot train: {described}; each part needs at least {MIN_PER_CLASS} customers who churned and {MIN_PER_CLASS} "
        f"who stayed; {fix}"
    )


def _holding(rows: int, dates: int) -> str:
    """'holds 1 eligible customer' for one date; 'hold 400 customer-dates' for several (a customer counts once per date)."""
    if dates > 1:
        return f"hold {rows:,} customer-date{'' if rows == 1 else 's'}"
    return f"holds {rows:,} eligible customer{'' if rows == 1 else 's'}"
