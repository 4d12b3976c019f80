"""Drift of the model's inputs and scores against what it learned from (docs/monitoring.md).

Pure: frames in, a JSON-serialisable reference and polars frames out. At training,
:func:`reference_summary` records every feature's buckets and shares (equal-frequency bins of the
reference with open-ended ends and a null bucket; category shares with an "unseen" and a null
bucket); the churn and dissatisfaction scores and the response propensity are summarised the same
way as pseudo-features. At monitoring, :func:`feature_drift` counts a current frame into the same
buckets and reports one effect size per column, ranked by the feature's importance in the model.

PSI is the default metric: the industry standard for scorecards (its 0.1 / 0.25 rule of thumb is
what the thresholds mean), symmetric, and additive over buckets. Jensen–Shannon distance (base 2,
bounded 0..1) is available where a bounded number reads better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

SCORE_COLUMNS = ("churn_probability", "dissatisfaction_probability", "response_propensity")
DEFAULT_BINS = 10
# An empty bucket would make PSI infinite; its share is taken as this instead (a common choice).
PSI_EPSILON = 1e-4
# Reference summaries say which layout they use, so a stored one is never misread.
REFERENCE_VERSION = 1
DRIFT_COLUMNS = {"feature": pl.String, "metric": pl.String, "value": pl.Float64, "importance_rank": pl.Int64, "status": pl.String}
Metric = Literal["psi", "js"]


@dataclass(frozen=True)
class DriftThresholds:
    """Effect sizes at or above which a column's drift is a warning / a failure."""

    warn: float
    fail: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.warn <= self.fail:
            raise ValueError(f"monitoring.drift: need 0 <= warn <= fail, got warn={self.warn}, fail={self.fail}")


# PSI's rule of thumb; for small shifts JS distance ~ sqrt(PSI / (8 ln 2)), so the same two levels
# are 0.13 / 0.21 in JS distance.
DEFAULT_THRESHOLDS: dict[str, DriftThresholds] = {"psi": DriftThresholds(0.1, 0.25), "js": DriftThresholds(0.13, 0.21)}


def psi(reference: np.ndarray, current: np.ndarray, epsilon: float = PSI_EPSILON) -> float:
    """Population stability index: sum over buckets of (c - r) ln(c / r); empty shares count as ``epsilon``."""
    r = np.clip(np.asarray(reference, dtype=float), epsilon, None)
    c = np.clip(np.asarray(current, dtype=float), epsilon, None)
    return float(np.sum((c - r) * np.log(c / r)))


