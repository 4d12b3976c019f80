"""Snapshot planning, the too-short-history error, and the training and scoring frames."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.labels import label_churn
from features.snapshots import build_scoring_frame, build_training_frame, snapshot_dates, training_schema

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def world():
    from simulator import simulate_world

    return simulate_world(customers=300, days=400, seed=11)


@pytest.fixture
def config(make_config):
    return make_config(source={"pii": {"customers": ["email", "name"]}})


@pytest.mark.parametrize(
    ("churn", "training", "expected_last"),
    [
        ({"horizon_days": 30}, {"snapshots": 6, "step_days": 30}, date(2026, 1, 1)),
        ({"horizon_days": 30, "grace_days": 7}, {"snapshots": 4, "step_days": 45}, date(2025, 12, 25)),
        ({"horizon_days": 14}, {"snapshots": 5, "step_days": 14}, date(2026, 1, 17)),
    ],
)
def test_snapshot_dates(make_config, churn: dict, training: dict, expected_last: date) -> None:
    config = make_config(churn=churn, training=training)
    dates = snapshot_dates(date(2026, 1, 31), config)
    assert dates[-1] == expected_last  # the latest D with D + horizon + grace <= observed_until
    assert len(dates) == training["snapshots"]
    assert all(b - a == timedelta(days=training["step_days"]) for a, b in zip(dates, dates[1:]))


def test_dates_without_a_full_longest_window_are_dropped(make_config) -> None:
    config = make_config(training={"snapshots": 6, "step_days": 30})
    # data from 2025-05-01: the first snapshot needs 90 days of history, so not before 2025-07-30
    dates = snapshot_dates(date(2026, 1, 31), config, data_starts=date(2025, 5, 1))
    assert dates == [date(2025, 8, 4), date(2025, 9, 3), date(2025, 10, 3), date(2025, 11, 2), date(2025, 12, 2), date(2026, 1, 1)]
    dates = snapshot_dates(date(2026, 1, 31), config, data_starts=date(2025, 6, 1))
    assert dates[0] == date(2025, 9, 3) and len(dates) == 5


def test_too_short_a_history_is_refused_naming_keys_and_dates(make_config) -> None:
    config = make_config(training={"snapshots": 6, "step_days": 30}, churn={"horizon_days": 30})
    with pytest.raises(ValueError) as error:
        snapshot_dates(date(2026, 1, 31), config, data_starts=date(2025, 8, 1))
    message = str(error.value)
    for needed in ("training.snapshots", "training.step_days", "churn.horizon_days", "2025-08-01", "2026-01-31"):
        assert needed in message


def test_build_training_frame_refuses_a_short_history(make_config) -> None:
    t = datetime(2025, 12, 1, tzinfo=timezone.utc)
    tables = {
        "customers": pl.DataFrame({"customer_id": ["C1"], "signup_at": [t - 100 * DAY]}),
        "events": pl.DataFrame({"customer_id": ["C1"], "ts": [t - 100 * DAY], "event_type": ["login"]}),
    }
    with pytest.raises(ValueError, match="history too short.*2025-08-23"):
        build_training_frame(tables, make_config(churn={"definition": "inactivity"}), date(2026, 1, 31))


def test_training_frame_has_one_labelled_row_per_date_and_customer(world, config) -> None:
    frame = build_training_frame(world.tables, config, world.today)
    dates = snapshot_dates(world.today, config)
    assert frame["as_of"].unique().sort().to_list() == dates
    assert frame.select("as_of", "customer_id").is_unique().all()
    assert frame["churned"].null_count() == 0 and 0 < frame["churned"].mean() < 0.5
    # the labels are exactly label_churn's, date by date
    last = frame.filter(pl.col("as_of") == dates[-1]).select("customer_id", "churned")
    assert_frame_equal(last, label_churn(world.tables, config, dates[-1], world.today))


def test_training_and_scoring_build_the_same_features(world, config) -> None:
    schema = training_schema(world.tables, config, world.today)
    frame = build_training_frame(world.tables, config, world.today, schema=schema)
    last = frame["as_of"].max()
    scoring = build_scoring_frame(world.tables, config, last, schema=schema)
    assert_frame_equal(frame.filter(pl.col("as_of") == last).drop("churned"), scoring)


def test_scoring_conforms_to_the_stored_schema(world, config) -> None:
    schema = training_schema(world.tables, config, world.today)
    without_orders = {k: v for k, v in world.tables.items() if k != "orders"}
    scoring = build_scoring_frame(without_orders, config, world.today, schema=schema)
    assert scoring.columns == ["as_of", "customer_id", *schema.names]
    assert scoring.schema["orders_30d"] == pl.Int32 and scoring["orders_30d"].null_count() == scoring.height


def test_scoring_frame_holds_the_eligible_customers(world, config) -> None:
    scoring = build_scoring_frame(world.tables, config, world.today)
    active = world.tables["subscriptions"].filter(
        pl.col("started_at") < datetime(2026, 2, 5, tzinfo=timezone.utc),
        pl.col("ended_at").is_null() | (pl.col("ended_at") >= datetime(2026, 2, 5, tzinfo=timezone.utc)),
    )
    assert world.today == date(2026, 2, 5)
    assert scoring["customer_id"].to_list() == sorted(active["customer_id"].unique())
    assert not any(c.endswith("__usual") for c in scoring.columns)


def test_only_the_required_tables(make_config) -> None:
    t = datetime(2025, 12, 1, tzinfo=timezone.utc)
    tables = {
        "customers": pl.DataFrame({"customer_id": ["C1", "C2"], "signup_at": [t - 500 * DAY] * 2}),
        "events": pl.DataFrame({"customer_id": ["C1", "C2", "C1"], "ts": [t - 3 * DAY, t - 40 * DAY, t - 400 * DAY], "event_type": ["login"] * 3}),
    }
    config = make_config(churn={"definition": "inactivity", "active_within_days": 30})
    scoring = build_scoring_frame(tables, config, t.date())
    assert scoring["customer_id"].to_list() == ["C1"]
    assert scoring.row(0, named=True)["events_login_7d"] == 1
    assert not [c for c in scoring.columns if "ticket" in c or "survey" in c]


@pytest.mark.parametrize("rows_per_query", [1, 250, 700])
def test_dates_built_in_groups_give_the_frame_built_at_once(world, config, monkeypatch, rows_per_query) -> None:
    """Large populations are built a few dates at a time (memory); the frame must not notice."""
    from features import invitations, snapshots

    schema = training_schema(world.tables, config, world.today)
    whole = build_training_frame(world.tables, config, world.today, schema=schema)
    first = whole["as_of"].min()
    asked = invitations.build_invitation_frame(world.tables, config, schema, first, world.today)
    monkeypatch.setattr(snapshots, "ROWS_PER_QUERY", rows_per_query)
    assert_frame_equal(build_training_frame(world.tables, config, world.today, schema=schema), whole)
    assert_frame_equal(invitations.build_invitation_frame(world.tables, config, schema, first, world.today), asked)
    only = whole.select("as_of", "customer_id").gather_every(3)
    assert_frame_equal(
        snapshots.build_features(world.tables, config, whole["as_of"].unique().to_list(), schema, only=only),
        whole.drop("churned").join(only, on=["as_of", "customer_id"], how="semi", maintain_order="left"),
    )
