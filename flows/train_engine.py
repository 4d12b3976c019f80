"""Where the boosters of a training run grow: here (``engine.kind: local``) or on a Dask cluster (``dask``).

With ``dask`` the churn model's final refit and the survey response and satisfaction boosters are
fitted with ``lightgbm.dask`` on the cluster at ``engine.address``, or on a LocalCluster started for
the run (one single-threaded worker per core, as the scoring engine starts, flows/engine.py); the
backtest's fits on samples, calibration, baselines and the gate stay in this process
(docs/scale.md, "Training on the cluster").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from configs.schema import EngineConfig
from models.boosting import train_booster


@contextmanager
def booster_fit(engine: EngineConfig, log=None) -> Iterator:
    """``train_booster`` for the local engine; a ``models.distributed.ClusterFit`` bound to a cluster for Dask."""
    if engine.kind != "dask":
        yield train_booster
        return
    from distributed import Client, LocalCluster

    from flows.engine import local_cluster_kwargs
    from models.distributed import ClusterFit

    cluster = None if engine.address else LocalCluster(dashboard_address=":0", **local_cluster_kwargs())
    client = Client(engine.address) if engine.address else Client(cluster)
    try:
        if log is not None:
            log.info("training on the Dask cluster %s (%s workers); dashboard %s",
                     client.scheduler.address, len(client.scheduler_info()["workers"]), client.dashboard_link)
        yield ClusterFit(client, engine.partitions)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
