"""The churn model's linear half: directions kept, exact contributions, a row's score independent of its batch;
and the backtest's choice of how much of it the score holds."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score

from models.backtest import BOOSTER_WEIGHTS, blend, run_backtest
from models.churn import ChurnModel
from models.linear import MonotoneLogistic
from models.split import walk_forward
from tests.models.conftest import model_config

FEATURES = ["tickets", "usage", "noise", "plan"]


def linear_world(seed: int, n: int, flipped: bool = False):
    """Churn logistic in two features; ``flipped``: tickets truly lower churn (against its catalog direction +1)."""
    rng = np.random.default_rng(seed)
    tickets = rng.poisson(1.5, n).astype(float)
    usage = rng.normal(0, 1, n)
    usage[rng.random(n) < 0.2] = np.nan  # missing: the flag's term carries it
    noise = rng.normal(0, 1, n)
    plan = rng.integers(0, 3, n).astype(float)
    sign = -1.0 if flipped else 1.0
    logit = -2.5 + sign * 0.6 * tickets - 0.8 * np.nan_to_num(usage, nan=1.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return np.column_stack([tickets, usage, noise, plan]), y


DIRECTIONS = [1, -1, 0, 0]


def test_a_coefficient_never_crosses_its_catalog_direction():
    X, y = linear_world(1, 20_000, flipped=True)  # the data says more tickets, less churn
    model = MonotoneLogistic(FEATURES, ["plan"], DIRECTIONS).fit(X, y)
    assert model.coef_[0] == 0.0  # bounded at 0 instead of going negative
    free = MonotoneLogistic(FEATURES, ["plan"], [0, 0, 0, 0]).fit(X, y)
    assert free.coef_[0] < -0.1  # unbounded, it follows the data
    contributions = model.contributions(X)
    assert np.all(contributions[:, 0] == 0.0)  # so tickets never give a reason either way


def test_it_ranks_as_well_as_the_truth_allows_on_a_linear_world():
    X, y = linear_world(2, 20_000)
    Xt, yt = linear_world(3, 20_000)
    model = MonotoneLogistic(FEATURES, ["plan"], DIRECTIONS).fit(X, y)
    truth = 0.6 * Xt[:, 0] - 0.8 * np.nan_to_num(Xt[:, 1], nan=1.0)
    assert model.converged_
    assert roc_auc_score(yt, model.margin(Xt)) > roc_auc_score(yt, truth) - 0.01
    assert model.coef_[0] > 0 and model.coef_[1] < 0


def test_contributions_are_exact_and_a_rows_score_does_not_depend_on_its_batch():
    X, y = linear_world(4, 5_000)
    model = MonotoneLogistic(FEATURES, ["plan"], DIRECTIONS).fit(X, y)
    c = model.contributions(X)
    assert c.shape == (len(X), len(FEATURES) + 1) and np.all(c[:, 3] == 0.0)  # categoricals are the trees' part
    assert np.allclose(c.sum(axis=1), model._design(X) @ model.coef_ + model.intercept_, atol=1e-12)
    # the training mean of every term is 0: the bias is the average customer's log-odds
    assert np.allclose(c[:, :-1].mean(axis=0), 0.0, atol=1e-9)
    margin = model.margin(X)
    alone = np.array([model.margin(X[i : i + 1])[0] for i in range(0, len(X), 499)])
    assert np.array_equal(alone, margin[::499])  # bit for bit: engines score different batches


def test_a_blended_churn_models_contributions_add_up_to_its_score():
    X, y = linear_world(5, 8_000)
    raw = np.full(len(y), y.mean())
    blended = ChurnModel(FEATURES, ["plan"], monotone=DIRECTIONS, num_boost_round=50, booster_weight=0.5).fit(X, y, raw, y)
    trees = ChurnModel(FEATURES, ["plan"], monotone=DIRECTIONS, num_boost_round=50).fit(X, y, raw, y)
    assert trees.linear_ is None and blended.linear_ is not None
    p = blended.predict_raw(X)
    assert np.allclose(blended.contributions(X).sum(axis=1), np.log(p / (1 - p)), atol=1e-9)
    # the booster is the same fit in both; the blend moves the score halfway to the linear half
    margin_trees = np.log(trees.predict_raw(X) / (1 - trees.predict_raw(X)))
    assert np.allclose(np.log(p / (1 - p)), 0.5 * margin_trees + 0.5 * blended.linear_.margin(X), atol=1e-9)


def test_blend_truth_table():
    frame = pl.DataFrame({"p": [0.5, 0.2, 0.9], "m": [0.0, 2.0, -1.0]})
    got = frame.select(w1=blend(pl.col("p"), pl.col("m"), 1.0), w0=blend(pl.col("p"), pl.col("m"), 0.0), half=blend(pl.col("p"), pl.col("m"), 0.5))
    expit = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    logit = np.log(frame["p"].to_numpy() / (1 - frame["p"].to_numpy()))
    assert np.allclose(got["w1"], frame["p"]) and np.allclose(got["w0"], expit(frame["m"].to_numpy()))
    assert np.allclose(got["half"], expit(0.5 * logit + 0.5 * frame["m"].to_numpy()))


def snapshots(seed: int, n: int, dates: int, interacting: bool) -> pl.DataFrame:
    """A smooth additive world, or one where churn is an interaction the linear half cannot draw."""
    frames = []
    rng = np.random.default_rng(seed)
    for i in range(dates):
        X, _ = linear_world(seed * 100 + i, n)
        if interacting:
            logit = -2.5 + 3.0 * ((X[:, 0] >= 2) ^ (np.nan_to_num(X[:, 1], nan=0.0) > 0))
        else:
            logit = -2.5 + 0.6 * X[:, 0] - 0.8 * np.nan_to_num(X[:, 1], nan=1.0)
        y = rng.random(n) < 1 / (1 + np.exp(-logit))
        frames.append(pl.DataFrame({
            "as_of": [date(2025, 2, 1) + timedelta(days=30 * i)] * n, "customer_id": [f"C{j:05d}" for j in range(n)],
            "tickets_30d": X[:, 0], "usage_trend": X[:, 1], "noise": X[:, 2], "plan": X[:, 3].astype(int),
            "days_since_last_event": rng.exponential(5, n), "last_survey_score": np.full(n, np.nan), "churned": y,
        }).with_columns(pl.col("last_survey_score").fill_nan(None)))
    return pl.concat(frames)


def test_the_backtest_takes_the_linear_half_where_churn_is_additive_and_not_where_it_interacts(tmp_path, spec):
    config = model_config(tmp_path, training__backtest={"candidates": ["regularised"]})
    chosen = {}
    for interacting in (False, True):
        frame = snapshots(7, 3000, 5, interacting)
        folds = walk_forward(frame["as_of"].unique().to_list(), 30, 3)
        result = run_backtest(frame, folds, spec, config)
        assert set(result.per_weight) == set(BOOSTER_WEIGHTS) and all(len(v) == 3 for v in result.per_weight.values())
        means = {w: np.mean(v) for w, v in result.per_weight.items()}
        assert means[result.booster_weight] == max(means.values())
        chosen[interacting] = result.booster_weight
    assert chosen[False] < 1.0 and chosen[True] == 1.0


def test_the_linear_models_predict_a_chunk_of_rows_at_a_time_with_the_same_result(monkeypatch):
    """models/chunked.py: chunks of 333 rows give what one pass over all of them gives."""
    from models import chunked
    from models.baselines import LogisticBaseline

    X, y = linear_world(5, 5_000)
    linear = MonotoneLogistic(FEATURES, ["plan"], DIRECTIONS).fit(X, y)
    logistic = LogisticBaseline(FEATURES, ["plan"]).fit(X, y)
    whole = linear.margin(X), logistic.predict_proba(X)
    monkeypatch.setattr(chunked, "CHUNK_ROWS", 333)
    assert np.array_equal(linear.margin(X), whole[0])  # bit for bit: row-wise sums
    np.testing.assert_allclose(logistic.predict_proba(X), whole[1], rtol=1e-12, atol=0)


def test_in_chunks_passes_chunks_of_rows_in_order():
    from models.chunked import in_chunks

    seen = []
    out = in_chunks(lambda rows: seen.append(len(rows)) or rows[:, 0] * 2, np.arange(10.0).reshape(5, 2), chunk_rows=2)
    assert seen == [2, 2, 1] and out.tolist() == [0.0, 4.0, 8.0, 12.0, 16.0]
    seen.clear()
    assert in_chunks(lambda rows: seen.append(len(rows)) or rows[:, 0], np.ones((2, 1)), chunk_rows=2).tolist() == [1.0, 1.0] and seen == [2]
