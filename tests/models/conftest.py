"""A small synthetic feature world for model tests: non-linear churn, surveys answered less by the unhappy."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from configs import DEMO_CONFIG, parse_config
from features.catalog import FeatureSchema, FeatureSpec, Vocabulary
from models.inputs import TrainingInputs

FEATURES = ["tickets_30d", "usage_trend", "noise", "plan", "days_since_last_event", "last_survey_score"]
# the catalog's direction of each feature in this world (usage_trend is non-monotone: see the churn logit)
DIRECTIONS = {"tickets_30d": 1, "usage_trend": 0, "noise": 0, "plan": 0, "days_since_last_event": 1, "last_survey_score": -1}


def _customers(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    tickets = rng.poisson(0.6, n).astype(float)
    trend = rng.normal(0, 1, n)
    plan = rng.integers(0, 3, n)
    unhappy = 0.9 * tickets - 0.8 * trend + 0.6 * (plan == 2) + rng.normal(0, 0.7, n)
    return {"tickets_30d": tickets, "usage_trend": trend, "noise": rng.normal(0, 1, n), "plan": plan, "unhappy": unhappy}


def make_training_frame(seed: int = 0, n: int = 3000, dates: int = 6, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(dates):
        c = _customers(rng, n)
        recency = rng.exponential(5 + 3 * np.maximum(c["unhappy"], 0), n)
        # churn is non-linear: a threshold on unhappiness and an interaction with the plan
        logit = (
            -3.8 + shift + 1.2 * (c["unhappy"] > 1.0) + 0.6 * c["unhappy"] * (c["plan"] == 2) + 0.02 * recency
            + 2.0 * ((c["tickets_30d"] >= 2) & (c["usage_trend"] < -0.3)) - 1.0 * (np.abs(c["usage_trend"]) < 0.3)
        )
        churned = rng.random(n) < 1 / (1 + np.exp(-logit))
        answered = rng.random(n) < 0.3
        last = np.where(answered, np.clip(np.round(8 - 1.5 * c["unhappy"] + rng.normal(0, 1, n)), 0, 10), np.nan)
        frames.append(
            pl.DataFrame(
                {
                    "as_of": [date(2025, 2, 1) + timedelta(days=30 * i)] * n,
                    "customer_id": [f"C{j:05d}" for j in range(n)],
                    **{k: c[k] for k in ("tickets_30d", "usage_trend", "noise", "plan")},
                    "days_since_last_event": recency,
                    "last_survey_score": last,
                    "churned": churned,
                }
            ).with_columns(pl.col("last_survey_score").fill_nan(None))
        )
    return pl.concat(frames)


def make_survey_frame(seed: int = 1, n: int = 8000) -> tuple[pl.DataFrame, np.ndarray]:
    """Invitations with features as of sending; the unhappy answer less. Also returns every true score."""
    rng = np.random.default_rng(seed)
    c = _customers(rng, n)
    true_score = np.clip(np.round(8 - 1.5 * c["unhappy"] + rng.normal(0, 1, n)), 0, 10)
    responded = rng.random(n) < 1 / (1 + np.exp(-(-0.8 - 0.9 * c["unhappy"])))
    frame = pl.DataFrame(
        {
            "sent_at": [date(2025, 1, 1) + timedelta(days=int(d)) for d in np.sort(rng.integers(0, 300, n))],
            **{k: c[k] for k in ("tickets_30d", "usage_trend", "noise", "plan")},
            "days_since_last_event": rng.exponential(5, n),
            "last_survey_score": np.full(n, np.nan),
            "responded": responded,
            "score": np.where(responded, true_score, np.nan),
        }
    ).with_columns(pl.col("score").fill_nan(None), pl.col("last_survey_score").fill_nan(None))
    return frame, true_score


@pytest.fixture(scope="session")
def spec() -> TrainingInputs:
    specs = tuple(
        FeatureSpec(f, "test", "customers" if f == "plan" else "events", f, f"{f} is {{value}}", DIRECTIONS[f], "Int32" if f == "plan" else "Float64")
        for f in FEATURES
    )
    vocabulary = Vocabulary(categories={"plan": ("basic", "standard", "premium")})
    return TrainingInputs.from_schema(FeatureSchema(specs, vocabulary, ("customers", "events", "surveys")))


def model_config(tmp_path: Path, **overrides):
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["scoring"]["capacity"] = 300
    # one candidate keeps each tiny training to 3 fits; tests/models/test_backtest.py compares several
    raw["training"]["backtest"] = {"candidates": ["default"]}
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        raw[section][key] = value
    return parse_config(raw, base=tmp_path)
