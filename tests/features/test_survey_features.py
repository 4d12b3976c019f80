"""Survey features on hand-made invitations: survey_status exactly as docs/reasons-and-flags.md says, answers known at T."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from configs.schema import SurveyConfig
from features.contract import TABLES
from features.survey import STATUSES, build_survey
from features.timeline import dates_frame

AS_OF = date(2025, 6, 1)
T = datetime(2025, 6, 1, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
SURVEY = SurveyConfig(silence_days=180, response_window_days=14)


def surveys(*rows: tuple) -> pl.DataFrame:
    """(sent_at, responded_at, score) rows of customer C1."""
    schema = {c: TABLES["surveys"].column(c).dtype for c in ("customer_id", "sent_at", "responded_at", "score")}
    return pl.DataFrame([("C1", *r) for r in rows], schema=schema, orient="row")


def survey_row(frame: pl.DataFrame, config: SurveyConfig = SURVEY) -> dict:
    out = build_survey(frame.lazy(), dates_frame([AS_OF], "UTC"), tz="UTC", windows=[7, 30, 90], survey=config).collect()
    return out.row(0, named=True) if out.height else {}


def status(frame: pl.DataFrame, config: SurveyConfig = SURVEY) -> str:
    got = survey_row(frame, config)
    return STATUSES[got["survey_status"]] if got else "not_asked (no row)"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([(T - 10 * DAY, T - 9 * DAY, 9.0)], "responded"),
        ([(T - 180 * DAY, T - 180 * DAY, 9.0)], "responded"),  # answered on the window's first instant
        ([(T - 181 * DAY, T - 180 * DAY - US, 9.0)], "not_asked"),  # answered just before the window
        ([(T - 30 * DAY, None, None)], "ignored"),
        ([(T - 14 * DAY, None, None)], "ignored"),  # exactly response_window_days before T
        ([(T - 14 * DAY + US, None, None)], "not_asked"),  # too young to be ignored
        ([(T - 3 * DAY, None, None)], "not_asked"),
        ([(T - 30 * DAY, T, 3.0)], "ignored"),  # answered at T: no answer at T
        ([(T - 30 * DAY, T + 2 * DAY, 3.0)], "ignored"),  # answered after T: no answer at T
        ([(T - 200 * DAY, None, None)], "not_asked"),  # invited before the silence window
        ([(T - 100 * DAY, T - 99 * DAY, 9.0), (T - 30 * DAY, None, None)], "responded"),
        ([(T, None, None)], "not_asked (no row)"),  # invited at T: the future
    ],
)
def test_survey_status(rows: list[tuple], expected: str) -> None:
    assert status(surveys(*rows)) == expected


def test_survey_status_follows_the_configured_windows() -> None:
    frame = surveys((T - 40 * DAY, T - 39 * DAY, 8.0), (T - 20 * DAY, None, None))
    assert status(frame, SurveyConfig(silence_days=30, response_window_days=14)) == "ignored"
    assert status(frame, SurveyConfig(silence_days=30, response_window_days=21)) == "not_asked"


def test_answers_scores_and_rates() -> None:
    got = survey_row(
        surveys(
            (T - 300 * DAY, T - 299 * DAY, 4.0),
            (T - 60 * DAY, T - 59 * DAY, 7.0),
            (T - 40 * DAY, None, None),
            (T - 20 * DAY, T + DAY, 2.0),  # answered after T: unanswered at T, score unknown
            (T - 10 * DAY, None, None),  # not yet matured: not counted as ignored
        )
    )
    expected = {
        "last_survey_score": 7.0, "days_since_last_answer": 59, "survey_status": STATUSES.index("responded"),
        "survey_invitations_30d": 2, "survey_answers_30d": 0, "survey_response_rate_30d": 0.0,
        "survey_invitations_90d": 4, "survey_answers_90d": 1, "survey_response_rate_90d": 0.25,
        "survey_ignored_in_a_row": 2,
    }  # fmt: skip
    assert {k: got[k] for k in expected} == expected


def test_a_customer_never_invited_in_a_window_has_no_rate() -> None:
    got = survey_row(surveys((T - 60 * DAY, None, None)))
    assert got["survey_response_rate_30d"] is None  # no invitations: no rate (0 would mean all ignored)
    assert got["last_survey_score"] is None and got["days_since_last_answer"] is None
    assert got["survey_ignored_in_a_row"] == 1
