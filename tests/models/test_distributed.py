"""Training on a Dask cluster (models.distributed): the same gate and the same pyfunc as a local fit."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from models.boosting import train_booster
from models.distributed import ClusterFit, log_loss_curve, row_bounds
from models.pyfunc import load_bundle
from models.registry import CHAMPION, log_and_register
from models.train import train_models
from tests.models.conftest import make_survey_frame, make_training_frame, model_config


@pytest.mark.parametrize(
    ("rows", "partitions", "expected"),
    [
        (10, 2, [(0, 5), (5, 10)]),
        (10, 3, [(0, 3), (3, 7), (7, 10)]),
        (3, 8, [(0, 1), (1, 2), (2, 3)]),  # never an empty piece
        (0, 4, []),
    ],
)
def test_rows_are_cut_into_contiguous_non_empty_pieces(rows, partitions, expected):
    assert row_bounds(rows, partitions) == expected


def _binary(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] - 2 + 0.5 * X[:, 1])))).astype(int)
    return X, y


@pytest.mark.parametrize("weighted", [False, True])
def test_the_stopping_rule_picks_the_round_lightgbms_early_stopping_picks(weighted):
    X, y = _binary(0, 6000)
    w = np.random.default_rng(1).uniform(0.5, 2.0, 6000) if weighted else None
    train, valid = slice(0, 4000), slice(4000, 6000)
    fit = dict(seed=1, params={"learning_rate": 0.2}, weight=None if w is None else w[train])
    stopped = train_booster(X[train], y[train], ["a", "b", "c", "d"], [], valid=(X[valid], y[valid]), valid_weight=None if w is None else w[valid], **fit)
    grown = train_booster(X[train], y[train], ["a", "b", "c", "d"], [], num_boost_round=1000, **fit)  # what the cluster grows
    best, losses = log_loss_curve(grown, X[valid], y[valid], None if w is None else w[valid], patience=100)
    assert 0 < best == stopped.best_iteration < 1000
    assert len(losses) == best + 100  # stopped looking where early stopping stops


def test_the_cluster_refuses_early_stopping_on_another_metric_before_any_work():
    X, y = _binary(0, 100)
    with pytest.raises(ValueError, match="binary_logloss"):
        ClusterFit(client=None, partitions=2)(X, y, ["a", "b", "c", "d"], [], seed=1, valid=(X, y), metric="auc")


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.mark.slow
def test_a_model_trained_on_the_cluster_passes_the_gate_and_scores_through_the_same_pyfunc(tmp_path, spec, client):
    world = make_training_frame(seed=0, n=3000, dates=6)
    surveys = make_survey_frame()[0]
    local = train_models(world, spec, model_config(tmp_path / "local"), surveys)
    config = model_config(tmp_path / "cluster")
    on_cluster = train_models(world, spec, config, surveys, fit_booster=ClusterFit(client, partitions=4))

    # two workers grew the trees: data-parallel, not a local fit in disguise
    booster = on_cluster.bundle.churn.booster_
    assert booster.params["tree_learner"] == "data"
    assert not {"machines", "num_machines", "local_listen_port"} & set(booster.params)
    assert on_cluster.bundle.churn.best_iteration_ == local.bundle.churn.best_iteration_  # rounds from the same backtest

    # the same gate: the cluster's model beats every baseline and is registered as champion
    test = world.filter(pl.col("as_of") == on_cluster.split.test)
    registered = log_and_register(config, on_cluster, test)
    assert registered.decision.promoted, registered.decision.reason
    m, l = on_cluster.metrics, local.metrics
    for metric, tolerance in (("test_pr_auc", 0.03), ("test_roc_auc", 0.02), ("satisfaction_roc_auc", 0.03)):
        assert abs(m[metric] - l[metric]) < tolerance, (metric, m[metric], l[metric])
    assert abs(m["estimated_population_score"] - l["estimated_population_score"]) < 0.1

    # one URI, the same pyfunc: the registered model scores as the in-process bundle, close to the local model
    loaded = load_bundle(f"models:/{config.registered_model_name}@{CHAMPION}")
    scored = loaded.predict(test)
    assert_frame_equal(scored, on_cluster.bundle.predict(test))
    reference = local.bundle.predict(test)
    for column in ("churn_probability", "dissatisfaction_probability"):
        assert np.corrcoef(scored[column].to_numpy(), reference[column].to_numpy())[0, 1] > 0.97, column
