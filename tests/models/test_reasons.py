"""Reason texts a CX person can read aloud: (feature, value, usual) -> the exact sentence, the
choice of drivers (missing values without meaning are skipped), and a sweep over every catalog
entry of a simulated world."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from configs.schema import SurveyConfig
from features.behavioral import behavioral_features
from features.catalog import reason_text
from features.operational import billing_features, order_features, ticket_features
from features.relationship import customer_features, subscription_features
from features.snapshots import feature_schema
from features.survey import survey_features
from models.reasons import explain, measures
from simulator import simulate_world

WINDOWS = [7, 30, 90]


def _catalog() -> dict:
    """The catalog entries as the family builders write them (not copies of their templates)."""
    parts = [
        behavioral_features(WINDOWS, ("page_view", "login"), {"value", "channel"}, with_usual=True)[1],
        ticket_features(WINDOWS, {"wait_seconds", "handoffs", "reopened", "escalated"}, with_usual=True)[1],
        order_features(WINDOWS, {"promised_at", "status"}, with_usual=True)[1],
        billing_features(WINDOWS, ("payment_failed", "refund"), with_usual=True)[1],
        survey_features(WINDOWS, SurveyConfig(), with_usual=True)[1],
        customer_features(["monthly_value"], {"acquisition_channel": ("organic", "social"), "plan": ("basic", "premium_plus")}),
        subscription_features({"amount"})[1],
    ]
    return {f.spec.name: f.spec for part in parts for f in part}


CATALOG = _catalog()


@pytest.mark.parametrize(
    ("feature", "value", "usual", "sentence"),
    [
        # counts: singular, plural, thousands
        ("tickets_open", 1, None, "1 support ticket still open"),
        ("tickets_open", 3, None, "3 support tickets still open"),
        ("tickets_open", 0, None, "0 support tickets still open"),
        ("events_30d", 1, None, "1 activity in the last 30 days"),
        ("events_30d", 1234, None, "1,234 activities in the last 30 days"),
        ("orders_late_30d", 1, None, "1 late delivery in the last 30 days"),
        ("orders_late_30d", 2, None, "2 late deliveries in the last 30 days"),
        ("ticket_handoffs_30d", 1, None, "1 handoff between support agents in the last 30 days"),
        ("billing_payment_failed_30d", 2, None, "2 payment failed billing incidents in the last 30 days"),
        # event types as words
        ("events_page_view_30d", 1, None, "1 page view event in the last 30 days"),
        ("days_since_last_page_view", 114, None, "114 days since the last page view"),
        # durations in the units people use
        ("ticket_wait_minutes_max_30d", 1340.0, None, "a support wait of 22 hours in the last 30 days"),
        ("ticket_wait_minutes_max_30d", 1.0, None, "a support wait of 1 minute in the last 30 days"),
        ("ticket_wait_minutes_mean_30d", 45.4, None, "support waits averaged 45 minutes in the last 30 days"),
        ("ticket_wait_minutes_mean_30d", 4000.0, None, "support waits averaged 2.8 days in the last 30 days"),
        ("ticket_resolve_hours_median_30d", 72.0, None, "a typical support ticket took 3 days to resolve in the last 30 days"),
        ("ticket_resolve_hours_median_30d", 0.5, None, "a typical support ticket took 30 minutes to resolve in the last 30 days"),
        ("days_since_last_event", 1, None, "1 day since the last activity"),
        ("tenure_days", 45, None, "customer for 45 days"),
        ("tenure_days", 730.5, None, "customer for 2 years"),
        ("tenure_days", 500, None, "customer for 1.4 years"),
        ("order_delay_days_mean_30d", 2.5, None, "late deliveries arrived 2.5 days late on average in the last 30 days"),
        # money and amounts: sensible decimals, never "131.0"
        ("value_mean_30d", 131.0, None, "an average activity value of 131 in the last 30 days"),
        ("value_sum_30d", 1234.56, None, "a total activity value of 1,235 in the last 30 days"),
        ("value_sum_30d", 3_200_000.0, None, "a total activity value of 3.2 million in the last 30 days"),
        ("subscription_amount", 49.99, None, "active subscriptions worth 49.99"),
        ("monthly_value", 30.5, None, "monthly value: 30.50"),
        # shares and trends
        ("orders_late_share_30d", 0.25, None, "25% of deliveries late in the last 30 days"),
        ("events_trend_30d", 0.45, None, "activity in the last 30 days at 45% of the 30 days before"),
        ("events_weekly_slope_8w", -1.46, None, "activity over the last 8 weeks: falling by 1.5 events a week"),
        ("events_weekly_slope_8w", 1.0, None, "activity over the last 8 weeks: rising by 1 event a week"),
        # categories: labels, not codes
        ("acquisition_channel", "social", None, "acquisition channel: social"),
        ("plan", "premium_plus", None, "plan: premium plus"),
        ("survey_status", "ignored", None, "left recent survey invitations unanswered"),
        ("survey_status", "not_asked", None, "not asked for feedback recently"),
        ("last_survey_score", 3.0, None, "last survey score: 3 out of 10"),
        # a missing value that means something is said; one that means nothing is no reason
        ("last_survey_score", None, None, "has never answered a survey"),
        ("days_since_last_answer", None, None, "has never answered a survey"),
        ("days_since_last_event", None, None, "no activity on record"),
        ("days_since_last_page_view", None, None, "no page view on record"),
        ("days_since_last_ticket", None, None, "has never contacted support"),
        ("subscription_days", None, None, "has never subscribed"),
        ("ticket_wait_minutes_max_30d", None, None, None),
        ("value_mean_30d", None, None, None),
        ("orders_late_share_30d", None, None, None),
        ("days_since_last_payment_failure", None, None, None),
        ("plan", None, None, None),
        # the usual level: shown when the value goes the way risk rises, said honestly when not
        ("tickets_30d", 3, 0.0, "3 support tickets in the last 30 days (usual: 0)"),
        ("tickets_90d", 4, 5.0, "4 support tickets in the last 90 days, fewer than usual (5)"),
        ("tickets_90d", 4, 4.04, "4 support tickets in the last 90 days (usual: 4)"),  # as shown, 4 is usual
        ("tickets_30d", 1, 1.7, "1 support ticket in the last 30 days, fewer than usual (1.7)"),
        ("events_30d", 12, 30.0, "12 activities in the last 30 days (usual: 30)"),  # fewer activities: risk rises
        ("events_30d", 40, 30.0, "40 activities in the last 30 days, more than usual (30)"),
        ("active_days_30d", 1, 12.3, "active on 1 of the last 30 days (usual: 12)"),
        ("survey_invitations_30d", 2, 5.0, "2 survey invitations in the last 30 days (usual: 5)"),  # direction 0: no judgement
    ],
)
def test_reason_sentences(feature: str, value, usual: float | None, sentence: str | None) -> None:
    assert reason_text(CATALOG[feature], value, usual) == sentence


FEATURES = ["ticket_wait_minutes_max_30d", "last_survey_score", "tickets_open", "tenure_days", "plan"]


def _explained(X: list[list[float]], contributions: list[float], unknown: set[str] = frozenset()):
    X = np.array(X, dtype=np.float64)
    contrib = np.tile(np.array([*contributions, -2.0]), (len(X), 1))  # last column: the bias
    catalog = {f: CATALOG[f] for f in FEATURES}
    return explain(contrib, X, {}, FEATURES, catalog, {"plan": {0: "basic", 1: "premium_plus"}}, unknown)


def test_a_missing_value_without_meaning_gives_way_to_the_next_driver() -> None:
    nan = float("nan")
    texts, payloads = _explained(
        [[nan, nan, 1, 100, 1], [1340, 7, 1, 100, 1]],
        [0.9, 0.5, 0.3, 0.1, 0.2],
    )
    # row 0: no wait recorded says nothing (skipped); never answering a survey says something
    assert texts[0] == ["has never answered a survey", "1 support ticket still open", "plan: premium plus"]
    assert [d["feature"] for d in json.loads(payloads[0])] == ["last_survey_score", "tickets_open", "plan"]
    assert json.loads(payloads[0])[0]["value"] is None
    # row 1: the same drivers with values are said as values
    assert texts[1] == ["a support wait of 22 hours in the last 30 days", "last survey score: 7 out of 10", "1 support ticket still open"]


def test_a_feature_missing_for_everyone_says_nothing() -> None:
    """The surveys table is gone since training: "has never answered a survey" would be untrue."""
    nan = float("nan")
    texts, _ = _explained([[nan, nan, 1, 100, 1]], [0.9, 0.5, 0.3, 0.1, 0.2], unknown={"last_survey_score"})
    assert texts[0] == ["1 support ticket still open", "plan: premium plus", "customer for 100 days"]


def test_a_measure_is_named_once_in_the_words_of_its_strongest_window() -> None:
    features = ["tickets_30d", "tickets_90d", "tickets_open", "tenure_days"]
    catalog = {f: CATALOG[f] for f in features}
    X = np.array([[3, 5, 1, 100], [3, 5, 1, 100]], dtype=np.float64)
    contrib = np.array([[0.2, 0.9, 0.3, 0.1, -2.0], [0.9, 0.2, 0.3, 0.1, -2.0]])
    texts, payloads = explain(contrib, X, {}, features, catalog, {})
    assert texts[0] == ["5 support tickets in the last 90 days", "1 support ticket still open", "customer for 100 days"]
    assert texts[1] == ["3 support tickets in the last 30 days", "1 support ticket still open", "customer for 100 days"]
    assert [d["feature"] for d in json.loads(payloads[1])] == ["tickets_30d", "tickets_open", "tenure_days"]


def test_measures_group_windows_and_half_lives_only() -> None:
    codes = measures(["tickets_30d", "tickets_90d", "tickets_friction_14d", "tickets_friction_120d", "tickets_open", "events_total"])
    assert codes[0] == codes[1] and codes[2] == codes[3]
    assert len({codes[0], codes[2], codes[4], codes[5]}) == 4


def test_only_drivers_that_push_up_become_reasons() -> None:
    texts, payloads = _explained([[1340, 7, 1, 100, 0]], [-0.4, -0.1, 0.3, 0.0, -0.2])
    assert texts[0] == ["1 support ticket still open", None, None]
    assert [d["feature"] for d in json.loads(payloads[0])] == ["tickets_open"]


@pytest.fixture(scope="module")
def world_schema(tmp_path_factory):
    from configs import parse_config

    world = simulate_world(customers=300, days=400, seed=7)
    base = tmp_path_factory.mktemp("reasons")
    config = parse_config({"name": "t", "workspace": "w", "source": {"kind": "files", "path": "data"}, "sink": {"kind": "duckdb", "path": "s.duckdb"}}, base=base)
    return feature_schema(world.tables, config, world.today)


FORBIDDEN = ("as_of", "as of", "none on record", "integer code", "code ")
SINGULAR_WITH_PLURAL = re.compile(r"\b1 (?:[a-z]+ )?[a-z]+s\b")  # "1 support tickets", "1 days"
SNAKE = re.compile(r"[A-Za-z]_[A-Za-z]")


def test_every_catalog_entry_of_a_simulated_world_reads_aloud(world_schema) -> None:
    checked = 0
    for spec in world_schema.features:
        labels = world_schema.categories.get(spec.name)
        values = list(labels) if labels else [0, 1, 1.0, 2, 1.5, 1340.0, 0.25, -3.0, 1e308]
        for value in [*values, None]:
            for usual in [None, 0.0, 1.0, 5.0] if spec.usual and value is not None else [None]:
                text = reason_text(spec, value, usual)
                if value is None and spec.missing_reason is None:
                    assert text is None, spec.name
                    continue
                checked += 1
                assert text and text == text.strip() and len(text) < 120, (spec.name, value, text)
                assert not any(bad in text for bad in FORBIDDEN), (spec.name, value, text)
                assert not SNAKE.search(text), (spec.name, value, text)
                if value == 1:
                    assert not SINGULAR_WITH_PLURAL.search(text), (spec.name, value, text)
                assert not re.search(r"\d\.0\b", text), (spec.name, value, text)  # no "131.0"
    assert checked > 500
    assert {s.name for s in world_schema.features if s.missing_reason} >= {"last_survey_score", "days_since_last_event"}


def test_a_value_summed_in_another_order_reads_the_same() -> None:
    """73.755 on one engine and 73.75500000000001 on another (the same mean summed per bucket) must give
    the same sentence and JSON, not 73.75 and 73.76."""
    features = ["value_mean_30d", "tenure_days"]
    catalog = {f: CATALOG[f] for f in features}
    X = np.array([[73.755, 10.0], [73.75500000000001, 10.0]])
    contrib = np.tile(np.array([0.9, 0.1, -2.0]), (2, 1))
    texts, payloads = explain(contrib, X, {}, features, catalog, {})
    assert texts[0] == texts[1] and payloads[0] == payloads[1]
    assert json.loads(payloads[0])[0]["value"] == 73.755
