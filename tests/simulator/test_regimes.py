"""The purchases regime and the harshness knobs (thin surveys, tolerance, last straw, outages).

A purchases world (2,500 customers x 540 days, a few seconds) is written twice per module; the
harsh subscription world is a smaller one, in memory.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from features.contract import TABLES
from flows.cli import app
from simulator import DEFAULT_START, simulate_world, write_world
from simulator.dynamics import _Simulation
from simulator.frames import MemorySink
from simulator.harshness import decay_friction, felt_shock, last_straw_log_hazard
from simulator.purchases import PurchasesSimulation
from simulator.writer import expected_tables
from simulator.world import HarshnessParams, WorldParams, regime_params

CUSTOMERS, DAYS, SEED = 2_500, 540, 21
UTC_US = pl.Datetime("us", "UTC")
PURCHASE_TABLES = ("customers", "events", "tickets", "orders", "billing", "surveys")


def _ts(day: date) -> pl.Expr:
    return pl.lit(day).cast(UTC_US)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("purchases")
    return {name: write_world(root / name, customers=CUSTOMERS, days=DAYS, seed=SEED, regime="purchases") for name in ("a", "again")}


@pytest.fixture(scope="module")
def shop(written):
    out = written["a"].out_dir
    tables = {name: pl.read_parquet(out / f"{name}.parquet") for name in PURCHASE_TABLES}
    truth = {path.stem: pl.read_parquet(path) for path in (out / "ground_truth").glob("*.parquet")}
    return tables, truth


@pytest.fixture(scope="module")
def harsh_subscription():
    return simulate_world(2_000, 300, 5, params=WorldParams(harshness=HarshnessParams(response_rate=None)))


# ---------------------------------------------------------------- purchases: files and contract


def test_purchases_world_says_its_regime_and_has_no_subscriptions(written):
    out = written["a"].out_dir
    manifest = json.loads((out / "simulation.json").read_text())
    assert manifest["regime"] == "purchases" and manifest["params"]["regime"] == "purchases"
    assert "subscriptions" not in manifest["tables"] and "subscriptions" not in manifest["row_counts"]
    assert not (out / "subscriptions.parquet").exists()
    assert {"plan", "monthly_value"}.isdisjoint(pl.read_parquet_schema(out / "customers.parquet"))


def test_subscription_world_still_writes_subscriptions(tmp_path):
    summary = write_world(tmp_path, customers=200, days=40, seed=1)
    assert json.loads(summary.manifest.read_text())["regime"] == "subscription"
    assert summary.row_counts["subscriptions"] > 0 and (tmp_path / "subscriptions.parquet").exists()


def test_same_seed_gives_byte_identical_purchase_tables(written):
    for name, path in written["a"].paths.items():
        again = written["again"].paths[name]
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(again.read_bytes()).digest(), name


def test_in_memory_purchases_world_is_the_written_one(shop):
    tables, truth = shop
    memory = simulate_world(CUSTOMERS, DAYS, SEED, regime="purchases")
    assert set(memory.tables) == set(PURCHASE_TABLES)
    for name in PURCHASE_TABLES:
        assert_frame_equal(memory.tables[name], tables[name])
    assert_frame_equal(memory.truth["churn_events"], truth["churn_events"])


def test_another_seed_gives_another_shop(shop):
    other = simulate_world(300, 60, SEED + 1, regime="purchases")
    assert not other.tables["events"].equals(simulate_world(300, 60, SEED, regime="purchases").tables["events"])


@pytest.mark.parametrize("name", PURCHASE_TABLES)
def test_purchase_tables_meet_the_input_contract(shop, name):
    frame = shop[0][name]
    for column in TABLES[name].columns:
        if column.name in frame.columns:
            assert frame.schema[column.name] == column.dtype, f"{name}.{column.name}"
    for column in TABLES[name].required_columns:
        assert frame[column.name].null_count() == 0, f"{name}.{column.name} has nulls"
    assert frame.height > 0


@pytest.mark.parametrize(
    "regime, response_rate, params, message",
    [
        ("retail", None, None, "unknown regime 'retail'"),
        ("purchases", 0.0, None, "between 0 and 1"),
        ("purchases", 1.5, None, "between 0 and 1"),
        ("purchases", None, WorldParams(), "params.regime='subscription'"),
        ("subscription", 0.05, WorldParams(), "with params, set params.harshness.response_rate"),
    ],
)
def test_bad_regime_arguments_are_refused(tmp_path, regime, response_rate, params, message):
    with pytest.raises(ValueError, match=message):
        write_world(tmp_path, customers=100, days=30, regime=regime, response_rate=response_rate, params=params)


# ---------------------------------------------------------------- purchases: mechanisms


def test_events_are_purchases_and_browsing_and_each_purchase_is_an_order(shop):
    tables, _ = shop
    events = tables["events"]
    assert set(events["event_type"].unique()) == {"purchase", "session", "page_view"}
    purchases = events.filter(pl.col("event_type") == "purchase").select("customer_id", ts="ts", amount="value")
    orders = tables["orders"].select("customer_id", ts="ordered_at", amount="amount")
    assert_frame_equal(purchases.sort("customer_id", "ts"), orders.sort("customer_id", "ts"))
    assert tables["billing"].filter(pl.col("kind").is_in(["price_increase"])).height == 0  # no contract, no price list to raise


def test_every_customer_signs_up_with_a_first_purchase(shop):
    tables, _ = shop
    first = tables["events"].filter(pl.col("event_type") == "purchase").group_by("customer_id").agg(first=pl.col("ts").min())
    joined = tables["customers"].join(first, on="customer_id", how="left")
    assert joined["first"].null_count() == 0
    assert (joined["first"] == joined["signup_at"]).all()
    assert joined["signup_at"].min() >= pl.Series([DEFAULT_START]).cast(UTC_US)[0]  # the whole history is written


def test_dropout_is_final_and_leaves_no_trace(shop):
    tables, truth = shop
    dropped = truth["churn"].filter(pl.col("churned_at").is_not_null())
    assert dropped.height > 300
    assert (dropped["churn_count"] == 1).all() and not dropped["won_back"].any()
    for name, column in (("events", "ts"), ("orders", "ordered_at"), ("tickets", "opened_at")):
        after = tables[name].join(dropped.select("customer_id", "churned_at"), on="customer_id").filter(pl.col(column) >= pl.col("churned_at"))
        assert after.height == 0, name
    assert truth["churn"].filter(pl.col("churned_at").is_null())["active_at_today"].all()


def _overdue_and_fate(tables, truth, as_of: date, horizon_days: int = 90) -> pl.DataFrame:
    """Repeat buyers with a purchase in the year before as_of: recency / own mean gap, and gone by as_of + horizon."""
    days = pl.col("ts").dt.date()
    rfm = (
        tables["events"].filter((pl.col("event_type") == "purchase") & (pl.col("ts") < _ts(as_of)))
        .group_by("customer_id")
        .agg(first=days.min(), last=days.max(), purchase_days=days.n_unique())
        .filter((pl.col("purchase_days") >= 2) & (pl.col("last") >= as_of - timedelta(days=365)))
        .with_columns(gap=(pl.col("last") - pl.col("first")).dt.total_days() / (pl.col("purchase_days") - 1))
        .with_columns(overdue=(pl.lit(as_of) - pl.col("last")).dt.total_days() / pl.col("gap"))
    )
    gone = truth["churn"].select("customer_id", gone=pl.col("churned_at").fill_null(_ts(date(9999, 1, 1))) < _ts(as_of + timedelta(days=horizon_days)))
    return rfm.join(gone, on="customer_id")


def test_customers_overdue_on_their_own_rhythm_drop_out_more(shop):
    tables, truth = shop
    frame = _overdue_and_fate(tables, truth, DEFAULT_START + timedelta(days=360))
    on_rhythm = frame.filter(pl.col("overdue") <= 1.0)["gone"].mean()
    overdue = frame.filter(pl.col("overdue") >= 3.0)["gone"].mean()
    print(f"\ngone within 90 days: on rhythm {on_rhythm:.3f}, 3x overdue {overdue:.3f} (of {frame.height} repeat buyers)")
    assert overdue > 2 * on_rhythm


def test_unhappy_customers_drop_out_sooner(shop):
    _, truth = shop
    as_of = DEFAULT_START + timedelta(days=364)
    alive = truth["weekly"].filter((pl.col("week") == as_of) & pl.col("active"))
    fate = alive.join(truth["churn"].select("customer_id", "churned_at"), on="customer_id").with_columns(
        gone=pl.col("churned_at").is_not_null() & (pl.col("churned_at") < _ts(as_of + timedelta(days=90))),
        quintile=(pl.col("satisfaction").rank("ordinal") * 5 / (pl.len() + 1)).floor(),
    )
    rates = fate.group_by("quintile").agg(pl.col("gone").mean()).sort("quintile")["gone"].to_list()
    print("\n90-day dropout by satisfaction quintile:", np.round(rates, 3))
    assert rates[0] > 2 * rates[-1]


def test_gone_customers_still_invited_but_answer_less(shop):
    tables, truth = shop
    invited = tables["surveys"].join(truth["churn"].select("customer_id", "churned_at"), on="customer_id").with_columns(
        gone=pl.col("churned_at").is_not_null() & (pl.col("sent_at") > pl.col("churned_at")),
        answered=pl.col("responded_at").is_not_null(),
    )
    rates = dict(invited.group_by("gone").agg(pl.col("answered").mean()).iter_rows())
    assert invited["gone"].sum() > 100  # the shop cannot tell who has left
    assert rates[True] < 0.7 * rates[False]


def test_purchases_world_defaults_to_thin_surveys(shop):
    rate = shop[0]["surveys"]["responded_at"].is_not_null().mean()
    assert 0.07 <= rate <= 0.13  # HarshnessParams().response_rate = 0.10


# ---------------------------------------------------------------- harshness knobs


@pytest.mark.parametrize("regime", ["subscription", "purchases"])
def test_response_rate_knob_sets_the_share_answered(regime):
    thin = simulate_world(1_500, 240, 4, regime=regime, response_rate=0.05).tables["surveys"]
    thick = simulate_world(1_500, 240, 4, regime=regime, response_rate=0.30).tables["surveys"]
    thin_rate, thick_rate = (s["responded_at"].is_not_null().mean() for s in (thin, thick))
    print(f"\n{regime}: 5% knob -> {thin_rate:.3f} of {thin.height}; 30% knob -> {thick_rate:.3f}")
    assert 0.035 <= thin_rate <= 0.065
    assert 0.24 <= thick_rate <= 0.36


def test_harshness_off_is_the_subscription_default():
    assert WorldParams().harshness == HarshnessParams.off()
    assert regime_params("purchases").harshness == HarshnessParams()


def test_subscription_world_is_unchanged_by_the_new_knobs():
    """A fingerprint of the default world measured before the regimes and knobs existed: if this fails, the
    demo's world changed (bump SIMULATOR_VERSION, and say so)."""
    world = simulate_world(300, 60, 1)
    assert {name: frame.height for name, frame in world.tables.items()} == {
        "customers": 300, "events": 5408, "subscriptions": 306, "tickets": 184, "orders": 361, "billing": 235, "surveys": 252
    }
    assert world.tables["events"]["value"].sum() == pytest.approx(833361.27, abs=0.01)
    assert world.tables["tickets"]["wait_seconds"].sum() == pytest.approx(1173235.6, abs=0.1)
    assert world.truth["weekly"]["satisfaction"].sum() == pytest.approx(-84.448, abs=0.01)
    assert world.truth["outages"].height == 0 and (world.truth["traits"]["friction_sensitivity"] == 1.0).all()


