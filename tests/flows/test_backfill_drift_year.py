"""A year of weekly backfills on a small two-year world whose support got worse for two months
(ground_truth/support_periods): the support features' drift fires during that period (allowing the
lag of the feature windows) and at most once a month outside it.

The champion is trained at the end of the first year, so its drift reference (the out-of-time test
snapshot) is calm, then the second year is backfilled weekly. The figures are printed (`-s`): the
monitor's overall verdict is printed too but not asserted, because it is also moved by features that
age with a reference a year old (tenure, whole-history totals; docs/monitoring.md#backfill).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

import polars as pl
import pytest
import yaml

from configs import DEMO_CONFIG, load_config

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_api")]

CUSTOMERS, DAYS, SEED = 2_000, 730, 5
BAD_PERIOD = (0.62, 0.70)  # of 730 days: ~8.5 weeks in the second year
SUPPORT_FEATURES = r"^ticket_(wait_minutes|resolve_hours)_"  # the windows of what the period multiplies: waits, resolution times


@pytest.fixture(scope="module")
def year_of_backfills(tmp_path_factory):
    from flows import pipeline
    from models.registry import client_for, promote
    from simulator import write_world
    from simulator.world import SupportParams, WorldParams

    root = tmp_path_factory.mktemp("drift-year")
    start = date.today() - timedelta(days=DAYS + 30)  # the world ends before today: ingest refuses rows from the future
    params = WorldParams(support=replace(SupportParams(), bad_period=BAD_PERIOD))
    summary = write_world(root / "data", customers=CUSTOMERS, days=DAYS, seed=SEED, start=start, params=params)
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw.update(workspace=str(root / "workspace"), mlflow={"tracking_uri": f"sqlite:///{root / 'mlflow.db'}"})
    raw["source"]["path"], raw["sink"]["path"], raw["scoring"]["capacity"] = str(root / "data"), str(root / "scores.duckdb"), 50
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(path)
    trained_at = summary.today - timedelta(days=365)
    trained = pipeline.train(str(path), trained_at)
    if not trained.promoted:
        promote(client_for(config), config.registered_model_name, trained.version)
    result = pipeline.backfill(str(path), trained_at + timedelta(days=7), summary.today - timedelta(days=1), 7)
    period = pl.read_parquet(root / "data" / "ground_truth" / "support_periods.parquet").row(0, named=True)
    return config, result, period


def test_support_drift_fires_during_the_bad_period_and_rarely_outside(year_of_backfills):
    from sinks import open_sink

    config, result, period = year_of_backfills
    start, end = period["started_at"].date(), period["ended_at"].date()
    lag = timedelta(days=max(config.features.windows_days))  # a window keeps the period in view this long after it ends
    sink = open_sink(config.sink)
    drift = sink.read_feature_drift().filter(pl.col("feature").str.contains(SUPPORT_FEATURES))
    warned = sorted(set(drift.filter(pl.col("status").is_in(["warn", "fail"]))["as_of"]))
    dates = [d.as_of for d in result.dates]
    during = [d for d in warned if start <= d < end]
    false_alarms = [d for d in warned if not start <= d < end + lag]
    calm = drift.filter(~pl.col("as_of").is_between(start, end + lag, closed="left"))["value"].max()
    months = (dates[-1] - dates[0]).days / 30.4
    verdicts = {r["as_of"]: json.loads(r["drift_summary"])["status"] for r in sink.read_score_runs().iter_rows(named=True)}
    overall = [d for d in dates if verdicts[d] in ("warn", "fail")]
    print(
        f"\nperiod {start} .. {end} (+{lag.days} d window lag); {len(dates)} weekly dates {dates[0]} .. {dates[-1]}"
        f"\nsupport-feature warns: {len(warned)} ({warned[0] if warned else None} .. {warned[-1] if warned else None}), "
        f"{len(during)} inside the period, {len(false_alarms)} outside it and its lag ({months:.1f} months); largest PSI outside {calm:.3f}"
        f"\noverall verdict warn/fail on {len(overall)} dates, {sum(start <= d < end + lag for d in overall)} of them inside"
    )
    assert len(during) >= 3, f"support drift did not fire during {start} .. {end}: warned {warned}"
    assert len(false_alarms) <= months, f"{len(false_alarms)} false alarms in {months:.1f} months: {false_alarms}"
    assert warned[0] >= start  # nothing warned before the period began
