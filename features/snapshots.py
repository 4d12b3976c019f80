"""Public entry points: the feature frames that training and scoring read.

``build_training_frame`` builds every snapshot date in one call: each family runs ONE query over
the in-memory (or scanned) tables for all dates at once — rows are paired with the dates they
precede — so no source is read again per date. ``build_scoring_frame`` is the same code for one
date. Both return ``as_of``, ``customer_id`` and the features in :class:`FeatureSchema` order
(training adds ``churned``). Vocabularies (event types, channels, billing kinds, categories) are
learned from rows before the (last) as-of date only, so nothing after T shapes the columns, and a
stored schema makes scoring build exactly the training columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

import polars as pl

from configs import Config
from features import behavioral, labels, operational, population, relationship, survey
from features.catalog import Feature, FeatureSchema, FeatureSpec, Vocabulary, usual_name
from features.population import Tables, lazy
from features.sufficiency import CannotTrain
from features.timeline import EPOCH, as_of_instant, dates_frame, latest_snapshot, local_day, snapshot_dates

__all__ = [
    "FeatureSchema",
    "build_features",
    "build_scoring_frame",
    "build_training_frame",
    "feature_schema",
    "snapshot_dates",
    "training_schema",
]

KEYS = ["as_of", "customer_id"]
# rows per streaming pass of the behavioral query: bounds its memory on large event logs
ROWS_PER_PARTITION = 25_000_000
ROWS_PER_QUERY = 2_000_000  # eligible customer-dates per feature query (build_features groups dates by it)


def _columns(tables: Tables, name: str) -> set[str]:
    return set(lazy(tables, name).collect_schema().names())


def learn_vocabulary(tables: Tables, config: Config, as_of: date) -> Vocabulary:
    """The data-dependent column sets, from rows before ``as_of`` only."""
    until = as_of_instant(as_of, config.schedule.timezone)
    event_types, channels = behavioral.learn_vocabulary(lazy(tables, "events"), until)
    numeric, categories, skipped = relationship.learn_attributes(lazy(tables, "customers"), config, until)
    return Vocabulary(
        event_types=event_types,
        channels=channels,
        billing_kinds=operational.learn_billing_kinds(lazy(tables, "billing"), until) if "billing" in tables else (),
        numeric_attributes=numeric,
        categories=categories,
        skipped=skipped,
    )


@dataclass(frozen=True)
class _Family:
    """One family: its table, its features (the catalog entries) and the builder of its frame
    for a dates frame. The one list of families feeds both the catalog and the build."""

    table: str
    features: list[Feature]
    build: Callable[[pl.DataFrame], pl.LazyFrame]


def _families(tables: Tables, config: Config, vocabulary: Vocabulary, with_usual: bool = False) -> list[_Family]:
    tz, windows = config.schedule.timezone, config.features.windows_days
    timing = {"tz": tz, "windows": windows, "with_usual": with_usual}

    def columns(name: str) -> set[str]:
        return set(lazy(tables, name).collect_schema().names())

    def behavior(dates: pl.DataFrame) -> pl.LazyFrame:
        events = lazy(tables, "events")
        partitions = -(-_rows(events) // ROWS_PER_PARTITION)
        return behavioral.build_behavioral(events, dates, **timing, event_types=vocabulary.event_types, channels=vocabulary.channels, partitions=partitions, signups=lazy(tables, "customers")).lazy()

    # each builder is called only when its table is present
    families = [
        ("events", lambda: behavioral.behavioral_features(windows, vocabulary.event_types, columns("events"), with_usual)[1], behavior),
        ("tickets", lambda: operational.ticket_features(windows, columns("tickets"), with_usual)[1], lambda d: operational.build_tickets(lazy(tables, "tickets"), d, **timing)),
        ("orders", lambda: operational.order_features(windows, columns("orders"), with_usual)[1], lambda d: operational.build_orders(lazy(tables, "orders"), d, **timing)),
        (
            "billing",
            lambda: operational.billing_features(windows, vocabulary.billing_kinds, with_usual)[1],
            lambda d: operational.build_billing(lazy(tables, "billing"), d, **timing, kinds=vocabulary.billing_kinds),
        ),
        ("surveys", lambda: survey.survey_features(windows, config.survey, with_usual)[1], lambda d: survey.build_survey(lazy(tables, "surveys"), d, **timing, survey=config.survey)),
        (
            "customers",
            lambda: relationship.customer_features(*_attributes(columns("customers"), vocabulary)),
            lambda d: relationship.build_customers(lazy(tables, "customers"), d, tz=tz, numeric=vocabulary.numeric_attributes, categories=vocabulary.categories),
        ),
        ("subscriptions", lambda: relationship.subscription_features(columns("subscriptions"))[1], lambda d: relationship.build_subscriptions(lazy(tables, "subscriptions"), d, tz=tz)),
    ]
    return [_Family(table, features(), build) for table, features, build in families if table in tables]


def _attributes(present: set[str], vocabulary: Vocabulary) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The schema's customer attributes that the customers table still has."""
    numeric = [c for c in vocabulary.numeric_attributes if c in present]
    return numeric, {c: labels for c, labels in vocabulary.categories.items() if c in present}


