"""Who answers surveys, apart from what they say (docs/monitoring.md#who-answers-surveys).

Two figures, each today beside the same figure at training: the survey response rate (the share of
the asked who answered, exactly ``score_runs.survey_response_rate``) and the response model's mean
propensity over every eligible customer (how likely the population is to answer, by its features).
A lower rate with a steady mean propensity is fewer answers from the same kind of people; a moved
mean propensity is a different kind of people answering, which moves the respondents' mean score
without any change in satisfaction.

Pure: frames, propensities already predicted (at training by models/reference.py, when monitoring by
flows/monitor_tasks.py) and a model bundle in, JSON-serialisable dicts out. Informative only:
nothing here fails a run.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from models.bundle import ModelBundle
from models.scoring import LAST_SURVEY_SCORE, SURVEY_STATUS, summarise_surveys, survey_status_labels

# How the training response rate was measured: the score run's own definition on the test snapshot,
# or (when that snapshot holds no survey status) the response model's share of invitations answered.
SAME_AS_SCORE_RUN = "survey_response_rate"
BASE_RATE = "response_base_rate"
DEFINITIONS = {
    SAME_AS_SCORE_RUN: "respondents among the asked on the test snapshot, as score_runs.survey_response_rate",
    BASE_RATE: "share of the training invitations answered (response_base_rate): not the score run's definition",
}
NOT_STORED = "not stored at training (the model version predates it): retrain to compare"
# summarise_surveys with no propensities computes the rate alone (its Hájek estimate stays null)
_NO_PROPENSITIES = pl.DataFrame(schema={"customer_id": pl.String, LAST_SURVEY_SCORE: pl.Float64, "response_propensity": pl.Float64})


def response_rate(scores: pl.DataFrame) -> float | None:
    """``score_runs.survey_response_rate`` of rows holding customer_id, survey_status (labels) and
    last_survey_score: models.scoring.summarise_surveys itself, so the two never differ."""
    return summarise_surveys(scores, _NO_PROPENSITIES)["survey_response_rate"]


def snapshot_response_rate(rows: pl.DataFrame, bundle: ModelBundle) -> float | None:
    """The same rate of a feature frame (survey_status as the model's codes or as labels), read as the
    scorer reads it (models.scoring); None when the frame holds no survey_status or nobody was asked."""
    if SURVEY_STATUS not in rows.columns:
        return None  # the scorer would call everyone not_asked: no rate, not a rate of 0
    last = rows[LAST_SURVEY_SCORE].cast(pl.Float64) if LAST_SURVEY_SCORE in rows.columns else pl.lit(None, pl.Float64)
    status = rows.select("customer_id", survey_status_labels(rows, bundle, SURVEY_STATUS), last.alias(LAST_SURVEY_SCORE))
    return response_rate(status)


def _mean(values: pl.Series | None) -> float | None:
    return None if values is None or values.drop_nulls().len() == 0 else float(values.mean())


def training_block(
    test_date: date | None, same_rate: float | None, base_rate: float | None, propensity: pl.Series | None
) -> dict:
    """The reference's ``who_answers`` block: the test snapshot's response rate by the score run's
    definition when it has one, else the response model's base rate (named in ``response_rate_definition``),
    and the mean propensity (None without a response model)."""
    rate, definition = (same_rate, SAME_AS_SCORE_RUN) if same_rate is not None else (base_rate, BASE_RATE if base_rate is not None else None)
    return {
        "as_of": test_date.isoformat() if test_date else None,
        "response_rate": rate,
        "response_rate_definition": definition,
        "mean_propensity": _mean(propensity),
    }


def training_who_answers(bundle: ModelBundle, test_rows: pl.DataFrame, scores: pl.DataFrame) -> dict:
    """``training_block`` of the test snapshot: ``test_rows`` all of it (the rate is one cheap pass),
    ``scores`` the reference's test_snapshot_scores (their response_propensity, when the model has one)."""
    dates = test_rows["as_of"].unique() if "as_of" in test_rows.columns else pl.Series([])
    base = bundle.satisfaction.response_metrics_.get(BASE_RATE) if bundle.satisfaction is not None else None
    propensity = scores["response_propensity"] if "response_propensity" in scores.columns else None
    return training_block(dates.max() if dates.len() == 1 else None, snapshot_response_rate(test_rows, bundle), base, propensity)


def today_figures(scores: pl.DataFrame, propensity: pl.Series | None) -> dict:
    """Today's response rate (from the date's churn_scores, as its score run computed it) and the mean
    of ``propensity``, every eligible customer's response propensity as the monitor predicted it once
    for drift and this block (None without a response model or customers)."""
    return {"response_rate": response_rate(scores), "mean_propensity": _mean(propensity)}


def _difference(today: float | None, training: float | None) -> float | None:
    return None if today is None or training is None else today - training


def who_answers_block(training: dict | None, today: dict, drift: pl.DataFrame) -> dict:
    """The verdict's ``who_answers``: today's figures, the training ones (None: ``note`` says they were
    not stored), their differences (the rate's only when both use the score run's definition) and the
    PSI of response_propensity from the date's drift rows (None without it)."""
    psi = drift.filter(pl.col("feature") == "response_propensity")["value"] if drift.height else pl.Series([], dtype=pl.Float64)
    block = {"today": today, "training": training, "response_propensity_psi": float(psi[0]) if psi.len() else None}
    if training is None:
        return {**block, "difference": {"response_rate": None, "mean_propensity": None}, "note": NOT_STORED}
    comparable = training.get("response_rate_definition") == SAME_AS_SCORE_RUN
    difference = {
        "response_rate": _difference(today.get("response_rate"), training.get("response_rate")) if comparable else None,
        "mean_propensity": _difference(today.get("mean_propensity"), training.get("mean_propensity")),
    }
    note = None if comparable or training.get("response_rate") is None else f"training response rate: {DEFINITIONS[BASE_RATE]}"
    return {**block, "difference": difference, "note": note}


def measured_who_answers(scores: pl.DataFrame, propensity: pl.Series | None, bundle: ModelBundle, drift: pl.DataFrame) -> dict:
    """``who_answers_block`` of a monitored date against the block stored with its model version."""
    training = (bundle.reference or {}).get("who_answers")
    return who_answers_block(training, today_figures(scores, propensity), drift)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _points(value: float | None) -> str:
    return "" if value is None else f", {100 * value:+.1f} pts"


def _propensity(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def markdown_line(block: dict) -> str:
    """One line for the monitor's Prefect artifact."""
    today, training, diff = block["today"], block["training"], block["difference"]
    psi = block["response_propensity_psi"]
    tail = "" if psi is None else f"; propensity PSI {psi:.3f}"
    if training is None:
        return (
            f"Who answers surveys: response rate {_percent(today['response_rate'])}, mean response propensity "
            f"{_propensity(today['mean_propensity'])}; training figures {NOT_STORED}{tail}."
        )
    rate = f"training {_percent(training['response_rate'])}{_points(diff['response_rate'])}"
    if training.get("response_rate_definition") == BASE_RATE:
        rate = f"training base rate {_percent(training['response_rate'])}, another definition"
    mean = f"training {_propensity(training['mean_propensity'])}"
    if diff["mean_propensity"] is not None:
        mean += f", {diff['mean_propensity']:+.3f}"
    return (
        f"Who answers surveys: response rate {_percent(today['response_rate'])} ({rate}); "
        f"mean response propensity {_propensity(today['mean_propensity'])} ({mean}){tail}."
    )
