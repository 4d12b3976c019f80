"""Score every eligible customer: probabilities, ranks, tiers, the silent-dissatisfied flag and reasons.

Pure: a feature frame and a model bundle in, the ``churn_scores`` rows (docs/output-tables.md,
lineage columns excepted) out; the rules are in docs/reasons-and-flags.md. Reasons (TreeSHAP) are
the expensive part, so by default they are computed only where a person will read them: the high
tier and the top ``capacity`` silent-flagged rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from configs import Config
from features.catalog import FeatureSpec
from models.bundle import ModelBundle
from models.reasons import TOP_REASONS, explain, usual_columns
from models.satisfaction import hajek_mean

SURVEY_STATUS = "survey_status"
LAST_SURVEY_SCORE = "last_survey_score"


@dataclass(frozen=True)
class ScoreColumns:
    """Where the scorer finds what it copies from the feature frame."""

    status: str = SURVEY_STATUS
    last_score: str = LAST_SURVEY_SCORE


def _status_labels(frame: pl.DataFrame, bundle: ModelBundle, column: str) -> pl.Series:
    """survey_status as text: decoded from its stored categorical codes when it is a feature."""
    if column not in frame.columns:
        return pl.Series(SURVEY_STATUS, ["not_asked"] * frame.height)
    series = frame[column]
    if series.dtype == pl.String:
        return series.fill_null("not_asked").alias(SURVEY_STATUS)
    decode = {code: label for label, code in bundle.categorical_mappings.get(column, {}).items()}
    return series.replace_strict(decode, default="not_asked", return_dtype=pl.String).alias(SURVEY_STATUS)


def rank_and_flag(scored: pl.DataFrame, config: Config) -> pl.DataFrame:
    """Ranks, percentile, tier, silent flag and silent rank (docs/reasons-and-flags.md)."""
    n = scored.height
    capacity = config.scoring.capacity_for(n)
    ranked = scored.sort(["churn_probability", "customer_id"], descending=[True, False]).with_columns(
        risk_rank=pl.int_range(1, n + 1, dtype=pl.Int64)
    )
    dissatisfied = pl.col("dissatisfaction_probability").fill_null(-1.0) >= config.scoring.silent_threshold
    ranked = ranked.with_columns(
        risk_percentile=(100.0 * (n - pl.col("risk_rank")) / max(n - 1, 1)),
        risk_tier=pl.when(pl.col("risk_rank") <= capacity)
        .then(pl.lit("high"))
        .when(pl.col("risk_rank") <= 3 * capacity)
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low")),
    ).with_columns(
        silent_dissatisfied=(pl.col("survey_status") != "responded") & ((pl.col("risk_tier") == "high") | dissatisfied)
    )
    silent_order = (
        ranked.filter("silent_dissatisfied")
        .sort(
            ["dissatisfaction_probability", "churn_probability", "customer_id"],
            descending=[True, True, False],
            nulls_last=True,
        )
        .select("customer_id", silent_rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64))
    )
    return ranked.join(silent_order, on="customer_id", how="left")


def reason_targets(ranked: pl.DataFrame, config: Config, has_satisfaction: bool) -> pl.DataFrame:
    """Which rows get reasons, and from which model (`reason_source`, docs/reasons-and-flags.md)."""
    capacity = config.scoring.capacity_for(ranked.height)
    high = pl.col("risk_tier") == "high"
    silent_outside_high = pl.col("silent_dissatisfied") & ~high
    if config.scoring.reasons_for == "flagged":
        wanted = high | (silent_outside_high & (pl.col("silent_rank") <= capacity))
    else:
        wanted = pl.lit(True)
    source = (
        pl.when(~wanted)
        .then(pl.lit(None, pl.String))
        .when(silent_outside_high & pl.lit(has_satisfaction))
        .then(pl.lit("satisfaction"))
        .otherwise(pl.lit("churn"))
    )
    return ranked.with_columns(reason_source=source)


def _attach_reasons(ranked: pl.DataFrame, features: pl.DataFrame, bundle: ModelBundle) -> pl.DataFrame:
    catalog = {entry.name: entry for entry in (e if isinstance(e, FeatureSpec) else FeatureSpec(**e) for e in bundle.catalog)}
    decode = {col: {code: label for label, code in mapping.items()} for col, mapping in bundle.categorical_mappings.items()}
    # missing for every eligible customer: the feature's table is gone, its missing value means nothing
    unknown = {f for f in bundle.features if f not in features.columns or features[f].null_count() == features.height}
    pieces = []
    for source, model in (("churn", bundle.churn), ("satisfaction", bundle.satisfaction)):
        ids = ranked.filter(pl.col("reason_source") == source).select("customer_id")
        if ids.height == 0 or model is None:
            continue
        rows = ids.join(features, on="customer_id", how="left", maintain_order="left")
        X = bundle.matrix(rows)
        texts, payloads = explain(model.contributions(X), X, usual_columns(rows, bundle.features), bundle.features, catalog, decode, unknown)
        pieces.append(
            pl.DataFrame(
                {"customer_id": ids["customer_id"], **{f"reason_{i + 1}": [t[i] for t in texts] for i in range(TOP_REASONS)}, "reasons": payloads},
                schema={"customer_id": pl.String, **{f"reason_{i + 1}": pl.String for i in range(TOP_REASONS)}, "reasons": pl.String},
            )
        )
    empty = pl.DataFrame(schema={"customer_id": pl.String, **{f"reason_{i + 1}": pl.String for i in range(TOP_REASONS)}, "reasons": pl.String})
    return ranked.join(pl.concat([empty, *pieces]), on="customer_id", how="left")


def score_customers(
    features: pl.DataFrame, bundle: ModelBundle, config: Config, as_of: date, columns: ScoreColumns = ScoreColumns()
) -> pl.DataFrame:
    """The ``churn_scores`` rows for one as-of date, most at risk first (lineage columns are added by the flow)."""
    predictions = bundle.predict(features)
    base = pl.DataFrame(
        {
            "customer_id": features["customer_id"],
            "churn_probability": predictions["churn_probability"],
            "dissatisfaction_probability": predictions["dissatisfaction_probability"],
            SURVEY_STATUS: _status_labels(features, bundle, columns.status),
            "last_survey_score": features[columns.last_score].cast(pl.Float64)
            if columns.last_score in features.columns
            else pl.Series([None] * features.height, dtype=pl.Float64),
        }
    )
    value_column = config.scoring.value_column
    if value_column and value_column in features.columns:
        base = base.with_columns(value_at_risk=pl.col("churn_probability") * features[value_column].cast(pl.Float64))
    else:
        base = base.with_columns(value_at_risk=pl.lit(None, pl.Float64))
    ranked = reason_targets(rank_and_flag(base, config), config, bundle.satisfaction is not None)
    scored = _attach_reasons(ranked, features, bundle)
    return scored.with_columns(as_of=pl.lit(as_of, pl.Date)).select(
        "as_of", "customer_id", "churn_probability", "risk_rank", "risk_percentile", "risk_tier",
        "dissatisfaction_probability", "survey_status", "last_survey_score", "silent_dissatisfied", "silent_rank",
        "reason_1", "reason_2", "reason_3", "reason_source", "reasons", "value_at_risk",
    ).sort("risk_rank")


def survey_summary(features: pl.DataFrame, scored: pl.DataFrame, bundle: ModelBundle) -> dict[str, float | None]:
    """Among the eligible: the response rate of those asked, the respondents' mean last score, and
    its non-response-corrected estimate for everyone (Hájek, weights 1 / response propensity)."""
    status = scored.select("customer_id", "survey_status", "last_survey_score")
    asked = status.filter(pl.col("survey_status") != "not_asked").height
    respondents = status.filter((pl.col("survey_status") == "responded") & pl.col("last_survey_score").is_not_null())
    out: dict[str, float | None] = {
        "survey_response_rate": respondents.height / asked if asked else None,
        "respondent_score": respondents["last_survey_score"].mean() if respondents.height else None,
        "estimated_population_score": None,
    }
    if respondents.height and bundle.satisfaction is not None:
        model_columns = features.select("customer_id", *(f for f in bundle.features if f in features.columns))
        rows = respondents.select("customer_id").join(model_columns, on="customer_id", how="left", maintain_order="left")
        propensity = bundle.response_propensity(rows)
        out["estimated_population_score"] = hajek_mean(respondents["last_survey_score"].to_numpy(), propensity)
    return out


def input_warnings(bundle: ModelBundle, rows: dict[str, int], customers: pl.DataFrame | pl.LazyFrame | None) -> list[str]:
    """What changed since training that scoring can survive but a user must hear about.

    ``rows``: the accepted rows of each table read now. A table the model was trained with that is
    missing, or holds no rows, is as loud as can be: every customer's features from it look alike."""
    warnings = [
        f"table {t!r} was present when model was trained but is missing now: its features are scored as missing"
        if t not in rows
        else f"table {t!r} was present when model was trained but holds no rows now: every customer is scored as if they had none"
        for t in bundle.tables
        if not rows.get(t)
    ]
    if customers is not None:
        customers = customers.lazy()  # only the coded attributes' distinct values are read
        present = customers.collect_schema().names()
        for column, mapping in bundle.categorical_mappings.items():
            if column not in present:
                continue
            unseen = customers.select(pl.col(column).drop_nulls().unique()).collect().to_series().cast(pl.String)
            new = sorted(set(unseen.to_list()) - set(mapping))
            if new:
                shown = ", ".join(repr(v) for v in new[:5]) + (" …" if len(new) > 5 else "")
                warnings.append(f"customers.{column} has values never seen in training ({shown}): scored as missing")
    return warnings
