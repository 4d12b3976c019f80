"""What the models read: one :class:`~features.catalog.FeatureSchema`, and the columns the rule baselines use.

The schema is the single description of the inputs (names, dtypes, vocabularies, catalog, tables);
training and the stored :class:`~models.bundle.ModelBundle` refer to it instead of copying its fields,
so the columns trained on, the catalog logged and the columns scored can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from features.catalog import FeatureSchema, FeatureSpec, checked_slugs

LABEL = "churned"  # churned within churn.horizon_days after as_of
RECENCY_FEATURE = "days_since_last_event"  # the recency rule's input
LAST_SCORE_FEATURE = "last_survey_score"  # the survey-only rule's input


def recency_features(schema: FeatureSchema, activity_event_types: Sequence[str] | None) -> tuple[str, ...]:
    """The recency rule's inputs: with ``churn.activity_event_types`` (inactivity churn counting only those
    events), days since the last event of each of those types that has a column, so the rule a CX team would
    use ("sort by days since the last purchase") is the baseline, not a weaker one fooled by browsing;
    otherwise, or when none of them has a column, days since the last event of any type."""
    if activity_event_types:
        own = [f"days_since_last_{s}" for s in checked_slugs(activity_event_types, "churn.activity_event_types")]
        present = tuple(c for c in own if c in schema.names)
        if present:
            return present
    return (RECENCY_FEATURE,)


@dataclass(frozen=True)
class TrainingInputs:
    """A feature schema as the models see it; every list below is derived from ``schema``."""

    schema: FeatureSchema
    # days since the last activity *that counts as staying*: the recency rule reads the smallest of these
    recency_features: tuple[str, ...] = (RECENCY_FEATURE,)
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_schema(cls, schema: FeatureSchema, metadata: dict | None = None, activity_event_types: Sequence[str] | None = None) -> TrainingInputs:
        return cls(schema=schema, recency_features=recency_features(schema, activity_event_types), metadata=metadata or {})

    @property
    def features(self) -> list[str]:
        return self.schema.names

    @property
    def categorical(self) -> list[str]:
        """The integer-coded columns (code i = label i), in feature order."""
        categories = self.schema.categories
        return [c for c in self.schema.names if c in categories]

    @property
    def categorical_mappings(self) -> dict[str, dict[str, int]]:
        """Column -> {label: code}, the codes fed to LightGBM."""
        return {c: {label: i for i, label in enumerate(labels)} for c, labels in self.schema.categories.items()}

    @property
    def catalog(self) -> tuple[FeatureSpec, ...]:
        return self.schema.features

    @property
    def tables(self) -> list[str]:
        return list(self.schema.tables)

    @property
    def last_score_feature(self) -> str | None:
        """The last survey answer before as_of, None when the schema has no surveys."""
        return LAST_SCORE_FEATURE if LAST_SCORE_FEATURE in self.schema.names else None
