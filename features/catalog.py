"""The feature catalog: what every feature means, how to say it in a reason, which way it pushes risk.

Catalog entries are never written by hand: each family's builder returns :class:`Feature` pairs
(the polars expression and its :class:`FeatureSpec`), so the catalog is produced by the very code
that computes the columns and cannot drift from it. :class:`FeatureSchema` is what a trained model
stores: the ordered feature names and dtypes, the vocabularies learned from the training data
(event types, channels, billing kinds, categorical mappings) so that scoring builds the same
columns, and the catalog.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import polars as pl

from features.wording import number, phrase

USUAL_SUFFIX = "__usual"
# "usual" = the customer's own level in the 90 days before the window (docs/reasons-and-flags.md)
USUAL_DAYS = 90

_DTYPES: dict[str, pl.DataType] = {"Int32": pl.Int32(), "Float64": pl.Float64()}
_FLOAT_MAX = sys.float_info.max


@dataclass(frozen=True)
class FeatureSpec:
    """One catalog entry.

    ``reason`` is a template a CX person can read aloud, its ``{value}`` said by the helpers of
    :mod:`features.wording` ("{value:count:support ticket} in the last 30 days");
    ``missing_reason`` is what a missing value says when it means something ("has never answered
    a survey"), ``None`` where it means nothing: such a feature is then no reason at all
    (docs/reasons-and-flags.md). ``direction`` is +1 when higher values are expected to raise
    churn risk, -1 when they lower it, 0 when either way. ``absent`` is the value for a customer
    with no rows in the family's table: 0 where zero means zero (a count), ``None`` where nothing
    is known (days since the last ticket of a customer who never had one stays null). ``usual``
    marks windowed counts that get a ``<name>__usual`` companion on request.
    """

    name: str
    family: str
    table: str
    description: str
    reason: str
    direction: int
    dtype: str = "Float64"
    absent: float | None = None
    usual: bool = False
    missing_reason: str | None = None

    @property
    def polars_dtype(self) -> pl.DataType:
        return _DTYPES[self.dtype]


@dataclass(frozen=True)
class Feature:
    """A feature's spec and the expression that computes it from its family's aggregated frame
    (default: the aggregated column of the same name)."""

    spec: FeatureSpec
    expr: pl.Expr | None = None


def usual_name(feature: str) -> str:
    return feature + USUAL_SUFFIX


def usual_count(condition: pl.Expr, days_ago: pl.Expr, window_days: int, name: str) -> pl.Expr:
    """The usual level of a windowed count: the same count over the 90 days before the window,
    [T - w - 90d, T - w), scaled to the window's length."""
    earlier = condition & (days_ago > window_days) & (days_ago <= window_days + USUAL_DAYS)
    return (earlier.sum() * (window_days / USUAL_DAYS)).alias(usual_name(name))


def counted(
    condition: pl.Expr,
    days_ago: pl.Expr,
    windows: Sequence[int],
    with_usual: bool,
    *,
    family: str,
    table: str,
    name: str,
    description: str,
    reason: str,
    direction: int,
) -> tuple[list[pl.Expr], list[Feature]]:
    """Counts of the rows meeting ``condition`` in each window [T - w, T): the aggregations (with
    their usual levels on request) and the catalog entries. ``name``, ``description`` and
    ``reason`` take ``{w}``; zero means zero, so a customer without rows gets 0."""

    def in_window(text: str, w: int) -> str:
        return text.replace("{w}", str(w))

    aggs = [(condition & (days_ago <= w)).sum().alias(in_window(name, w)) for w in windows]
    if with_usual:
        aggs += [usual_count(condition, days_ago, w, in_window(name, w)) for w in windows]
    features = [
        Feature(FeatureSpec(in_window(name, w), family, table, in_window(description, w), in_window(reason, w), direction, "Int32", 0, usual=True))
        for w in windows
    ]
    return aggs, features


def merged(parts: Iterable[tuple[list[pl.Expr], list[Feature]]]) -> tuple[list[pl.Expr], list[Feature]]:
    """Several (aggregations, features) pairs as one."""
    aggs: list[pl.Expr] = []
    features: list[Feature] = []
    for part_aggs, part_features in parts:
        aggs += part_aggs
        features += part_features
    return aggs, features


def finite(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """``value`` as ``dtype`` and finite whatever the input: sums of huge amounts (1e308) that
    overflow to ±inf keep their sign at the largest float, NaN (inf - inf) is null, and a whole
    number beyond the integer type is null rather than a failed cast."""
    if dtype == pl.Float64:
        return value.cast(pl.Float64).clip(-_FLOAT_MAX, _FLOAT_MAX).fill_nan(None)
    return value.cast(dtype, strict=False)


def select_exprs(features: Sequence[Feature], with_usual: bool) -> list[pl.Expr]:
    """The final projection of a family: every feature cast to its catalog dtype and finite, plus
    the usual levels (computed by the family's aggregation) when asked."""
    exprs = [finite(pl.col(f.spec.name) if f.expr is None else f.expr, f.spec.polars_dtype).alias(f.spec.name) for f in features]
    if with_usual:
        exprs += [finite(pl.col(usual_name(f.spec.name)), pl.Float64) for f in features if f.spec.usual]
    return exprs


def reason_text(spec: FeatureSpec, value: float | str | None, usual: float | None = None) -> str | None:
    """A reason in plain words, or None where a missing value means nothing.

    With the customer's usual level it adds "(usual: 5)", unless the value went the other way
    than its direction says risk rises ("4 support tickets in the last 90 days, fewer than usual
    (5)"): the model's contribution compares with other customers, not with the customer's past,
    so such a driver is real but must not read as a rise (docs/reasons-and-flags.md).
    """
    if value is None:
        return spec.missing_reason
    text = phrase(spec.reason, value=value)
    if usual is None or isinstance(value, str):
        return text
    level = round(usual, 1 if abs(usual) < 10 else 0)  # the usual as shown: 4 vs 4.04 is "as usual"
    if spec.direction * (value - level) < 0:
        return f"{text}, {'fewer' if value < level else 'more'} than usual ({number(usual)})"
    return f"{text} (usual: {number(usual)})"


def slug(value: str) -> str:
    """A vocabulary value (event type, billing kind) as a column-name fragment."""
    out = "".join(c if c.isalnum() else "_" for c in value.strip().lower()).strip("_")
    return out or "blank"


def checked_slugs(values: Iterable[str], what: str) -> list[str]:
    values = list(values)
    slugs = [slug(v) for v in values]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"{what} values {values} collide as column names {slugs}; rename them upstream")
    return slugs


@dataclass(frozen=True)
class Vocabulary:
    """Values learned from the training data that decide which columns exist."""

    event_types: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    billing_kinds: tuple[str, ...] = ()
    numeric_attributes: tuple[str, ...] = ()
    # attribute column -> its categories; code i means categories[i], null = missing or unseen
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # text attribute column -> why it is no feature (free text, identifiers: see relationship.py)
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureSchema:
    """Everything a model stores to have scoring build exactly its training columns."""

    features: tuple[FeatureSpec, ...]
    vocabulary: Vocabulary
    tables: tuple[str, ...]  # contract tables the features were built from

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def dtypes(self) -> dict[str, pl.DataType]:
        return {f.name: f.polars_dtype for f in self.features}

    @property
    def categories(self) -> dict[str, tuple[str, ...]]:
        """Integer-coded categorical features and their labels (code i = labels[i])."""
        return dict(self.vocabulary.categories)

    def spec(self, name: str) -> FeatureSpec:
        return next(f for f in self.features if f.name == name)

    def decode(self, column: str) -> pl.Expr:
        """The labels of an integer-coded categorical column (e.g. ``survey_status``)."""
        labels = self.categories[column]
        return pl.col(column).replace_strict(list(range(len(labels))), list(labels), default=None, return_dtype=pl.String)

    def catalog_frame(self) -> pl.DataFrame:
        """The catalog as a table (for MLflow artifacts and docs)."""
        rows = [{k: v for k, v in asdict(f).items() if k != "absent"} for f in self.features]
        return pl.DataFrame(rows)

    def to_dict(self) -> dict:
        return {
            "features": [asdict(f) for f in self.features],
            "vocabulary": {
                "event_types": list(self.vocabulary.event_types),
                "channels": list(self.vocabulary.channels),
                "billing_kinds": list(self.vocabulary.billing_kinds),
                "numeric_attributes": list(self.vocabulary.numeric_attributes),
                "categories": {k: list(v) for k, v in self.vocabulary.categories.items()},
                "skipped": dict(self.vocabulary.skipped),
            },
            "tables": list(self.tables),
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSchema:
        vocabulary = data["vocabulary"]
        return cls(
            features=tuple(FeatureSpec(**f) for f in data["features"]),
            vocabulary=Vocabulary(
                event_types=tuple(vocabulary["event_types"]),
                channels=tuple(vocabulary["channels"]),
                billing_kinds=tuple(vocabulary["billing_kinds"]),
                numeric_attributes=tuple(vocabulary["numeric_attributes"]),
                categories={k: tuple(v) for k, v in vocabulary["categories"].items()},
                skipped=dict(vocabulary.get("skipped", {})),
            ),
            tables=tuple(data["tables"]),
        )