def test_sensitive_customers_lose_more_satisfaction(harsh_subscription):
    truth = harsh_subscription.truth
    shortfall = (
        truth["weekly"].join(truth["churn"].select("customer_id", "baseline_satisfaction"), on="customer_id")
        .group_by("customer_id")
        .agg(shortfall=(pl.col("baseline_satisfaction") - pl.col("satisfaction")).mean())
        .join(truth["traits"], on="customer_id")
        .with_columns(quintile=(pl.col("friction_sensitivity").rank("ordinal") * 5 / (pl.len() + 1)).floor())
    )
    by_quintile = shortfall.group_by("quintile").agg(pl.col("shortfall").mean()).sort("quintile")["shortfall"].to_list()
    print("\nsatisfaction below baseline by sensitivity quintile:", np.round(by_quintile, 3))
    assert by_quintile[-1] > by_quintile[0] + 0.1


@pytest.mark.parametrize(
    "shock, sensitivity, expected",
    [
        ([-0.2, 0.1, 0.0], [2.0, 2.0, 2.0], [-0.4, 0.1, 0.0]),  # incidents scaled, good news not
        ([-0.2, -0.2], [0.5, 1.5], [-0.1, -0.3]),
        ([-0.2, 0.3], None, [-0.2, 0.3]),  # knob off
    ],
)
def test_felt_shock_truth_table(shock, sensitivity, expected):
    felt = felt_shock(np.array(shock), None if sensitivity is None else np.array(sensitivity))
    assert felt == pytest.approx(expected)


