"""Invitations paired with the features as of their own sending day: a day-D invitation sees D - 1, never D or its own answer."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features import invitations
from features.contract import TABLES
from features.invitations import build_invitation_frame, matured_invitations
from features.snapshots import build_features, feature_schema

DAY = timedelta(days=1)
D = datetime(2025, 6, 1, tzinfo=timezone.utc)  # the sending day of C1's second invitation
OBSERVED_UNTIL = date(2025, 7, 1)


def _table(name: str, rows: list[tuple], columns: tuple[str, ...]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={c: TABLES[name].column(c).dtype for c in columns}, orient="row")


def tiny_world(*events: tuple[str, datetime], tickets: tuple[tuple[str, datetime], ...] = ()) -> dict[str, pl.DataFrame]:
    """C1 and C2 subscribed since 2024; C1 invited on D - 20 days (answered 9) and on D at noon (answered 3 the next day)."""
    signup = datetime(2024, 1, 1, tzinfo=timezone.utc)
    return {
        "customers": _table("customers", [("C1", signup), ("C2", signup)], ("customer_id", "signup_at")),
        "subscriptions": _table("subscriptions", [("C1", signup, None), ("C2", signup, None)], ("customer_id", "started_at", "ended_at")),
        "events": _table("events", [(c, ts, "login") for c, ts in [("C2", datetime(2025, 1, 5, tzinfo=timezone.utc)), *events]], ("customer_id", "ts", "event_type")),
        "tickets": _table("tickets", [(f"T{i}", c, ts) for i, (c, ts) in enumerate(tickets)], ("ticket_id", "customer_id", "opened_at")),
        "surveys": _table(
            "surveys",
            [
                ("C1", D - 20 * DAY, D - 19 * DAY, 9.0),
                ("C1", D + timedelta(hours=12), D + DAY, 3.0),
                ("C2", D - 5 * DAY, None, None),
                ("C2", datetime(2025, 6, 28, tzinfo=timezone.utc), None, None),  # too young to be ignored: not in the frame
            ],
            ("customer_id", "sent_at", "responded_at", "score"),
        ),
    }


@pytest.fixture
def config(make_config):
    return make_config(features={"windows_days": [7, 30]})


def frame_of(tables, config) -> pl.DataFrame:
    schema = feature_schema(tables, config, OBSERVED_UNTIL)
    return build_invitation_frame(tables, config, schema, date(2025, 4, 1), OBSERVED_UNTIL)


def c1_at_d(frame: pl.DataFrame) -> dict:
    return frame.filter((pl.col("customer_id") == "C1") & (pl.col("as_of") == D.date())).row(0, named=True)


@pytest.mark.parametrize(
    ("event_at", "seen"),
    [
        (D - DAY, 1),  # the day before sending: known
        (D - timedelta(microseconds=1), 1),  # the last instant before D
        (D, 0),  # the sending day's first instant: not yet known
        (D + timedelta(hours=11), 0),  # the sending day, before the invitation went out: still not known
        (D - 8 * DAY, 0),  # outside the 7-day window
    ],
)
def test_an_invitation_sees_the_day_before_it_was_sent_and_not_its_own_day(config, event_at: datetime, seen: int) -> None:
    row = c1_at_d(frame_of(tiny_world(("C1", event_at)), config))
    assert row["events_login_7d"] == seen


@pytest.mark.parametrize(("ticket_at", "seen"), [(D - DAY, 1), (D, 0), (D + 2 * DAY, 0)])
def test_an_invitation_sees_tickets_before_its_sending_day_only(config, ticket_at: datetime, seen: int) -> None:
    row = c1_at_d(frame_of(tiny_world(("C1", D - 3 * DAY), tickets=(("C1", ticket_at),)), config))
    assert row["tickets_7d"] == seen


def test_each_invitation_has_the_features_of_its_own_day_and_never_its_own_answer(config) -> None:
    frame = frame_of(tiny_world(("C1", D - 30 * DAY), ("C1", D - 2 * DAY)), config)
    assert frame.select("as_of", "customer_id", "responded", "score").rows() == [
        (date(2025, 5, 12), "C1", True, 9.0),
        (date(2025, 5, 27), "C2", False, None),
        (date(2025, 6, 1), "C1", True, 3.0),
    ]
    first, second = frame.filter(pl.col("customer_id") == "C1").iter_rows(named=True)
    assert (first["days_since_last_event"], second["days_since_last_event"]) == (10, 2)  # each as of its own day
    assert first["last_survey_score"] is None  # its own answer (9) came after it was sent
    assert second["last_survey_score"] == 9.0  # the earlier answer, never its own 3
    assert second["survey_answers_30d"] == 1


def test_young_invitations_and_those_before_first_are_left_out(config) -> None:
    frame = frame_of(tiny_world(("C1", D - 2 * DAY)), config)
    assert frame["as_of"].max() < OBSERVED_UNTIL - timedelta(days=config.survey.response_window_days)
    schema = feature_schema(tiny_world(), config, OBSERVED_UNTIL)
    later = build_invitation_frame(tiny_world(("C1", D - 2 * DAY)), config, schema, date(2025, 5, 20), OBSERVED_UNTIL)
    assert later["as_of"].min() >= date(2025, 5, 20)


def test_without_surveys_there_is_no_frame(config) -> None:
    tables = tiny_world(("C1", D - DAY))
    del tables["surveys"]
    assert build_invitation_frame(tables, config, feature_schema(tables, config, OBSERVED_UNTIL), date(2025, 4, 1), OBSERVED_UNTIL) is None


def test_matured_invitations_keep_answers_given_before_the_data_ends(config) -> None:
    tables = tiny_world()
    tables["surveys"] = pl.concat([tables["surveys"], _table("surveys", [("C2", D, datetime(2025, 7, 2, tzinfo=timezone.utc), 1.0)], ("customer_id", "sent_at", "responded_at", "score"))])
    late = matured_invitations(tables, config, date(2025, 4, 1), OBSERVED_UNTIL).filter((pl.col("customer_id") == "C2") & (pl.col("as_of") == D.date()))
    assert late.select("responded", "score").row(0) == (False, None)  # answered after the data ends: not an answer yet


@pytest.fixture(scope="module")
def small_world():
    from simulator import simulate_world

    return simulate_world(customers=200, days=300, seed=5)


@pytest.mark.parametrize(("days_per_block", "invitees_per_block"), [(1, 10_000), (5, 7), (60, 10_000)])
def test_blocks_give_the_features_built_for_everyone_at_each_date(small_world, make_config, monkeypatch, days_per_block, invitees_per_block) -> None:
    """Cutting the tables to each block's invitees must not change any feature."""
    config = make_config(source={"pii": {"customers": ["email", "name"]}})
    schema = feature_schema(small_world.tables, config, small_world.today)
    monkeypatch.setattr(invitations, "DAYS_PER_BLOCK", days_per_block)
    monkeypatch.setattr(invitations, "INVITEES_PER_BLOCK", invitees_per_block)
    first = small_world.today - timedelta(days=90)
    frame = build_invitation_frame(small_world.tables, config, schema, first, small_world.today)
    assert frame.height > 50 and frame["as_of"].n_unique() > 20
    keys = frame.select("as_of", "customer_id").unique()
    everyone = build_features(small_world.tables, config, keys["as_of"].unique().to_list(), schema, only=keys)
    assert_frame_equal(frame.drop("sent_at", "responded", "score").unique(["as_of", "customer_id"]).sort("as_of", "customer_id"), everyone, check_exact=False)


