"""Relationship features: tenure, the customer's own attributes, and their subscriptions.

Attributes are the extra columns of ``customers`` (plan, region, monthly value, ...), minus the
declared ``pii`` and ``exclude`` columns. Numbers stay numbers; text becomes a stable integer code
(sorted labels learned at training, stored in the schema; unseen or missing = null), because the
pandas ``category`` dtype breaks MLflow pyfunc. Attributes have no history in the contract: they
are taken as they are now.

Only declared PII is dropped, so a text column nobody declared (a note, an e-mail address) must
not become a category by default: a text attribute is a category only when it has at most
MAX_CATEGORIES labels and, beyond SMALL_VOCABULARY labels, when its labels repeat (at most
MAX_LABEL_SHARE of the customers with a value). Anything else is free text or an identifier,
skipped with the reason kept in the schema (and said by training and check-data:
:func:`skipped_notes`; docs/reasons-and-flags.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import polars as pl

from configs import Config
from features.catalog import Feature, FeatureSpec, select_exprs
from features.timeline import known_at, rows_before, with_later_facts
from features.wording import words

FAMILY = "relationship"
# A category a person can read in a reason and the booster can learn from: ~200 covers countries;
# more labels are identifiers or typed text. Up to SMALL_VOCABULARY labels (plan, region, channel)
# a column is a category even in a small company; beyond that a label must be shared by 20
# customers on average (MAX_LABEL_SHARE = 1/20): rarer labels are text typed per customer, and
# the booster could not learn them anyway (its leaves hold hundreds of customers).
MAX_CATEGORIES = 200
SMALL_VOCABULARY = 20
MAX_LABEL_SHARE = 0.05
_KEYS = ("customer_id", "signup_at")


def _spec(
    table: str, name: str, description: str, reason: str, direction: int, dtype: str = "Int32", absent: float | None = None, missing: str | None = None
) -> FeatureSpec:
    return FeatureSpec(name, FAMILY, table, description, reason, direction, dtype, absent, missing_reason=missing)


def free_text(labels: int, customers: int) -> str | None:
    """Why a text attribute with ``labels`` distinct values among ``customers`` with a value is no
    category, or None when it is one."""
    if labels > MAX_CATEGORIES:
        return f"{labels:,} distinct values (a category has at most {MAX_CATEGORIES})"
    if labels > SMALL_VOCABULARY and labels > MAX_LABEL_SHARE * customers:
        return f"{labels:,} distinct values among {customers:,} customers (beyond {SMALL_VOCABULARY} values, a category's values repeat: at most {MAX_LABEL_SHARE:.0%} of customers)"
    return None


def skipped_notes(skipped: Mapping[str, str]) -> list[str]:
    """What to tell the user about text attributes that are no features (training and check-data say it)."""
    return [
        f"customers.{column} is not a feature: {why}; list it in source.exclude, or in source.pii if it holds personal data "
        "(only declared PII is dropped; docs/reasons-and-flags.md)"
        for column, why in skipped.items()
    ]


def learn_attributes(customers: pl.LazyFrame, config: Config, until: datetime) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]], dict[str, str]]:
    """(numeric attribute columns, text attribute columns -> sorted labels, skipped text columns ->
    why) among customers signed up before ``until``."""
    schema = customers.collect_schema()
    barred = set(_KEYS) | set(config.source.pii.get("customers", [])) | set(config.source.exclude.get("customers", []))
    usable = [c for c in schema.names() if c not in barred]
    numeric = tuple(c for c in usable if schema[c].is_numeric() or schema[c] == pl.Boolean)
    text = [c for c in usable if schema[c] in (pl.String, pl.Categorical) or isinstance(schema[c], pl.Enum)]
    if not text:
        return numeric, {}, {}
    before = customers.filter(pl.col("signup_at") < until)
    # the labels are fetched only for columns that are categories: an e-mail column never leaves the query
    counted = before.select([pl.col(c).cast(pl.String).drop_nulls().n_unique().alias(c) for c in text] + [pl.col(text).count().name.suffix("__n")]).collect()
    skipped = {c: why for c in text if (why := free_text(counted[c].item(), counted[f"{c}__n"].item())) is not None}
    kept = [c for c in text if c not in skipped]
    if not kept:
        return numeric, {}, skipped
    seen = before.select([pl.col(c).cast(pl.String).drop_nulls().unique().sort().implode() for c in kept]).collect()
    return numeric, {c: tuple(seen[c][0]) for c in kept}, skipped


def customer_features(numeric: Sequence[str], categories: Mapping[str, Sequence[str]]) -> list[Feature]:
    features = [
        Feature(_spec("customers", "tenure_days", "days from signup to as_of (1 = signed up the day before)", "customer for {value:days}", -1), pl.col("_days_ago")),
    ]
    features += [
        Feature(_spec("customers", c, f"customer attribute '{c}' as recorded now", f"{words(c)}: {{value:amount}}", 0, "Float64"), pl.col(c))
        for c in numeric
    ]
    features += [
        Feature(
            _spec("customers", c, f"customer attribute '{c}' as an integer code (labels in the schema; null: missing or unseen)", f"{words(c)}: {{value:words}}", 0),
            pl.col(c).cast(pl.String).replace_strict(list(labels), list(range(len(labels))), default=None, return_dtype=pl.Int32),
        )
        for c, labels in categories.items()
    ]
    return features


def build_customers(customers: pl.LazyFrame, dates: pl.DataFrame, *, tz: str, numeric: Sequence[str], categories: Mapping[str, Sequence[str]]) -> pl.LazyFrame:
    """One row per customer signed up before as_of (no aggregation: customers is one row each)."""
    present = set(customers.collect_schema().names())
    features = customer_features([c for c in numeric if c in present], {c: v for c, v in categories.items() if c in present})
    return rows_before(customers, dates, "signup_at", tz).select("as_of", "customer_id", *select_exprs(features, with_usual=False))


def subscription_features(columns: set[str]) -> tuple[list[pl.Expr], list[Feature]]:
    t = "subscriptions"
    active = pl.col("_ended_at").is_null()
    aggs = [
        active.sum().alias("subscriptions_active"),
        (~active).sum().alias("subscriptions_ended"),
        pl.col("_days_ago").max().alias("subscription_days"),
    ]
    features = [
        Feature(_spec(t, "subscriptions_active", "subscriptions started before as_of and not ended before it", "{value:count:active subscription}", -1, absent=0)),
        Feature(_spec(t, "subscriptions_ended", "subscriptions that ended before as_of", "{value:count:subscription} already ended", 1, absent=0)),
        Feature(_spec(t, "subscription_days", "days from the first subscription's start to as_of (null: never subscribed)", "subscribed for {value:days}", -1, missing="has never subscribed")),
    ]
    if "amount" in columns:
        aggs.append(pl.when(active).then(pl.col("amount")).sum().alias("subscription_amount"))
        features.append(Feature(_spec(t, "subscription_amount", "total amount of the subscriptions active at as_of (null: never subscribed)", "active subscriptions worth {value:amount}", 0, "Float64")))
    return aggs, features


def build_subscriptions(subscriptions: pl.LazyFrame, dates: pl.DataFrame, *, tz: str) -> pl.LazyFrame:
    """A subscription ending at or after T is active at T (its end was not known yet)."""
    columns = set(subscriptions.collect_schema().names())
    aggs, features = subscription_features(columns)
    rows = rows_before(with_later_facts(subscriptions, "subscriptions"), dates, "started_at", tz)
    rows = rows.with_columns(known_at("ended_at", pl.col("_t")).alias("_ended_at"))
    return rows.group_by("as_of", "customer_id").agg(aggs).select("as_of", "customer_id", *select_exprs(features, with_usual=False))
