"""LightGBM on a Dask cluster: the boosters of models.boosting, fitted with ``lightgbm.dask``.

``ClusterFit`` is a drop-in for :func:`models.boosting.train_booster` (same arguments, same
parameters, an ``lgb.Booster`` back), so the churn, response and satisfaction models, their
calibration, the registered pyfunc and local scoring do not know where their trees were grown
(docs/scale.md, "Training on the cluster").

Rows reach the workers as one piece per partition (``engine.partitions``), spread over the
workers; LightGBM's data-parallel learner builds each tree from every worker's histograms. The
model is not bit-identical to a local fit on the same rows (each worker bins its own share of the
features, and bagging draws per worker) but is the same model within noise.

``lightgbm.dask`` cannot stop early (lightgbm-org/LightGBM#4189; workers that stop at different
rounds hang, #6351). A fit that asks for early stopping is therefore grown to the round cap on the
cluster and cut here, on the validation rows, by the rule ``lgb.early_stopping`` applies: the best
round by the stopping metric, once ``patience`` rounds bring no improvement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from models.boosting import EARLY_STOPPING_ROUNDS, NUM_BOOST_ROUND, STOPPING_METRIC, booster_params

# Network settings the master worker leaves in its booster: meaningless off the cluster.
_NETWORK_PARAMS = ("machines", "local_listen_port", "num_machines", "time_out", "num_threads")


def _pieces(client, values: np.ndarray, bounds: list[tuple[int, int]]):
    """A dask array of ``values`` from one scattered piece per partition (round-robin over the workers)."""
    import dask
    import dask.array as da

    blocks = [values[a:b] for a, b in bounds]
    futures = client.scatter(blocks)  # a list is spread over the workers
    arrays = [
        da.from_delayed(dask.delayed(f), shape=block.shape, dtype=block.dtype)
        for f, block in zip(futures, blocks, strict=True)
    ]
    return da.concatenate(arrays, axis=0)


def row_bounds(rows: int, partitions: int) -> list[tuple[int, int]]:
    """``partitions`` contiguous, non-empty row ranges covering [0, rows) (fewer when rows are few)."""
    count = max(1, min(partitions, rows))
    edges = np.linspace(0, rows, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def log_loss_curve(booster: lgb.Booster, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None, patience: int) -> tuple[int, list[float]]:
    """Weighted log loss of ``booster`` on (X, y) after each round, stopping as ``lgb.early_stopping`` would.

    Returns the best round (1-based, as ``Booster.best_iteration``) and the losses computed.
    """
    y = np.asarray(y, dtype=float)
    w = np.ones_like(y) if weight is None else np.asarray(weight, dtype=float)
    raw = np.zeros(len(y))
    losses: list[float] = []
    best, best_loss = 0, np.inf
    for i in range(booster.current_iteration()):
        raw += booster.predict(X, raw_score=True, start_iteration=i, num_iteration=1)
        p = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1 - 1e-15)
        loss = float(-np.sum(w * (y * np.log(p) + (1 - y) * np.log1p(-p))) / np.sum(w))
        losses.append(loss)
        if loss < best_loss:
            best, best_loss = i + 1, loss
        elif i + 1 - best >= patience:
            break
    return best, losses


@dataclass
class ClusterFit:
    """``train_booster`` on the cluster behind ``client`` (a ``distributed.Client``)."""

    client: Any
    partitions: int
    patience: int = EARLY_STOPPING_ROUNDS

    def __call__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        features: list[str],
        categorical: list[str],
        *,
        seed: int,
        params: dict[str, object] | None = None,
        weight: np.ndarray | None = None,
        valid: tuple[np.ndarray, np.ndarray] | None = None,
        valid_weight: np.ndarray | None = None,
        metric: str = STOPPING_METRIC,
        monotone: list[int] | None = None,
        num_boost_round: int | None = None,
    ) -> lgb.Booster:
        from lightgbm.dask import DaskLGBMClassifier

        if valid is not None and metric != STOPPING_METRIC:
            raise ValueError(f"on the cluster early stopping is computed on {STOPPING_METRIC} only, not {metric!r}")
        merged = booster_params(seed=seed, params=params, metric=metric, monotone=monotone)
        # LightGBM drops features it judges unsplittable under min_data_in_leaf when it bins them, and on
        # a cluster each worker judges from its own share of the rows: with 1,300 survey answers over two
        # workers (min_data_in_leaf 300) that cost the satisfaction model 0.08 of held-out ROC-AUC
        merged.setdefault("feature_pre_filter", False)
        rounds = int(merged.pop("num_iterations", None) or merged.pop("n_estimators", None) or num_boost_round or NUM_BOOST_ROUND)
        bounds = row_bounds(len(y), self.partitions)
        data = _pieces(self.client, np.ascontiguousarray(X, dtype=np.result_type(X.dtype, np.float32)), bounds)
        label = _pieces(self.client, np.asarray(y, dtype=np.int32), bounds)
        sample_weight = None if weight is None else _pieces(self.client, np.asarray(weight, dtype=np.float64), bounds)
        model = DaskLGBMClassifier(client=self.client, n_estimators=rounds, **merged)
        model.fit(data, label, sample_weight=sample_weight, feature_name=features, categorical_feature=categorical)
        booster = model.to_local().booster_
        if valid is not None:
            best, _ = log_loss_curve(booster, valid[0], valid[1], valid_weight, self.patience)
            # lgb.train returns the booster cut at its best round; so does this
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
            booster.best_iteration = best
        for key in _NETWORK_PARAMS:
            booster.params.pop(key, None)
        return booster
