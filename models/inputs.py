"""What the models read: one :class:`~features.catalog.FeatureSchema`, and the columns the rule baselines use.

The schema is the single description of the inputs (names, dtypes, vocabularies, catalog, tables);
training and the stored :class:`~models.bundle.ModelBundle` refer to it instead of copying its fields,
so the columns trained on, the catalog logged and the columns scored can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from features.catalog import FeatureSchema, FeatureSpec

LABEL = "churned"  # churned within churn.horizon_days after as_of
RECENCY_FEATURE = "days_since_last_event"  # the recency rule's input
LAST_SCORE_FEATURE = "last_survey_score"  # the survey-only rule's input


@dataclass(frozen=True)
class TrainingInputs:
    """A feature schema as the models see it; every list below is derived from ``schema``."""

    schema: FeatureSchema
    recency_feature: str = RECENCY_FEATURE  # days since last activity
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_schema(cls, schema: FeatureSchema, metadata: dict | None = None) -> TrainingInputs:
        return cls(schema=schema, metadata=metadata or {})

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