def feature_schema(tables: Tables, config: Config, as_of: date) -> FeatureSchema:
    """The schema (feature names, dtypes, vocabularies, catalog) of features built as of ``as_of``."""
    vocabulary = learn_vocabulary(tables, config, as_of)
    specs = tuple(f.spec for family in _families(tables, config, vocabulary) for f in family.features)
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"feature names collide: {duplicated} (a customers attribute named like a built feature? list it in source.exclude)")
    if "surveys" in tables:  # survey_status is coded too: its labels travel with the attributes'
        vocabulary = replace(vocabulary, categories={**vocabulary.categories, "survey_status": survey.STATUSES})
    return FeatureSchema(specs, vocabulary, tuple(sorted(tables)))


def training_schema(tables: Tables, config: Config, observed_until: date) -> FeatureSchema:
    """The schema of a training run: vocabularies from the rows before its latest snapshot."""
    return feature_schema(tables, config, latest_snapshot(observed_until, config))


def _rows(frame: pl.DataFrame | pl.LazyFrame) -> int:
    return frame.height if isinstance(frame, pl.DataFrame) else frame.select(pl.len()).collect().item()


def build_features(
    tables: Tables,
    config: Config,
    dates: Sequence[date],
    schema: FeatureSchema,
    *,
    with_usual: bool = False,
    only: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Features of every customer eligible at each date, sorted by (as_of, customer_id).

    Columns follow ``schema``: a feature whose table or column is missing now is null. A customer
    without rows in a family's table gets each feature's ``absent`` value (0 for counts; null where
    nothing is known). ``with_usual`` adds ``<feature>__usual`` for windowed counts (for reasons).
    ``only`` (as_of, customer_id) keeps just those rows of the eligible ones.

    Dates are built in groups of at most ROWS_PER_QUERY eligible customer-dates (at least one
    date each), and within a group the families one after another, each reduced at once to the
    rows kept: side by side, their working memory would add up (3 GB instead of 1.3 GB at the
    peak for a million customers at one date; 11 dates at once did not fit in 24 GB).
    """
    frame = dates_frame(sorted(dates), config.schedule.timezone)
    eligible = population.eligible(tables, config, frame).collect().sort(KEYS)
    families = _families(tables, config, schema.vocabulary, with_usual)
    per_date = eligible.group_by("as_of", maintain_order=True).len()
    group = (per_date["len"].cum_sum() // ROWS_PER_QUERY).rle_id()  # dates in order, ~ROWS_PER_QUERY rows per group
    built = []
    for (_,), dates_of_group in per_date.with_columns(group=group).group_by("group", maintain_order=True):
        in_group = frame.join(dates_of_group.select("as_of"), on="as_of", how="semi")
        keys = eligible.join(dates_of_group.select("as_of"), on="as_of", how="semi", maintain_order="left")
        if only is not None:
            keys = keys.join(only.select(KEYS), on=KEYS, how="semi", maintain_order="left")
        built.append(_build_group(families, in_group, keys, schema, with_usual))
    if not built:  # no one eligible
        built.append(_build_group(families, frame, eligible, schema, with_usual))
    return pl.concat(built, how="vertical")


def _build_group(families: list[_Family], frame: pl.DataFrame, keys: pl.DataFrame, schema: FeatureSchema, with_usual: bool) -> pl.DataFrame:
    parts, built_columns = [keys], set()
    for family in families:
        built = family.build(frame)
        expected = [f.spec.name for f in family.features] + [usual_name(f.spec.name) for f in family.features if with_usual and f.spec.usual]
        if built.collect_schema().names()[2:] != expected:  # a builder out of step with its catalog entries is a bug
            raise RuntimeError(f"{family.table} features built {built.collect_schema().names()[2:]} but the catalog lists {expected}")
        present = set(expected)
        columns = [_conformed(spec, present) for spec in schema.features if spec.name in present]
        if with_usual:
            columns += [pl.col(usual_name(s.name)) for s in schema.features if s.usual and usual_name(s.name) in present]
        part = keys.lazy().join(built, on=KEYS, how="left", maintain_order="left").select(columns).collect()
        parts.append(part)
        built_columns.update(part.columns)
    joined = pl.concat(parts, how="horizontal")
    columns = [pl.col(spec.name) if spec.name in built_columns else _conformed(spec, built_columns) for spec in schema.features]
    if with_usual:
        columns += [pl.col(usual_name(s.name)) for s in schema.features if s.usual and usual_name(s.name) in built_columns]
    return joined.select(*KEYS, *columns)


def _conformed(spec: FeatureSpec, present: set[str]) -> pl.Expr:
    """A schema column as built, with the absent-customer value filled in, or null if not built."""
    if spec.name not in present:
        return pl.lit(None, spec.polars_dtype).alias(spec.name)
    column = pl.col(spec.name)
    return (column if spec.absent is None else column.fill_null(spec.absent)).cast(spec.polars_dtype)


def data_starts(tables: Tables, config: Config) -> date:
    """The first local day of the events log (the behavioral history's start)."""
    first = lazy(tables, "events").select(local_day("ts", config.schedule.timezone).min()).collect(engine="streaming").item()
    if first is None:
        raise CannotTrain("cannot train: events holds no rows, so there is no behavior to learn from; load the events table")
    return EPOCH + timedelta(days=first)


def build_training_frame(
    tables: Tables, config: Config, observed_until: date, *, schema: FeatureSchema | None = None, starts: date | None = None
) -> pl.DataFrame:
    """as_of, customer_id, features…, churned for every training snapshot date
    (:func:`features.timeline.snapshot_dates`): one call, one query per family for all dates.
    ``starts``: the whole population's :func:`data_starts` when ``tables`` hold some customers only
    (a hash bucket), so that every bucket snapshots the same dates."""
    dates = snapshot_dates(observed_until, config, data_starts=starts or data_starts(tables, config))
    schema = schema or feature_schema(tables, config, dates[-1])
    frame = build_features(tables, config, dates, schema)
    outcome = labels.churn_labels(tables, config, dates, observed_until).collect()
    return frame.join(outcome, on=KEYS, how="inner", maintain_order="left")


def build_scoring_frame(tables: Tables, config: Config, as_of: date, *, schema: FeatureSchema | None = None, with_usual: bool = False) -> pl.DataFrame:
    """as_of, customer_id and the features of every customer eligible at ``as_of`` (no label)."""
    schema = schema or feature_schema(tables, config, as_of)
    return build_features(tables, config, [as_of], schema, with_usual=with_usual)