def js_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen–Shannon distance in bits (0 = identical, 1 = disjoint); empty buckets need no epsilon."""
    p, q = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        inside = a > 0
        return float(np.sum(a[inside] * np.log2(a[inside] / m[inside])))

    return float(np.sqrt(max(0.0, (kl(p) + kl(q)) / 2)))


DRIFT_METRICS = {"psi": psi, "js": js_distance}


def importance_ranks(features: Sequence[str], importance: Sequence[float] | None) -> dict[str, int]:
    """Rank 1 = the largest importance (e.g. LightGBM gain); ties keep the feature order."""
    values = np.zeros(len(features)) if importance is None else np.asarray(importance, dtype=float)
    order = np.lexsort((np.arange(len(features)), -values))
    return {features[i]: rank for rank, i in enumerate(order, start=1)}


def _values(name: str) -> pl.Expr:
    """A numeric column as the model reads it: float, NaN as null (LightGBM's missing value)."""
    return pl.col(name).cast(pl.Float64).fill_nan(None)


def _text(name: str, schema: pl.Schema) -> pl.Expr:
    """A categorical column as text, whether it holds integer codes (possibly as floats) or labels."""
    dtype = schema[name]
    if dtype.is_float():
        return pl.col(name).fill_nan(None).cast(pl.Int64).cast(pl.String)
    return pl.col(name).cast(pl.String)


def _count_exprs(j: int, name: str, entry: dict, schema: pl.Schema) -> list[pl.Expr]:
    """Counts of one column in its buckets, as one-row aggregates named ``_j_i`` (applied in one select).

    Numeric: rows <= each edge (cumulative), then non-null and null rows. Categorical: rows equal to
    each category, then non-null and null rows; value bins and "unseen" are differences of those.
    """
    if entry["kind"] == "categorical":
        column = _text(name, schema)
        per_bucket = [(column == category).sum() for category in entry["categories"]]
    else:
        column = _values(name)
        per_bucket = [(column <= edge).sum() for edge in entry["edges"]]
    return [e.alias(f"_{j}_{i}") for i, e in enumerate([*per_bucket, column.is_not_null().sum(), column.is_null().sum()])]


def _shares(counts: list[int], kind: str, total: int) -> np.ndarray:
    """Bucket shares: value bins (or categories), then the open end (or "unseen"), then nulls."""
    *per_bucket, non_null, nulls = counts
    if kind == "categorical":
        buckets = [*per_bucket, non_null - sum(per_bucket)]
    else:
        buckets = list(np.diff([0, *per_bucket, non_null]))
    return np.asarray([*buckets, nulls], dtype=float) / max(total, 1)


def bucket_shares(frame: pl.DataFrame, columns: Mapping[str, dict]) -> dict[str, np.ndarray]:
    """Each column's shares in its reference buckets, in one pass; a column the frame lacks is all null
    (as the model sees it)."""
    missing = [pl.lit(None, pl.Float64).alias(name) for name in columns if name not in frame.columns]
    frame = frame.with_columns(missing).select(list(columns))
    exprs = [e for j, (name, entry) in enumerate(columns.items()) for e in _count_exprs(j, name, entry, frame.schema)]
    row = frame.select(exprs).row(0, named=True) if exprs else {}
    out = {}
    for j, (name, entry) in enumerate(columns.items()):
        size = len(entry.get("categories", entry.get("edges", []))) + 2
        out[name] = _shares([int(row[f"_{j}_{i}"]) for i in range(size)], entry["kind"], frame.height)
    return out


def _layouts(frame: pl.DataFrame, numeric: Sequence[str], categorical: Sequence[str], bins: int) -> dict[str, dict]:
    """Bucket layouts from the reference: ``bins - 1`` quantile edges ('lower' interpolation, so the
    share at or below edge q is q), repeated edges merged (constant and discrete columns), and
    the categories seen; an all-null column gets no edges (one open bin) or no categories."""
    quantiles = [i / bins for i in range(1, bins)]
    schema = frame.schema
    query = [_values(c).quantile(quantiles, interpolation="lower").alias(c) for c in numeric]
    query += [_text(c, schema).drop_nulls().unique().sort().implode().alias(c) for c in categorical]
    row = frame.select(query).row(0, named=True) if query else {}
    finite = {c: [float(e) for e in (row[c] or []) if e is not None and np.isfinite(e)] for c in numeric}
    layouts = {c: {"kind": "numeric", "edges": sorted(set(edges))} for c, edges in finite.items()}
    return layouts | {c: {"kind": "categorical", "categories": list(row[c] or [])} for c in categorical}


def reference_summary(
    features: pl.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str] = (),
    *,
    importance: Mapping[str, int] | None = None,
    scores: pl.DataFrame | None = None,
    bins: int = DEFAULT_BINS,
) -> dict:
    """What the model learned from, summarised for drift: buckets and shares per feature (ranked by
    ``importance``: feature -> rank, 1 = most important) and per score column of ``scores``.

    JSON-serialisable. Cost is one quantile pass and one counting pass per column (200k rows x 60
    columns: 0.5 s), so a seeded uniform sample of a very large training frame serves as well.
    """
    if features.height == 0:
        raise ValueError("reference_summary: the training feature frame holds no rows")
    unknown = [c for c in [*numeric, *categorical] if c not in features.columns]
    if unknown:
        raise ValueError(f"reference_summary: the training feature frame lacks column(s) {unknown}")
    columns = _layouts(features, numeric, categorical, bins)
    shares = bucket_shares(features, columns)
    ranks = importance or {}
    summary = {
        name: {**layout, "shares": shares[name].tolist(), "importance_rank": ranks.get(name), "score": False}
        for name, layout in columns.items()
    }
    if scores is not None:
        # an all-null score (no satisfaction model) has nothing to drift from: it is left out
        present = [c for c in SCORE_COLUMNS if c in scores.columns and scores[c].null_count() < scores.height]
        layouts = _layouts(scores, present, (), bins)
        score_shares = bucket_shares(scores, layouts)
        summary |= {c: {**layouts[c], "shares": score_shares[c].tolist(), "importance_rank": None, "score": True} for c in present}
    return {"version": REFERENCE_VERSION, "bins": bins, "rows": features.height, "columns": summary}