def test_friction_fades_by_its_half_life_and_adds_incidents_only():
    friction = np.array([1.0, 1.0, 0.0])
    decay_friction(friction, np.array([0.0, -0.3, 0.5]), half_life_days=1.0)
    assert friction == pytest.approx([0.5, 0.8, 0.0])


@pytest.mark.parametrize(
    "friction, threshold, expected", [(0.5, 0.6, 0.0), (0.6, 0.6, 0.0), (0.61, 0.6, 1.6), (5.0, np.inf, 0.0), (5.0, 0.6, 1.6)]
)
def test_last_straw_truth_table(friction, threshold, expected):
    assert last_straw_log_hazard(np.array([friction]), np.array([threshold]), 1.6)[0] == pytest.approx(expected)


@pytest.mark.parametrize("cls, regime", [(_Simulation, "subscription"), (PurchasesSimulation, "purchases")])
def test_hazard_jumps_past_the_last_straw_only_for_those_who_have_one(cls, regime):
    params = WorldParams(harshness=HarshnessParams()) if regime == "subscription" else regime_params("purchases")
    sim = cls(params, 400, 30, 3, DEFAULT_START, MemorySink(expected_tables(regime)))
    everyone = np.arange(400)
    sim.state.active[:] = True
    calm = sim._hazard(everyone, 10)
    sim.state.friction[:] = 0.9 * params.harshness.last_straw_threshold * np.exp(-1.0)  # below every threshold drawn
    assert sim._hazard(everyone, 10) == pytest.approx(calm)
    sim.state.friction[:] = 100.0
    ratio = sim._hazard(everyone, 10) / calm
    has_straw = np.isfinite(sim.harsh.straw_threshold)
    uncapped = calm * np.exp(params.harshness.last_straw_log_hazard) < params.churn.max_daily_hazard
    assert 0.2 < has_straw.mean() < 0.4
    assert ratio[has_straw & uncapped] == pytest.approx(np.exp(params.harshness.last_straw_log_hazard))
    assert ratio[~has_straw] == pytest.approx(1.0)


