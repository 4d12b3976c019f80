"""Survey features: who was asked, who answered, what they said, as of each date.

``survey_status`` (docs/reasons-and-flags.md): ``responded`` = answered within
[T - survey.silence_days, T); ``ignored`` = not responded, and invited in that window at least
survey.response_window_days before T (an invitation younger than that is not yet ignored);
``not_asked`` = neither. An answer given at or after T is no answer at T.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from configs.schema import SurveyConfig
from features.catalog import Feature, FeatureSpec, counted, merged, select_exprs
from features.timeline import as_of_instant, days_before, known_at, rows_before, with_later_facts

FAMILY = "survey"
TABLE = "surveys"
STATUSES = ("responded", "ignored", "not_asked")  # code i = STATUSES[i]
NOT_ASKED = STATUSES.index("not_asked")
NEVER_ANSWERED = "has never answered a survey"
_STATUS_REASON = "{value:one_of:responded=answered a recent survey;ignored=left recent survey invitations unanswered;not_asked=not asked for feedback recently}"

_SENT_AGO = pl.col("_days_ago")
_ANSWERED_AGO = pl.col("_answered_days_ago")
_ANSWERED = pl.col("_responded_at").is_not_null()


def _spec(name: str, description: str, reason: str, direction: int, dtype: str = "Int32", absent: float | None = 0, missing: str | None = None) -> FeatureSpec:
    return FeatureSpec(name, FAMILY, TABLE, description, reason, direction, dtype, absent, missing_reason=missing)


def survey_features(windows: Sequence[int], survey: SurveyConfig, with_usual: bool = False) -> tuple[list[pl.Expr], list[Feature]]:
    silence = survey.silence_days
    responded = (_ANSWERED_AGO <= silence).any()
    invited_long_enough = ((_SENT_AGO <= silence) & pl.col("_matured")).any()
    last_answered_sent = pl.when(_ANSWERED).then(pl.col("sent_at")).max()
    aggs = [
        pl.when(responded)
        .then(STATUSES.index("responded"))
        .when(invited_long_enough)
        .then(STATUSES.index("ignored"))
        .otherwise(NOT_ASKED)
        .alias("survey_status"),
        pl.col("_score").sort_by("_responded_at", nulls_last=False).last().alias("last_survey_score"),
        _ANSWERED_AGO.min().alias("days_since_last_answer"),
        # matured invitations left unanswered since the last one that was answered
        (pl.col("_matured") & ~_ANSWERED & (pl.col("sent_at") > last_answered_sent).fill_null(True)).sum().alias("survey_ignored_in_a_row"),
    ]
    counts = merged(
        [
            counted(pl.lit(True), _SENT_AGO, windows, with_usual, family=FAMILY, table=TABLE, name="survey_invitations_{w}d",
                    description="survey invitations sent in the {w} days before as_of", reason="{value:count:survey invitation} in the last {w} days", direction=0),
            counted(pl.lit(True), _ANSWERED_AGO, windows, with_usual, family=FAMILY, table=TABLE, name="survey_answers_{w}d",
                    description="survey answers given in the {w} days before as_of", reason="{value:count:survey answer} in the last {w} days", direction=-1),
        ]
    )  # fmt: skip
    aggs += counts[0]
    aggs += [
        pl.when((_SENT_AGO <= w).sum() > 0).then((_ANSWERED & (_SENT_AGO <= w)).sum() / (_SENT_AGO <= w).sum()).alias(f"survey_response_rate_{w}d")
        for w in windows
    ]
    features = [
        Feature(_spec("survey_status", f"survey status at as_of, coded {dict(enumerate(STATUSES))} (docs/reasons-and-flags.md)", _STATUS_REASON, 0, absent=NOT_ASKED)),
        Feature(_spec("last_survey_score", "the most recent answer's score before as_of, however old (null: never answered)", f"last survey score: {{value:number}} out of {survey.score_range[1]:g}", -1, "Float64", None, NEVER_ANSWERED)),
        Feature(_spec("days_since_last_answer", "days from the last survey answer to as_of (null: never answered)", "{value:days} since the last survey answer", 0, absent=None, missing=NEVER_ANSWERED)),
        Feature(_spec("survey_ignored_in_a_row", f"invitations older than {survey.response_window_days} days left unanswered since the last answered one", "{value:count:survey invitation} ignored in a row", 1)),
    ]
    features += counts[1]
    for w in windows:
        features += [
            Feature(_spec(f"survey_response_rate_{w}d", f"share of the invitations sent in the {w} days before as_of answered before it (null: no invitations)", f"answered {{value:percent}} of survey invitations in the last {w} days", -1, "Float64", None)),
        ]
    return aggs, features


def build_survey(surveys: pl.LazyFrame, dates: pl.DataFrame, *, tz: str, windows: Sequence[int], survey: SurveyConfig, with_usual: bool = False) -> pl.LazyFrame:
    aggs, features = survey_features(windows, survey, with_usual)
    # an invitation sent at or before this instant is old enough to count as ignored
    matured_by = pl.Series([as_of_instant(d - timedelta(days=survey.response_window_days), tz) for d in dates["as_of"]])
    rows = (
        rows_before(with_later_facts(surveys, TABLE), dates.with_columns(matured_by.alias("_matured_by")), "sent_at", tz)
        .with_columns(known_at("responded_at", pl.col("_t")).alias("_responded_at"))
        .with_columns(
            pl.when(_ANSWERED).then(pl.col("score")).alias("_score"),
            days_before("_responded_at", tz, pl.col("_day")).alias("_answered_days_ago"),
            (pl.col("sent_at") <= pl.col("_matured_by")).alias("_matured"),
        )
    )
    return rows.group_by("as_of", "customer_id").agg(aggs).select("as_of", "customer_id", *select_exprs(features, with_usual))