def drift_status(value: pl.Expr, thresholds: DriftThresholds) -> pl.Expr:
    """ok / warn / fail for an effect size (a missing value is no evidence of drift: ok)."""
    return (
        pl.when(value >= thresholds.fail).then(pl.lit("fail"))
        .when(value >= thresholds.warn).then(pl.lit("warn"))
        .otherwise(pl.lit("ok"))
    )


def feature_drift(
    current: pl.DataFrame, reference: dict, *, metric: Metric = "psi", thresholds: DriftThresholds | None = None
) -> pl.DataFrame:
    """(feature, metric, value, importance_rank, status) per column of ``reference``: the score
    pseudo-features first (importance_rank null), then features by importance rank."""
    if reference.get("version") != REFERENCE_VERSION:
        raise ValueError(f"feature_drift: reference summary version {reference.get('version')!r}, expected {REFERENCE_VERSION}")
    if metric not in DRIFT_METRICS:
        raise ValueError(f"monitoring.drift.metric must be one of {sorted(DRIFT_METRICS)}, got {metric!r}")
    if current.height == 0:
        raise ValueError("feature_drift: the current frame holds no rows; drift needs at least one scored customer")
    columns = reference["columns"]
    shares = bucket_shares(current, columns)
    measure = DRIFT_METRICS[metric]
    frame = pl.DataFrame(
        {
            "feature": list(columns),
            "metric": [metric] * len(columns),
            "value": [measure(np.asarray(entry["shares"]), shares[name]) for name, entry in columns.items()],
            "importance_rank": [entry["importance_rank"] for entry in columns.values()],
        },
        schema={k: v for k, v in DRIFT_COLUMNS.items() if k != "status"},
    )
    limits = thresholds or DEFAULT_THRESHOLDS[metric]
    return frame.with_columns(status=drift_status(pl.col("value"), limits)).sort(
        ["importance_rank", "feature"], nulls_last=False
    )


def drift_summary(drift: pl.DataFrame, *, top: int = 10, worst: int = 5) -> dict:
    """The monitor step's verdict (``score_runs.drift_summary``): the status is the worst among the
    scores and the ``top`` most important features (drift in a feature the model barely uses never
    decides it); the ``worst`` largest feature drifts and every score's drift, JSON-serialisable."""
    scores = drift.filter(pl.col("importance_rank").is_null())
    features = drift.filter(pl.col("importance_rank").is_not_null())
    deciding = pl.concat([scores, features.filter(pl.col("importance_rank") <= top)])
    order = {"ok": 0, "warn": 1, "fail": 2}
    status = max(deciding["status"].to_list(), key=order.__getitem__, default="ok")
    worst_rows = features.sort(["value", "importance_rank"], descending=[True, False]).head(worst)
    return {
        "status": status,
        "metric": drift["metric"][0] if drift.height else None,
        "worst_features": worst_rows.select("feature", "value", "importance_rank", "status").to_dicts(),
        "score_drift": {row["feature"]: {"value": row["value"], "status": row["status"]} for row in scores.iter_rows(named=True)},
        "features_checked": features.height,
        "features_warn": int((features["status"] == "warn").sum()),
        "features_fail": int((features["status"] == "fail").sum()),
    }
