"""The morning report: one date's output tables in, one self-contained HTML page out (docs/report.md).

Pure: the caller reads the sink and writes the file (flows/report_writer.py). Every section copes with
what a young installation lacks (no monitor run yet, no matured date, no surveys) by saying so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined

from configs import Config
from report import charts

SILENT_ROWS = 50  # the silent-dissatisfied customers listed; `quietchurn scores --silent-only` prints them all
DECIDING_FEATURES = 10  # the most important features, whose drift decides the monitor's status (docs/monitoring.md)
OTHER_ALARMS = 15  # warning or failing features beyond those that are listed too
SEVERITY = {"fail": 0, "warn": 1, "ok": 2}


@dataclass(frozen=True)
class ReportTables:
    """What the page is built from, as read from the sink: one date's churn_scores and the whole
    score_runs, feature_drift and score_performance tables (their history makes the time plots)."""

    scores: pl.DataFrame
    score_runs: pl.DataFrame
    feature_drift: pl.DataFrame
    score_performance: pl.DataFrame


def runs_by_date(runs: pl.DataFrame, until: date) -> pl.DataFrame:
    """The newest score_runs row of each scored date up to ``until``, oldest date first."""
    return runs.filter(pl.col("as_of") <= until).sort("as_of", "finished_at").unique("as_of", keep="last").sort("as_of")


def tier_table(scores: pl.DataFrame) -> list[dict]:
    """Per risk tier (high first): customers, share, probability range, expected churners, value at risk."""
    order = pl.col("risk_tier").replace_strict({"high": 0, "medium": 1, "low": 2}, default=3)
    return (
        scores.group_by("risk_tier")
        .agg(
            customers=pl.len(),
            min_p=pl.col("churn_probability").min(),
            max_p=pl.col("churn_probability").max(),
            expected_churners=pl.col("churn_probability").sum(),
            silent=pl.col("silent_dissatisfied").sum(),
            value_at_risk=pl.col("value_at_risk").sum() if scores["value_at_risk"].null_count() < scores.height else pl.lit(None, pl.Float64),
        )
        .with_columns(share=pl.col("customers") / scores.height)
        .sort(order)
        .to_dicts()
    )


def silent_list(scores: pl.DataFrame, limit: int = SILENT_ROWS) -> list[dict]:
    """The silent-dissatisfied customers by silent_rank, with their reasons in words."""
    flagged = scores.filter(pl.col("silent_dissatisfied")).sort("silent_rank").head(limit)
    rows = flagged.select(
        "silent_rank", "customer_id", "churn_probability", "dissatisfaction_probability", "risk_tier", "survey_status",
        "last_survey_score", "value_at_risk", "reason_source", reasons=pl.concat_list("reason_1", "reason_2", "reason_3").list.drop_nulls(),
    )
    return rows.to_dicts()


def drift_rows(drift: pl.DataFrame, as_of: date, top: int = DECIDING_FEATURES, others: int = OTHER_ALARMS) -> tuple[pl.DataFrame, int]:
    """The date's drift worth reading, worst status first, then by importance: every score, the ``top``
    most important features, and the ``others`` largest warns or fails among the rest; with the count
    of further warns and fails left out (a wholesale shift would otherwise list every feature)."""
    today = drift.filter(pl.col("as_of") == as_of).with_columns(severity=pl.col("status").replace_strict(SEVERITY, default=3))
    deciding = pl.col("importance_rank").is_null() | (pl.col("importance_rank") <= top)
    alarms = today.filter(~deciding & (pl.col("status") != "ok")).sort("severity", "value", descending=[False, True])
    shown = pl.concat([today.filter(deciding), alarms.head(others)])
    labelled = shown.with_columns(
        label=pl.when(pl.col("importance_rank").is_null())
        .then(pl.format("{} (score)", "feature"))
        .otherwise(pl.format("{} (#{})", "feature", "importance_rank")),
    ).sort("severity", pl.col("importance_rank").fill_null(0), descending=[False, False])
    return labelled, max(alarms.height - others, 0)


def performance_table(performance: pl.DataFrame, until: date) -> list[dict]:
    """One row per matured date: what was estimated for it beside what happened, per model version."""
    metrics = ["pr_auc", "roc_auc", "precision_at_capacity", "ece", "silent_dissatisfied_share"]
    rows = performance.filter((pl.col("as_of") <= until) & pl.col("metric").is_in(metrics))
    realised = rows.filter(pl.col("kind") == "realised")
    if realised.height == 0:
        return []
    keyed = rows.select("as_of", "model_version", "value", key=pl.format("{}:{}", "kind", "metric"))
    wide = keyed.pivot(on="key", index=["as_of", "model_version"], values="value")
    wide = wide.join(realised.select("as_of", "model_version").unique(), on=["as_of", "model_version"])
    missing = [f"{kind}:{m}" for kind in ("estimated", "realised") for m in metrics if f"{kind}:{m}" not in wide.columns]
    wide = wide.with_columns(pl.lit(None, pl.Float64).alias(c) for c in missing)
    return wide.sort("as_of", descending=True).to_dicts()


def _verdict(run: dict | None) -> dict | None:
    summary = (run or {}).get("drift_summary")
    return json.loads(summary) if summary else None


def _scale_label(config: Config) -> str:
    return "NPS (0-10)" if config.survey.scale == "nps" else "CSAT (1-5)"


def report_context(tables: ReportTables, config: Config, generated_at: datetime) -> dict:
    """Everything the template shows, computed from the frames."""
    scores = tables.scores
    as_of = scores["as_of"][0]
    runs = runs_by_date(tables.score_runs, as_of)
    run = runs.filter(pl.col("as_of") == as_of).row(0, named=True) if (runs["as_of"] == as_of).any() else None
    verdict = _verdict(run)
    thresholds = (verdict or {}).get("thresholds") or {"warn": config.monitoring.drift.warn, "fail": config.monitoring.drift.fail}
    drift, drift_left_out = drift_rows(tables.feature_drift, as_of)
    surveyed = runs.filter(pl.col("respondent_score").is_not_null() | pl.col("estimated_population_score").is_not_null())
    performance = tables.score_performance.filter(pl.col("as_of") <= as_of)
    tiers = tier_table(scores)
    return {
        "name": config.name,
        "as_of": as_of,
        "generated_at": generated_at,
        "model_name": scores["model_name"][0],
        "model_version": scores["model_version"][0],
        "mlflow_run_id": scores["mlflow_run_id"][0],
        "customers": scores.height,
        "tiers": tiers,
        "tier_counts": {t["risk_tier"]: t["customers"] for t in tiers},
        "silent_total": int(scores["silent_dissatisfied"].sum()),
        "silent": silent_list(scores),
        "has_dissatisfaction": scores["dissatisfaction_probability"].null_count() < scores.height,
        "has_value": scores["value_at_risk"].null_count() < scores.height,
        "run": run,
        "verdict": verdict,
        "thresholds": thresholds,
        "drift": drift.to_dicts(),
        "drift_left_out": drift_left_out,
        "health": (verdict or {}).get("data_health"),
        "who_answers": (verdict or {}).get("who_answers"),  # absent from verdicts written before it existed
        "performance_rows": performance_table(tables.score_performance, as_of),
        "deciding_features": DECIDING_FEATURES,
        "horizon_days": config.churn.horizon_days + config.churn.grace_days,
        "scale_label": _scale_label(config),
        "plots": {
            "risk": charts.risk_histogram(scores),
            "survey": charts.survey_scores_over_time(surveyed, _scale_label(config)) if surveyed.height else None,
            "drift": charts.drift_bars(drift, thresholds["warn"], thresholds["fail"]) if drift.height else None,
            "performance": charts.performance_over_time(performance) if performance.height else None,
        },
    }


def _percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _number(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _timestamp(value: str | None) -> str:
    """An ISO timestamp from the data-health JSON, in UTC to the minute."""
    return "–" if not value else datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_ENV = Environment(loader=PackageLoader("report", "templates"), autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV.filters.update(percent=_percent, number=_number, timestamp=_timestamp)


def render_report(tables: ReportTables, config: Config, generated_at: datetime) -> str:
    """The page for the date of ``tables.scores`` (one date's rows, at least one)."""
    if tables.scores.height == 0:
        raise ValueError("render_report needs one date's churn_scores rows; got none")
    return _ENV.get_template("morning.html.j2").render(**report_context(tables, config, generated_at))