def test_a_days_rows_are_taken_from_a_cut_in_the_tables_own_order(small_world) -> None:
    """A day's rows found in a block's cut by customer code are what a join would give: the same rows, the same order."""
    tables = {name: frame.lazy() for name, frame in small_world.tables.items()}
    block = small_world.tables["customers"].select("customer_id").sample(120, seed=3)
    cut = invitations._cut(tables, block)
    for day in (block.sample(17, seed=4)["customer_id"], block["customer_id"].head(1), block["customer_id"].clear()):
        taken = cut.take(day)
        for name, frame in small_world.tables.items():
            assert_frame_equal(taken[name], frame.join(day.to_frame(), on="customer_id", how="semi", maintain_order="left"), check_exact=True)
    for name, frame in small_world.tables.items():
        assert_frame_equal(cut.whole()[name], frame.join(block, on="customer_id", how="semi", maintain_order="left"), check_exact=True)


@pytest.mark.parametrize("answer", [(D + DAY, 0.0), (D + timedelta(hours=13), 10.0), (None, None)])
def test_an_invitations_own_answer_never_reaches_its_features(config, answer) -> None:
    """Whatever C1 answers to the day-D invitation (or not at all), that row's features are the same."""
    tables = tiny_world(("C1", D - 2 * DAY), tickets=(("C1", D - DAY),))
    reference = c1_at_d(frame_of(tables, config))
    changed = tables["surveys"].with_columns(
        responded_at=pl.when(pl.col("sent_at") == D + timedelta(hours=12)).then(pl.lit(answer[0], pl.Datetime("us", "UTC"))).otherwise("responded_at"),
        score=pl.when(pl.col("sent_at") == D + timedelta(hours=12)).then(pl.lit(answer[1], pl.Float64)).otherwise("score"),
    )
    row = c1_at_d(frame_of({**tables, "surveys": changed}, config))
    own = {"sent_at", "responded", "score"}
    assert {k: v for k, v in row.items() if k not in own} == {k: v for k, v in reference.items() if k not in own}
    assert row["score"] == answer[1]