def _tickets_per_customer_day(tickets: pl.DataFrame, customers: pl.DataFrame, outages: pl.DataFrame) -> pl.DataFrame:
    """Ticket rate per customer-day of each outage's group and of everyone else, during the outage and outside any."""
    days = (tickets["opened_at"].dt.date().max() - DEFAULT_START).days + 1
    rows = []
    for outage in outages.iter_rows(named=True):  # over a handful of outages
        group = pl.col("region") == outage["region"] if outage["region"] else pl.col("plan") == outage["plan"]
        members = customers.filter(group)["customer_id"]
        length = (outage["ended_at"] - outage["started_at"]).days
        during = pl.col("opened_at").is_between(outage["started_at"], outage["ended_at"], closed="left")
        any_outage = pl.any_horizontal(
            [pl.col("opened_at").is_between(o["started_at"], o["ended_at"], closed="left") for o in outages.iter_rows(named=True)]
        )
        for hit, ids in ((True, members), (False, customers.filter(~group)["customer_id"])):
            mine = tickets.filter(pl.col("customer_id").is_in(ids.implode()))
            rows.append(
                {
                    "outage": outage["started_at"],
                    "hit": hit,
                    "during": mine.filter(during).height / (len(ids) * length),
                    "outside": mine.filter(~any_outage).height / (len(ids) * (days - outages.height * length)),
                }
            )
    return pl.DataFrame(rows)


def test_an_outage_raises_tickets_in_its_group_only_while_it_lasts(harsh_subscription):
    tables, truth = harsh_subscription.tables, harsh_subscription.truth
    assert truth["outages"].height >= 1
    rates = _tickets_per_customer_day(tables["tickets"], tables["customers"], truth["outages"])
    print("\nticket rate per customer-day:\n", rates)
    hit, spared = rates.filter(pl.col("hit")), rates.filter(~pl.col("hit"))
    assert (hit["during"] > 3 * hit["outside"]).all()
    assert (spared["during"] < 1.8 * spared["outside"]).all()


def test_no_outage_no_surge(harsh_subscription):
    """The same measure on the world without outages: nothing stands out on the same days."""
    calm = simulate_world(2_000, 300, 5, params=WorldParams(harshness=HarshnessParams(response_rate=None, outages_per_year=0.0)))
    assert calm.truth["outages"].height == 0
    rates = _tickets_per_customer_day(calm.tables["tickets"], calm.tables["customers"], harsh_subscription.truth["outages"])
    assert (rates["during"] < 1.8 * rates["outside"]).all()


# ---------------------------------------------------------------- the command line


def test_cli_simulates_the_purchases_regime_with_thin_surveys(tmp_path):
    result = CliRunner().invoke(
        app, ["simulate", "--customers", "200", "--days", "60", "--regime", "purchases", "--response-rate", "0.05", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "simulation.json").read_text())
    assert manifest["regime"] == "purchases" and manifest["params"]["harshness"]["response_rate"] == 0.05
    assert not (tmp_path / "subscriptions.parquet").exists()


def test_cli_refuses_an_unknown_regime(tmp_path):
    result = CliRunner().invoke(app, ["simulate", "--customers", "200", "--days", "60", "--regime", "retail", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "--regime must be one of subscription, purchases, got 'retail'" in result.output
    assert not (tmp_path / "simulation.json").exists()
