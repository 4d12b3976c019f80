"""The drift reference stored with a model version at training (docs/monitoring.md).

Features, the churn and dissatisfaction scores and the response propensity are summarised on the
out-of-time test snapshot: the newest population the model was judged on. Not on the training rows:
they span older snapshots, and features that grow with time (whole-history counts, tenure) would
drift against that average on the very day a model is trained. Each feature is ranked by its gain
in the churn booster. Beside the buckets, ``who_answers`` holds the test snapshot's survey response
rate and mean response propensity (models/who_answers.py); a reference stored before it lacks the block.
"""

from __future__ import annotations

import polars as pl

from models.bundle import ModelBundle
from models.drift import importance_ranks, reference_summary
from models.who_answers import training_who_answers

# A seeded uniform sample summarises the snapshot as well as all of it (bucket shares
# have ~0.1 % sampling error at this size) and bounds the cost at 1M customers.
REFERENCE_MAX_ROWS = 200_000


def test_snapshot_scores(bundle: ModelBundle, rows: pl.DataFrame) -> pl.DataFrame:
    """churn_probability, dissatisfaction_probability and (with a satisfaction model) response_propensity."""
    scores = bundle.predict(rows)
    if bundle.satisfaction is None:
        return scores
    return scores.with_columns(response_propensity=pl.Series(bundle.response_propensity(rows), dtype=pl.Float64))


def training_reference(bundle: ModelBundle, test_rows: pl.DataFrame, seed: int) -> dict:
    """The JSON reference summary of the population ``bundle`` was judged on (models.drift.reference_summary)."""
    rows = test_rows.sample(n=REFERENCE_MAX_ROWS, seed=seed) if test_rows.height > REFERENCE_MAX_ROWS else test_rows
    gain = bundle.churn.booster_.feature_importance("gain")
    numeric = [f for f in bundle.features if f not in bundle.categorical]
    scores = test_snapshot_scores(bundle, rows)
    summary = reference_summary(rows, numeric, bundle.categorical, importance=importance_ranks(bundle.features, gain), scores=scores)
    # the rate on every test row (one cheap pass), the mean propensity on the sample already scored
    return {**summary, "who_answers": training_who_answers(bundle, test_rows, scores)}
