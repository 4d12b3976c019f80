"""The synthetic world: contract shape, determinism, and the mechanisms the README promises.

One small world (3,000 customers x 365 days, a few seconds) is written once per module and read
back as the pipeline would read it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from features.contract import TABLES
from simulator import DEFAULT_START, SIMULATOR_VERSION, simulate_world, write_world
from simulator.calibration import (
    churn_labels,
    churners_never_answered,
    headline_figures,
    monthly_churn_rate,
    oracle_auc,
    response_rate_by_quintile,
    roc_auc,
)

CUSTOMERS, DAYS, SEED = 3_000, 365, 11
TODAY = DEFAULT_START + timedelta(days=DAYS)
TODAY_TS = pl.lit(TODAY).cast(pl.Datetime("us", "UTC"))
CONTRACT = ("customers", "events", "subscriptions", "tickets", "orders", "billing", "surveys")
TRUTH = ("weekly", "churn", "churn_events", "surveys")
UTC_US = pl.Datetime("us", "UTC")


def _read(root, seed_dir):
    tables = {name: pl.read_parquet(root / seed_dir / f"{name}.parquet") for name in CONTRACT}
    truth = {name: pl.read_parquet(root / seed_dir / "ground_truth" / f"{name}.parquet") for name in TRUTH}
    return tables, truth


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    """The test world written twice with one seed and once with another."""
    root = tmp_path_factory.mktemp("worlds")
    summaries = {
        name: write_world(root / name, customers=CUSTOMERS, days=DAYS, seed=seed)
        for name, seed in (("a", SEED), ("a_again", SEED), ("b", SEED + 1))
    }
    return root, summaries


@pytest.fixture(scope="module")
def world(worlds):
    root, _ = worlds
    return _read(root, "a")


@pytest.fixture(scope="module")
def figures(world):
    tables, truth = world
    figures = headline_figures(tables, truth, TODAY, DAYS)
    print("\nheadline figures of the test world:", json.dumps(figures, indent=1))
    return figures


# ---------------------------------------------------------------- files, manifest, determinism


def test_summary_and_manifest_describe_the_files(worlds):
    root, summaries = worlds
    summary = summaries["a"]
    manifest = json.loads((root / "a" / "simulation.json").read_text())
    assert summary.today == TODAY
    assert manifest["today"] == TODAY.isoformat() and manifest["start"] == DEFAULT_START.isoformat()
    assert (manifest["seed"], manifest["customers"], manifest["days"], manifest["version"]) == (SEED, CUSTOMERS, DAYS, SIMULATOR_VERSION)
    assert manifest["row_counts"] == summary.row_counts
    for name in CONTRACT:
        path = root / "a" / f"{name}.parquet"
        assert summary.paths[name] == path
        assert pl.scan_parquet(path).select(pl.len()).collect().item() == summary.row_counts[name]
    for name in TRUTH:
        assert (root / "a" / "ground_truth" / f"{name}.parquet").exists()


def test_same_seed_gives_byte_identical_files(worlds):
    root, summaries = worlds
    for name, path in summaries["a"].paths.items():
        again = summaries["a_again"].paths[name]
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(again.read_bytes()).digest(), name
    tables_a, _ = _read(root, "a")
    tables_again, _ = _read(root, "a_again")
    for name in CONTRACT:
        assert_frame_equal(tables_a[name], tables_again[name])


def test_another_seed_gives_another_world(worlds):
    root, _ = worlds
    tables_a, _ = _read(root, "a")
    tables_b, _ = _read(root, "b")
    for name in ("events", "tickets", "surveys"):
        assert not tables_a[name].equals(tables_b[name]), name


def test_in_memory_world_is_the_written_world(world):
    tables, truth = world
    memory = simulate_world(CUSTOMERS, DAYS, SEED)
    assert memory.today == TODAY
    for name in CONTRACT:
        assert_frame_equal(memory.tables[name], tables[name])
    assert_frame_equal(memory.truth["churn"], truth["churn"])


def test_too_small_a_world_is_refused(tmp_path):
    with pytest.raises(ValueError, match="customers=0"):
        write_world(tmp_path, customers=0, days=30)


# ---------------------------------------------------------------- the input contract


@pytest.mark.parametrize("name", CONTRACT)
def test_tables_have_the_contract_columns_and_types(world, name):
    tables, _ = world
    frame = tables[name]
    spec = TABLES[name]
    for column in spec.columns:
        assert column.name in frame.columns, f"{name}.{column.name} missing"
        assert frame.schema[column.name] == column.dtype, f"{name}.{column.name}: {frame.schema[column.name]} != {column.dtype}"
    for column in spec.required_columns:
        assert frame[column.name].null_count() == 0, f"{name}.{column.name} has nulls"
    assert frame.height > 0


def test_customers_carry_attributes_and_fake_pii(world):
    customers = world[0]["customers"]
    assert customers.schema["monthly_value"] == pl.Float64
    assert set(customers["plan"].unique()) == {"basic", "standard", "premium"}
    first = customers.row(0, named=True)
    assert (first["customer_id"], first["email"], first["name"]) == ("C0000001", "c1@example.com", "Customer 1")
    assert customers["signup_at"].is_sorted()
    installed = customers.filter(pl.col("signup_at") < pl.lit(DEFAULT_START).cast(UTC_US)).height
    assert installed / customers.height == pytest.approx(0.7, abs=0.01)


@pytest.mark.parametrize("name", ["customers", "tickets", "orders", "surveys"])
def test_ids_are_unique_and_well_formed(world, name):
    tables, _ = world
    key = {"customers": "customer_id", "tickets": "ticket_id", "orders": "order_id", "surveys": "survey_id"}[name]
    ids = tables[name][key]
    assert ids.n_unique() == len(ids)
    assert ids.str.contains(r"^[CTOS]\d{7,}$").all()


@pytest.mark.parametrize("name", CONTRACT)
def test_every_timestamp_is_before_today_except_promised_at(world, name):
    tables, _ = world
    frame = tables[name]
    for column, dtype in frame.schema.items():
        if dtype == UTC_US and column != "promised_at":
            assert frame.filter(pl.col(column) >= TODAY_TS).height == 0, f"{name}.{column} reaches today"
    if name == "orders":
        assert frame.filter(pl.col("promised_at") >= TODAY_TS).height > 0  # planned dates may lie ahead


@pytest.mark.parametrize(
    "name, start, end",
    [
        ("tickets", "opened_at", "resolved_at"),
        ("surveys", "sent_at", "responded_at"),
        ("orders", "ordered_at", "delivered_at"),
        ("orders", "ordered_at", "promised_at"),
        ("subscriptions", "started_at", "ended_at"),
    ],
)
def test_ends_never_precede_starts(world, name, start, end):
    frame = world[0][name]
    assert frame.filter(pl.col(end) < pl.col(start)).height == 0
    assert frame[end].drop_nulls().len() > 0


@pytest.mark.parametrize(
    "name, column", [("events", "value"), ("subscriptions", "amount"), ("tickets", "wait_seconds"), ("tickets", "handoffs"), ("orders", "amount"), ("billing", "amount")]
)
def test_no_negative_amounts_or_durations(world, name, column):
    assert world[0][name].filter(pl.col(column) < 0).height == 0


@pytest.mark.parametrize("name", CONTRACT[1:])
def test_every_customer_id_is_a_known_customer(world, name):
    tables, _ = world
    unknown = tables[name].join(tables["customers"], on="customer_id", how="anti")
    assert unknown.height == 0


def test_categorical_columns_use_the_documented_labels(world):
    tables, _ = world
    expected = {
        ("events", "event_type"): {"login", "session", "page_view", "feature_use", "purchase"},
        ("events", "channel"): {"web", "mobile", "api"},
        ("tickets", "channel"): {"chat", "email", "phone"},
        ("orders", "status"): {"delivered", "cancelled", "returned", "pending"},
        ("billing", "kind"): {"payment_failed", "payment_recovered", "refund", "chargeback", "price_increase"},
        ("surveys", "channel"): {"email", "in_app"},
        ("surveys", "trigger"): {"post_ticket", "periodic"},
    }
    for (name, column), labels in expected.items():
        assert set(tables[name][column].unique()) == labels, (name, column)


def test_scores_are_nps_and_present_exactly_when_answered(world):
    surveys = world[0]["surveys"]
    assert surveys["score"].drop_nulls().is_between(0, 10).all()
    assert (surveys["score"].is_null() == surveys["responded_at"].is_null()).all()
    assert (surveys.filter(pl.col("responded_at").is_not_null()).select(pl.col("responded_at") - pl.col("sent_at")).to_series()
            <= timedelta(days=7)).all()


def test_open_subscriptions_are_the_active_customers(world):
    tables, truth = world
    open_ = tables["subscriptions"].filter(pl.col("ended_at").is_null())
    assert open_["customer_id"].n_unique() == open_.height  # at most one open subscription each
    active = truth["churn"].filter(pl.col("active_at_today"))
    assert set(open_["customer_id"]) == set(active["customer_id"])


def test_plan_changes_and_win_backs_exist(world):
    subscriptions = world[0]["subscriptions"].sort("customer_id", "started_at")
    following = subscriptions.with_columns(next_start=pl.col("started_at").shift(-1).over("customer_id")).filter(
        pl.col("ended_at").is_not_null() & pl.col("next_start").is_not_null()
    )
    gap_days = (following["next_start"] - following["ended_at"]).dt.total_days()
    assert (gap_days == 0).sum() > 0, "plan changes with an immediate restart"
    assert gap_days.is_between(1, 5).sum() > 0, "plan changes with a short gap (grace rule)"
    assert (gap_days >= 30).sum() > 0, "win-backs after a churn"
    assert (gap_days >= 30).sum() < 0.2 * world[1]["churn_events"].height, "win-backs are rare"


def test_history_has_the_company_wide_bad_support_period(world):
    tickets = world[0]["tickets"].with_columns(day=(pl.col("opened_at") - pl.lit(DEFAULT_START).cast(UTC_US)).dt.total_days())
    bad = tickets.filter(pl.col("day").is_between(int(0.55 * DAYS), int(0.71 * DAYS) - 1))
    good = tickets.filter(pl.col("day") < int(0.55 * DAYS))
    assert bad["wait_seconds"].median() > 2 * good["wait_seconds"].median()
    assert bad["handoffs"].mean() > 1.5 * good["handoffs"].mean()


# ---------------------------------------------------------------- the mechanisms


def test_plausible_rates(figures):
    assert 0.01 <= figures["monthly_churn"] <= 0.04
    assert 0.10 <= figures["survey_response_rate"] <= 0.30
    assert 0.2 <= figures["tickets_per_customer_month"] <= 1.0
    assert 0.05 <= figures["late_delivery_share"] <= 0.10
    assert 0.01 <= figures["payment_failures_per_customer_month"] <= 0.06
    assert 70 <= figures["events_per_customer_year"] <= 140


def test_monthly_churn_rate_is_between_one_and_four_percent(world):
    _, truth = world
    assert 0.01 <= monthly_churn_rate(truth["weekly"], truth["churn_events"]) <= 0.04


def test_dissatisfied_customers_answer_surveys_less(world):
    tables, truth = world
    by_quintile = response_rate_by_quintile(tables["surveys"], truth["surveys"], TODAY)
    print("\nresponse rate by satisfaction quintile:\n", by_quintile)
    rates = by_quintile["response_rate"].to_list()
    assert rates[0] < 0.6 * rates[-1]
    assert rates == sorted(rates)


def test_respondents_are_happier_than_the_population(world):
    tables, truth = world
    answered = truth["surveys"].join(tables["surveys"].filter(pl.col("responded_at").is_not_null()).select("survey_id"), on="survey_id")
    assert answered["would_score"].mean() > truth["surveys"]["would_score"].mean() + 0.3


def test_churn_is_higher_in_the_least_satisfied_quintile(world):
    _, truth = world
    weeks = sorted(truth["weekly"]["week"].unique())
    rates = []
    for as_of in weeks[8:-5:8]:
        labelled = churn_labels(truth["weekly"], truth["churn_events"], as_of).with_columns(
            quintile=(pl.col("satisfaction").rank("ordinal") * 5 / (pl.len() + 1)).floor()
        )
        rates.append(labelled.group_by("quintile").agg(pl.col("churned").mean()).sort("quintile")["churned"].to_list())
    lowest, highest = np.mean([r[0] for r in rates]), np.mean([r[-1] for r in rates])
    print(f"\n30-day churn: lowest satisfaction quintile {lowest:.3f}, highest {highest:.3f}")
    assert lowest > 2 * highest


def test_handoffs_and_long_waits_lower_satisfaction(world):
    tables, truth = world
    last_week = truth["weekly"]["week"].max()
    window = pl.lit(last_week - timedelta(days=30)).cast(UTC_US)
    tickets = tables["tickets"].filter(pl.col("opened_at") >= window)
    long_wait = pl.col("wait_seconds") > pl.col("wait_seconds").quantile(0.9).over("channel")
    per_customer = tickets.group_by("customer_id").agg(rough=((pl.col("handoffs") >= 2) | long_wait).any())
    change = (
        truth["weekly"].filter(pl.col("week") == last_week)
        .join(truth["churn"].select("customer_id", "baseline_satisfaction"), on="customer_id")
        .join(per_customer, on="customer_id")
        .with_columns(below_baseline=pl.col("baseline_satisfaction") - pl.col("satisfaction"))
        .group_by("rough")
        .agg(pl.col("below_baseline").mean(), pl.len())
    )
    rough = change.filter(pl.col("rough"))["below_baseline"].item()
    smooth = change.filter(~pl.col("rough"))["below_baseline"].item()
    print(f"\nsatisfaction below baseline after rough tickets {rough:.3f}, after smooth ones {smooth:.3f}")
    assert rough > smooth + 0.1


def test_channel_hopping_rises_as_satisfaction_falls(world):
    tables, truth = world
    last_week = truth["weekly"]["week"].max()
    window = pl.lit(last_week - timedelta(days=60)).cast(UTC_US)
    channels = tables["events"].filter(pl.col("ts") >= window).group_by("customer_id").agg(
        channels=pl.col("channel").n_unique(), events=pl.len()
    )
    joined = channels.filter(pl.col("events") >= 10).join(truth["weekly"].filter(pl.col("week") == last_week), on="customer_id")
    low = joined.filter(pl.col("satisfaction") < pl.col("satisfaction").quantile(0.2))["channels"].mean()
    high = joined.filter(pl.col("satisfaction") > pl.col("satisfaction").quantile(0.8))["channels"].mean()
    assert low > high


def test_churned_customers_stop_generating_events(world):
    tables, truth = world
    never_back = truth["churn"].filter(pl.col("churned_at").is_not_null() & ~pl.col("won_back"))
    late_events = tables["events"].join(never_back.select("customer_id", "churned_at"), on="customer_id").filter(
        pl.col("ts") >= pl.col("churned_at")
    )
    assert never_back.height > 100 and late_events.height == 0


def test_many_churners_never_answered_a_survey(world):
    tables, truth = world
    share = churners_never_answered(tables["surveys"], truth["churn"])
    print(f"\nshare of churners who never answered a survey before churning: {share:.2f}")
    assert share >= 0.4


def test_ground_truth_weekly_is_consistent(world):
    _, truth = world
    weekly = truth["weekly"]
    assert weekly.select(pl.col("customer_id"), pl.col("week")).is_unique().all()
    assert (weekly["dissatisfied"] == (weekly["would_score"] <= 6)).all()
    assert (weekly["churn_hazard"].is_null() == ~weekly["active"]).all()
    assert weekly["week"].min() == DEFAULT_START and weekly["week"].max() < TODAY
    first = weekly.filter(pl.col("week") == DEFAULT_START)
    assert first["silent"].all()  # no answers exist before the history starts


def test_oracle_auc_is_realistic(world):
    _, truth = world
    weeks = sorted(truth["weekly"]["week"].unique())
    dates = [weeks[i] for i in (12, 24, 36, 47)]
    aucs = [oracle_auc(truth["weekly"], truth["churn_events"], d) for d in dates]
    print("\noracle 30-day churn AUC of the true hazard:", dict(zip([d.isoformat() for d in dates], np.round(aucs, 3))))
    assert 0.72 <= np.mean(aucs) <= 0.92


@pytest.mark.parametrize(
    "score, label, expected",
    [
        ([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1], 1.0),
        ([0.4, 0.3, 0.2, 0.1], [0, 0, 1, 1], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),
        ([0.1, 0.3, 0.2, 0.4], [0, 0, 1, 1], 0.75),
    ],
)
def test_roc_auc_truth_table(score, label, expected):
    assert roc_auc(np.array(score), np.array(label)) == pytest.approx(expected)


def test_roc_auc_without_both_classes_is_nan():
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_start_date_moves_the_whole_world(tmp_path):
    start = date(2024, 3, 1)
    summary = write_world(tmp_path, customers=300, days=40, seed=3, start=start)
    assert summary.today == date(2024, 4, 10)
    events = pl.read_parquet(summary.paths["events"])
    assert events["ts"].dt.date().min() == start and events["ts"].dt.date().max() == date(2024, 4, 9)
