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


def survey_status_labels(frame: pl.DataFrame, bundle: ModelBundle, column: str) -> pl.Series:
    """survey_status as text: decoded from its stored categorical codes when it is a feature. Public so
    that models/who_answers.py reads the status exactly as the scorer does."""
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


REASON_SCHEMA = {"customer_id": pl.String, **{f"reason_{i + 1}": pl.String for i in range(TOP_REASONS)}, "reasons": pl.String}


def all_missing_features(features: pl.DataFrame, bundle: ModelBundle) -> set[str]:
    """Model features missing for every row of ``features``: their table is gone, their missing value
    means nothing, so they are never a reason. Over buckets, the whole population's set is the
    intersection of the buckets' sets."""
    return {f for f in bundle.features if f not in features.columns or features[f].null_count() == features.height}


def explain_customers(targets: pl.DataFrame, features: pl.DataFrame, bundle: ModelBundle, unknown: set[str]) -> pl.DataFrame:
    """reason_1..3 and reasons for ``targets`` (customer_id, reason_source), from the features of those
    customers; per customer, so any subset of the population (a bucket) can be explained on its own."""
    catalog = {entry.name: entry for entry in (e if isinstance(e, FeatureSpec) else FeatureSpec(**e) for e in bundle.catalog)}
    decode = {col: {code: label for label, code in mapping.items()} for col, mapping in bundle.categorical_mappings.items()}
    pieces = [pl.DataFrame(schema=REASON_SCHEMA)]
    for source, model in (("churn", bundle.churn), ("satisfaction", bundle.satisfaction)):
        ids = targets.filter(pl.col("reason_source") == source).select("customer_id")
        if ids.height == 0 or model is None:
            continue
        rows = ids.join(features, on="customer_id", how="left", maintain_order="left")
        X = bundle.matrix(rows)
        texts, payloads = explain(model.contributions(X), X, usual_columns(rows, bundle.features), bundle.features, catalog, decode, unknown)
        pieces.append(
            pl.DataFrame(
                {"customer_id": ids["customer_id"], **{f"reason_{i + 1}": [t[i] for t in texts] for i in range(TOP_REASONS)}, "reasons": payloads},
                schema=REASON_SCHEMA,
            )
        )
    return pl.concat(pieces)


def _attach_reasons(ranked: pl.DataFrame, features: pl.DataFrame, bundle: ModelBundle) -> pl.DataFrame:
    targets = ranked.filter(pl.col("reason_source").is_not_null()).select("customer_id", "reason_source")
    reasons = explain_customers(targets, features, bundle, all_missing_features(features, bundle))
    return ranked.join(reasons, on="customer_id", how="left")


OUTPUT_COLUMNS = (
    "as_of", "customer_id", "churn_probability", "risk_rank", "risk_percentile", "risk_tier",
    "dissatisfaction_probability", "survey_status", "last_survey_score", "silent_dissatisfied", "silent_rank",
    "reason_1", "reason_2", "reason_3", "reason_source", "reasons", "value_at_risk",
)


def customer_scores(features: pl.DataFrame, bundle: ModelBundle, config: Config, columns: ScoreColumns = ScoreColumns()) -> pl.DataFrame:
    """The per-customer part of scoring: probabilities, survey status, last score and value at risk.

    Each row depends on that customer's features only, so buckets of customers can be scored apart
    and concatenated; ranks, tiers and flags need the whole population (:func:`rank_and_flag`)."""
    predictions = bundle.predict(features)
    base = pl.DataFrame(
        {
            "customer_id": features["customer_id"],
            "churn_probability": predictions["churn_probability"],
            "dissatisfaction_probability": predictions["dissatisfaction_probability"],
            SURVEY_STATUS: survey_status_labels(features, bundle, columns.status),
            "last_survey_score": features[columns.last_score].cast(pl.Float64)
            if columns.last_score in features.columns
            else pl.Series([None] * features.height, dtype=pl.Float64),
        }
    )
    value_column = config.scoring.value_column
    if value_column and value_column in features.columns:
        return base.with_columns(value_at_risk=pl.col("churn_probability") * features[value_column].cast(pl.Float64))
    return base.with_columns(value_at_risk=pl.lit(None, pl.Float64))


def finish_scores(ranked: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """The churn_scores columns in their order, most at risk first."""
    return ranked.with_columns(as_of=pl.lit(as_of, pl.Date)).select(*OUTPUT_COLUMNS).sort("risk_rank")


def score_customers(
    features: pl.DataFrame, bundle: ModelBundle, config: Config, as_of: date, columns: ScoreColumns = ScoreColumns()
) -> pl.DataFrame:
    """The ``churn_scores`` rows for one as-of date, most at risk first (lineage columns are added by the flow)."""
    base = customer_scores(features, bundle, config, columns)
    ranked = reason_targets(rank_and_flag(base, config), config, bundle.satisfaction is not None)
    return finish_scores(_attach_reasons(ranked, features, bundle), as_of)


def respondent_propensities(features: pl.DataFrame, scores: pl.DataFrame, bundle: ModelBundle) -> pl.DataFrame:
    """customer_id, last_survey_score and P(answers when asked) of the respondents among ``scores``
    (per customer: a bucket's respondents can be computed apart); empty without a satisfaction model."""
    respondents = scores.filter((pl.col("survey_status") == "responded") & pl.col("last_survey_score").is_not_null()).select(
        "customer_id", "last_survey_score"
    )
    if respondents.height == 0 or bundle.satisfaction is None:
        return respondents.with_columns(response_propensity=pl.lit(None, pl.Float64)).clear()
    model_columns = features.select("customer_id", *(f for f in bundle.features if f in features.columns))
    rows = respondents.select("customer_id").join(model_columns, on="customer_id", how="left", maintain_order="left")
    return respondents.with_columns(response_propensity=pl.Series(bundle.response_propensity(rows), dtype=pl.Float64))


def summarise_surveys(scores: pl.DataFrame, propensities: pl.DataFrame) -> dict[str, float | None]:
    """Among the eligible: the response rate of those asked, the respondents' mean last score, and
    its non-response-corrected estimate for everyone (Hájek, weights 1 / response propensity).
    Respondents are taken in customer_id order, so the sums do not depend on how rows were split."""
    status = scores.select("customer_id", "survey_status", "last_survey_score").sort("customer_id")
    asked = status.filter(pl.col("survey_status") != "not_asked").height
    respondents = status.filter((pl.col("survey_status") == "responded") & pl.col("last_survey_score").is_not_null())
    out: dict[str, float | None] = {
        "survey_response_rate": respondents.height / asked if asked else None,
        "respondent_score": respondents["last_survey_score"].mean() if respondents.height else None,
        "estimated_population_score": None,
    }
    if propensities.height:
        weighted = propensities.sort("customer_id")
        out["estimated_population_score"] = hajek_mean(weighted["last_survey_score"].to_numpy(), weighted["response_propensity"].to_numpy())
    return out


def survey_summary(features: pl.DataFrame, scored: pl.DataFrame, bundle: ModelBundle) -> dict[str, float | None]:
    """:func:`summarise_surveys` of one frame holding every eligible customer."""
    return summarise_surveys(scored, respondent_propensities(features, scored, bundle))


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
