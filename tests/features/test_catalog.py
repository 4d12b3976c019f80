"""The feature catalog: every built column has an entry, entries are usable, the schema round-trips."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from features.catalog import USUAL_SUFFIX, FeatureSchema, finite, reason_text, usual_name
from features.snapshots import build_scoring_frame, build_training_frame, feature_schema
from features.survey import STATUSES
from simulator import simulate_world

KEYS = {"as_of", "customer_id"}
FAMILIES = {"behavioral", "operational", "survey", "relationship"}


@pytest.fixture(scope="module")
def world():
    return simulate_world(customers=300, days=400, seed=7)


@pytest.fixture
def config(make_config):
    return make_config(source={"pii": {"customers": ["email", "name"]}})


def test_every_built_column_has_a_catalog_entry(world, config) -> None:
    schema = feature_schema(world.tables, config, world.today)
    scoring = build_scoring_frame(world.tables, config, world.today, schema=schema, with_usual=True)
    features = [c for c in scoring.columns if c not in KEYS and not c.endswith(USUAL_SUFFIX)]
    assert features == schema.names  # every feature has an entry, in schema order, and nothing else
    usual = {c for c in scoring.columns if c.endswith(USUAL_SUFFIX)}
    assert usual == {usual_name(s.name) for s in schema.features if s.usual}
    assert {s.family for s in schema.features} == FAMILIES
    training = build_training_frame(world.tables, config, world.today)
    assert training.columns == ["as_of", "customer_id", *schema.names, "churned"]


def test_entries_are_usable_in_reasons(world, config) -> None:
    schema = feature_schema(world.tables, config, world.today)
    for spec in schema.features:
        assert spec.description and spec.direction in (-1, 0, 1) and spec.family in FAMILIES, spec
        assert "{value" in spec.reason, spec
        assert reason_text(spec, 3.0)  # the template formats a value
    tickets = schema.spec("tickets_30d")
    assert tickets.direction == 1 and tickets.usual
    assert reason_text(tickets, 3.0, 0.0) == "3 support tickets in the last 30 days (usual: 0)"
    assert schema.spec("days_since_last_ticket").absent is None  # never had one: null, not 0
    assert schema.spec("tickets_30d").absent == 0  # no tickets: zero means zero


def test_no_pii_and_categorical_mappings_are_stored(world, config) -> None:
    schema = feature_schema(world.tables, config, world.today)
    assert not {"email", "name"} & set(schema.names)
    assert schema.categories["survey_status"] == STATUSES
    assert set(schema.categories) >= {"plan", "survey_status"}
    assert all(schema.dtypes[c] == pl.Int32 for c in schema.categories)
    frame = build_scoring_frame(world.tables, config, world.today, schema=schema)
    decoded = frame.select(schema.decode("survey_status"))["survey_status"]
    assert set(decoded.unique()) <= set(STATUSES) and decoded.null_count() == 0


def test_schema_round_trips_through_json(world, config) -> None:
    schema = feature_schema(world.tables, config, world.today)
    restored = FeatureSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert restored == schema
    assert schema.catalog_frame().columns[:4] == ["name", "family", "table", "description"]


def test_a_missing_optional_table_drops_its_family(world, config) -> None:
    tables = {k: v for k, v in world.tables.items() if k not in ("tickets", "surveys")}
    schema = feature_schema(tables, config, world.today)
    assert not [s.name for s in schema.features if s.table in ("tickets", "surveys")]
    assert "survey_status" not in schema.categories
    frame = build_scoring_frame(tables, config, world.today, schema=schema)
    assert frame.columns == ["as_of", "customer_id", *schema.names]


def test_event_types_come_from_the_data_before_as_of(world, config) -> None:
    schema = feature_schema(world.tables, config, world.today)
    types = schema.vocabulary.event_types
    assert types and list(types) == sorted(world.tables["events"]["event_type"].unique())
    assert {f"events_{t}_30d" for t in types} <= set(schema.names)
    early = feature_schema(world.tables, config, date(2000, 1, 1))
    assert early.vocabulary.event_types == ()


def test_undeclared_free_text_columns_reach_no_part_of_the_schema(world, make_config) -> None:
    """email and name are not declared PII here (the default declares them): they are still no features, and none of their
    values is stored in the schema a model carries."""
    schema = feature_schema(world.tables, make_config(source={"pii": {}}), world.today)
    assert not {"email", "name"} & set(schema.names)
    assert set(schema.vocabulary.skipped) == {"email", "name"}
    stored = json.dumps(schema.to_dict())
    assert "@example.com" not in stored and "Customer 1" not in stored
    assert FeatureSchema.from_dict(json.loads(stored)) == schema
    assert {"plan", "region", "acquisition_channel"} <= set(schema.categories)  # the real categories stay


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        (float("inf"), pl.Float64, 1.7976931348623157e308),
        (float("-inf"), pl.Float64, -1.7976931348623157e308),
        (float("nan"), pl.Float64, None),
        (1e308, pl.Float64, 1e308),
        (2.5, pl.Float64, 2.5),
        (None, pl.Float64, None),
        (2**40, pl.Int32, None),  # beyond Int32: null, not a failed cast
        (7, pl.Int32, 7),
    ],
)
def test_features_are_finite_whatever_the_input(value, dtype, expected) -> None:
    column = pl.DataFrame({"x": [value]}, schema={"x": pl.Int64 if isinstance(value, int) else pl.Float64})
    got = column.select(finite(pl.col("x"), dtype))
    assert got.columns == ["x"] and got.dtypes == [dtype]
    assert got["x"][0] == expected


def test_whole_history_and_friction_entries(world, config) -> None:
    """Sums since signup and decayed friction: no rows is 0; recency and cadence: no rows is unknown."""
    schema = feature_schema(world.tables, config, world.today)
    zero = ["events_total", "active_days_total", "active_days_per_30d", "tickets_friction_14d", "ticket_wait_hours_friction_45d", "order_late_days_friction_120d", "billing_price_increase_friction_45d"]
    unknown = ["days_since_last_event", "active_gap_days_mean", "overdue_ratio"]
    assert [schema.spec(n).absent for n in zero] == [0] * len(zero)
    assert [schema.spec(n).absent for n in unknown] == [None] * len(unknown)
    friction = [s for s in schema.features if "_friction_" in s.name]
    assert len(friction) == 8 * 3 and {(s.family, s.direction, s.dtype) for s in friction} == {("operational", 1, "Float64")}
    scoring = build_scoring_frame(world.tables, config, world.today, schema=schema)
    assert scoring["tickets_friction_120d"].null_count() == 0 and scoring["tickets_friction_120d"].max() > 0
    assert (scoring["tickets_friction_14d"] <= scoring["tickets_friction_120d"] + 1e-9).all()  # each weight is smaller at the shorter half-life
