"""Which booster fit a training run uses: this process's for the local engine, the cluster's for Dask."""

from __future__ import annotations

import pytest

from configs.schema import EngineConfig
from flows.train_engine import booster_fit
from models.boosting import train_booster


def test_the_local_engine_fits_in_this_process():
    with booster_fit(EngineConfig()) as fit:
        assert fit is train_booster


def test_the_dask_engine_fits_on_the_cluster_at_its_address():
    distributed = pytest.importorskip("distributed")
    from models.distributed import ClusterFit

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=None) as cluster:
        with booster_fit(EngineConfig(kind="dask", address=cluster.scheduler_address, partitions=3)) as fit:
            assert isinstance(fit, ClusterFit) and fit.partitions == 3
            assert fit.client.scheduler.address == cluster.scheduler_address
        assert fit.client.status == "closed"  # the run's client is closed; the cluster it joined is not its to stop
        assert cluster.status.name == "running"
