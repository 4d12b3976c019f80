"""`quietchurn check-data`: read the configured sources, validate them, and say whether they can support training."""

from __future__ import annotations

from datetime import date

import polars as pl
from rich.console import Console
from rich.table import Table

from configs import Config
from features.labels import label_churn
from features.relationship import learn_attributes, skipped_notes
from features.ingest import Ingested, RejectLimitError
from features.sufficiency import (
    SufficiencyReport,
    assess,
    history_facts,
    require_coverage,
    survey_facts,
    table_facts,
)
from features.timeline import as_of_instant
from flows.workspace import SnapshotStager, read_snapshot
from sources import time_bounds
from sources.ingest import stream_tables


def build_report(config: Config, observed_until: date) -> tuple[SufficiencyReport, str | None]:
    """Load and validate every table; a reject limit breach is reported, not raised.

    Accepted rows stream into a scratch snapshot in the workspace (removed afterwards) and the
    facts are read from it lazily, so checking data takes the memory of ingesting it, not of holding it.
    An as-of the events do not cover is refused first (DataCoverageError), as every run refuses it."""
    require_coverage(time_bounds(config.source, "events", "ts"), observed_until, config)
    limit_error = None
    stager = SnapshotStager(config.workspace / "check-data")
    try:
        try:
            ingested = stream_tables(config, stager.append)
        except RejectLimitError as exc:
            ingested, limit_error = exc.result, str(exc)
        stager.close()
        report = report_from_load(config, ingested, read_snapshot(stager.staging), observed_until)
    finally:
        stager.discard()
    if limit_error:
        report.problems.append(limit_error)
    return report, limit_error


def report_from_load(config: Config, ingested: Ingested, tables: dict[str, pl.LazyFrame], observed_until: date) -> SufficiencyReport:
    facts = [  # in contract order, the order tables were read in
        table_facts(name, tables[name], count.read, count.accepted, count.rejected, count.reasons) for name, count in ingested.counts.items()
    ]
    events = next(f for f in facts if f.name == "events")
    surveys = tables.get("surveys")
    history, history_problem = history_facts(config, events.first, observed_until, events.last)
    report = SufficiencyReport(
        tables=facts,
        history=history,
        surveys=survey_facts(surveys) if surveys is not None else None,
        churn_base_rate=churn_base_rate(tables, config, history.last_snapshot, observed_until),
        history_problem=history_problem,
    )
    until = as_of_instant(observed_until, config.schedule.timezone)
    report.warnings += skipped_notes(learn_attributes(tables["customers"], config, until)[2])  # free-text columns
    return assess(report, config)


def churn_base_rate(tables, config: Config, as_of: date, observed_until: date) -> float | None:
    """Share of the customers eligible at the latest fully observed snapshot who churned in its window."""
    if config.churn.definition == "subscription_end" and "subscriptions" not in tables:
        return None
    labels = label_churn(tables, config, as_of, observed_until)
    return float(labels["churned"].mean()) if labels.height else None


def render_report(report: SufficiencyReport, console: Console) -> None:
    tables = Table(title="Input tables", title_justify="left")
    for column in ("table", "read", "accepted", "rejected", "first", "last"):
        tables.add_column(column, justify="right" if column in ("read", "accepted", "rejected") else "left", no_wrap=True)
    for t in report.tables:
        tables.add_row(t.name, f"{t.read:,}", f"{t.accepted:,}", f"{t.rejected:,}", str(t.first), str(t.last))
    console.print(tables)
    for t in report.tables:
        if t.reject_reasons:
            reasons = ", ".join(f"{r} ({n:,})" for r, n in sorted(t.reject_reasons.items(), key=lambda kv: -kv[1])[:5])
            console.print(f"  {t.name} rejects: {reasons}", highlight=False)
        nulls = ", ".join(f"{c} {share:.0%}" for c, share in t.null_share.items() if share > 0)
        if nulls:
            console.print(f"  {t.name} null shares: {nulls}", highlight=False)

    h = report.history
    console.print(
        f"History: {h.months_available:.1f} months of events ({h.first_activity} to {h.last_day}); "
        f"training needs {h.months_needed:.1f} months (snapshots {h.first_snapshot} .. {h.last_snapshot})."
    )
    if report.surveys is not None:
        s = report.surveys
        console.print(
            f"Surveys: {s.invitations:,} invitations to {s.customers_invited:,} customers, {s.answers:,} answers "
            f"(response rate {s.response_rate:.1%}, {s.customers_answered:,} customers answered)."
        )
    if report.churn_base_rate is not None:
        console.print(
            f"Churn base rate: {report.churn_base_rate:.2%} of customers eligible at {report.history.last_snapshot} "
            "churned within the horizon (the latest fully observed label window)."
        )
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    for problem in report.problems:
        console.print(f"[red]cannot train:[/red] {problem}")
    if report.ok:
        console.print("[green]The data can support training.[/green]")
