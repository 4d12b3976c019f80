"""The readable run summary: one markdown text for the Prefect artifact and the terminal."""

from __future__ import annotations

import polars as pl

from flows.results import ScoreRun, TableCounts, TrainResult

TOP_SILENT = 10


def _score(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def ingest_lines(tables: dict[str, TableCounts]) -> list[str]:
    lines = ["## Input", "", "| table | read | accepted | rejected |", "|---|---:|---:|---:|"]
    for name, c in tables.items():
        lines.append(f"| {name} | {c.read:,} | {c.accepted:,} | {c.rejected:,} |")
    return [*lines, ""]


def training_lines(training: TrainResult) -> list[str]:
    m = training.metrics
    status = "promoted to champion" if training.promoted else "registered, not promoted"
    lines = [
        "## Training",
        "",
        f"Version {training.version} {status}: {training.reason}.",
        f"Split: train {training.split['split_train_dates']}; validation {training.split['split_valid_date']}; "
        f"test {training.split['split_test_date']}.",
        "",
        "| scorer | ROC-AUC | PR-AUC | lift at capacity | recall at capacity |",
        "|---|---:|---:|---:|---:|",
    ]
    for prefix, label in (("test_", "quietchurn"), ("baseline_logreg_", "logistic regression"), ("baseline_recency_", "recency rule"), ("baseline_survey_", "survey-only rule")):
        if f"{prefix}roc_auc" in m:
            lines.append(
                f"| {label} | {m[prefix + 'roc_auc']:.3f} | {m[prefix + 'pr_auc']:.3f} | "
                f"{m[prefix + 'lift_at_capacity']:.2f} | {m[prefix + 'recall_at_capacity']:.1%} |"
            )
    lines += ["", f"Test base rate {m['test_base_rate']:.2%}; calibrated ECE {m['test_ece']:.4f} (raw {m['test_uncalibrated_ece']:.4f}); Brier {m['test_brier']:.4f}."]
    for note in training.notes:
        lines.append(f"- {note}")
    return [*lines, ""]


def scoring_markdown(run: ScoreRun, scored: pl.DataFrame, tables: dict[str, TableCounts] | None, training: TrainResult | None, warnings: list[str]) -> str:
    tiers = dict(scored.group_by("risk_tier").len().iter_rows())
    lines = [f"# quietchurn run as of {run.as_of}", ""]
    if tables:
        lines += ingest_lines(tables)
    if training:
        lines += training_lines(training)
    lines += [
        "## Scores",
        "",
        f"Model **{run.model_name} v{run.model_version}** scored {run.customers_scored:,} customers: "
        f"{tiers.get('high', 0):,} high, {tiers.get('medium', 0):,} medium, {tiers.get('low', 0):,} low risk; "
        f"**{run.silent_dissatisfied:,} silent-dissatisfied**.",
        "",
        f"Survey response rate {(run.survey_response_rate or 0):.1%}; respondents' mean score {_score(run.respondent_score)}, "
        f"estimated for everyone (non-response corrected) {_score(run.estimated_population_score)}.",
        "",
    ]
    for warning in warnings:
        lines.append(f"> warning: {warning}")
    silent = scored.filter(pl.col("silent_dissatisfied")).sort("silent_rank").head(TOP_SILENT)
    if silent.height:
        lines += ["", "## Top silent-dissatisfied customers", "", "| # | customer | P(churn) | P(dissatisfied) | survey | reasons |", "|---:|---|---:|---:|---|---|"]
        for r in silent.iter_rows(named=True):
            reasons = "; ".join(x for x in (r["reason_1"], r["reason_2"], r["reason_3"]) if x) or "-"
            dissat = "-" if r["dissatisfaction_probability"] is None else f"{r['dissatisfaction_probability']:.0%}"
            lines.append(f"| {r['silent_rank']} | {r['customer_id']} | {r['churn_probability']:.1%} | {dissat} | {r['survey_status']} | {reasons} |")
    return "\n".join(lines) + "\n"
