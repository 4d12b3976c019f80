"""Who answers surveys (models/who_answers.py): the response rate by the score run's own definition,
the training block and its fallback, the verdict block against a reference with and without it, and
the line the monitor's artifact shows. Hand-made frames: no model is trained."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import polars as pl
import pytest

from flows.monitor_tasks import monitoring_markdown
from models.scoring import summarise_surveys
from models.who_answers import (
    BASE_RATE,
    NOT_STORED,
    SAME_AS_SCORE_RUN,
    markdown_line,
    response_rate,
    snapshot_response_rate,
    training_block,
    who_answers_block,
)

# the survey_status codes a trained model stores (features/survey.py: STATUSES)
CODED = SimpleNamespace(categorical_mappings={"survey_status": {"responded": 0, "ignored": 1, "not_asked": 2}})


def _rows(status: list, last: list) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": [f"C{i}" for i in range(len(status))], "survey_status": status, "last_survey_score": last},
                        schema_overrides={"last_survey_score": pl.Float64})


@pytest.mark.parametrize(
    ("status", "last", "expected"),
    [
        # responded with a score counts; ignored is asked; not_asked and a null status are not asked
        (["responded", "ignored", "ignored", "not_asked", None], [8.0, None, 5.0, None, None], 1 / 3),
        # a responded status without a score is asked but no answer (as the scorer counts it)
        (["responded", "responded", "ignored", "ignored"], [9.0, None, None, None], 1 / 4),
        (["not_asked", "not_asked"], [None, None], None),  # nobody asked: no rate, not 0
        (["responded", "responded"], [7.0, 3.0], 1.0),
    ],
)
def test_the_snapshot_rate_is_the_score_runs_rate_with_codes_or_labels(status, last, expected):
    labelled = _rows(status, last)
    coded = labelled.with_columns(pl.col("survey_status").replace_strict(CODED.categorical_mappings["survey_status"], default=None, return_dtype=pl.Int32))
    assert snapshot_response_rate(labelled, CODED) == pytest.approx(expected)
    assert snapshot_response_rate(coded, CODED) == pytest.approx(expected)
    scored = labelled.with_columns(pl.col("survey_status").fill_null("not_asked"))  # churn_scores never holds a null status
    assert response_rate(scored) == summarise_surveys(scored, pl.DataFrame())["survey_response_rate"] == pytest.approx(expected)


def test_a_frame_without_survey_status_has_no_snapshot_rate():
    assert snapshot_response_rate(_rows(["responded"], [8.0]).drop("survey_status"), CODED) is None


@pytest.mark.parametrize(
    ("same", "base", "propensity", "rate", "definition", "mean"),
    [
        (0.25, 0.31, [0.2, 0.4], 0.25, SAME_AS_SCORE_RUN, 0.3),  # the score run's definition wins
        (None, 0.31, [0.2, 0.4], 0.31, BASE_RATE, 0.3),  # no survey status on the snapshot: the base rate, named
        (None, None, None, None, None, None),  # no surveys at all: no response model, nothing to compare
        (0.25, None, None, 0.25, SAME_AS_SCORE_RUN, None),  # surveys but no response model
    ],
)
def test_the_training_block_truth_table(same, base, propensity, rate, definition, mean):
    block = training_block(date(2025, 12, 1), same, base, None if propensity is None else pl.Series(propensity))
    assert block == {"as_of": "2025-12-01", "response_rate": rate, "response_rate_definition": definition, "mean_propensity": pytest.approx(mean) if mean else None}


def _drift(psi: float | None) -> pl.DataFrame:
    rows = [{"feature": "tickets_30d", "value": 0.5}] + ([] if psi is None else [{"feature": "response_propensity", "value": psi}])
    return pl.DataFrame(rows)


TODAY = {"response_rate": 0.20, "mean_propensity": 0.30}
SAME = {"as_of": "2025-12-01", "response_rate": 0.25, "response_rate_definition": SAME_AS_SCORE_RUN, "mean_propensity": 0.30}
BASE = {**SAME, "response_rate": 0.31, "response_rate_definition": BASE_RATE}


@pytest.mark.parametrize(
    ("training", "today", "psi", "rate_diff", "mean_diff", "note"),
    [
        (SAME, TODAY, 0.01, -0.05, 0.0, None),  # fewer answers, same kind of people
        (SAME, {"response_rate": 0.25, "mean_propensity": 0.36}, 0.2, 0.0, 0.06, None),  # other people would answer
        (BASE, TODAY, 0.01, None, 0.0, "base"),  # another definition: no rate difference, said so
        (None, TODAY, 0.01, None, None, NOT_STORED),  # an older reference without the block
        (SAME, {"response_rate": 0.20, "mean_propensity": None}, None, -0.05, None, None),  # no response model today
    ],
)
def test_the_verdict_block_truth_table(training, today, psi, rate_diff, mean_diff, note):
    block = who_answers_block(training, today, _drift(psi))
    assert block["today"] == today and block["training"] == training
    assert block["response_propensity_psi"] == psi
    assert block["difference"]["response_rate"] == (None if rate_diff is None else pytest.approx(rate_diff))
    assert block["difference"]["mean_propensity"] == (None if mean_diff is None else pytest.approx(mean_diff))
    if note == "base":
        assert BASE_RATE in block["note"]  # names which definition the training rate is
    else:
        assert block["note"] == note


def test_a_reference_without_the_block_still_monitors_and_says_so():
    from models.who_answers import measured_who_answers

    bundle = SimpleNamespace(reference={"version": 1, "columns": {}}, satisfaction=None)  # stored before who_answers existed
    scores = _rows(["responded", "ignored"], [8.0, None])
    block = measured_who_answers(scores, None, bundle, _drift(None))
    assert block["training"] is None and block["note"] == NOT_STORED
    assert block["today"] == {"response_rate": 0.5, "mean_propensity": None}
    assert "not stored at training" in markdown_line(block)


VERDICT = {"status": "ok", "realised": [], "data_health": {"status": "ok", "issues": []}}


@pytest.mark.parametrize(
    ("training", "line"),
    [
        (SAME, "Who answers surveys: response rate 20.0% (training 25.0%, -5.0 pts); mean response propensity 0.300 (training 0.300, +0.000); propensity PSI 0.010."),
        (BASE, "Who answers surveys: response rate 20.0% (training base rate 31.0%, another definition); mean response propensity 0.300 (training 0.300, +0.000); propensity PSI 0.010."),
        (None, f"Who answers surveys: response rate 20.0%, mean response propensity 0.300; training figures {NOT_STORED}; propensity PSI 0.010."),
    ],
)
def test_the_monitor_artifact_shows_one_who_answers_line(training, line):
    block = who_answers_block(training, TODAY, _drift(0.01))
    markdown = monitoring_markdown(date(2026, 1, 1), "3", {**VERDICT, "who_answers": block})
    assert [m for m in markdown.splitlines() if m.startswith("Who answers")] == [line]
    assert "Who answers" not in monitoring_markdown(date(2026, 1, 1), "3", VERDICT)  # a verdict written before it existed
