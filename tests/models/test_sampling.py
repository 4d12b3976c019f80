"""The fits' samples (models/sampling.py): which rows, how many, the same for a seed."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from models.sampling import customer_sample, rows_on, uniform_rows, uniform_rows_on, uniform_sample
from tests.models.conftest import make_training_frame


@pytest.fixture(scope="module")
def world():
    return make_training_frame(seed=5, n=2000, dates=5)


@pytest.mark.parametrize(("n", "max_rows"), [(0, 5), (5, 5), (4, 5), (1, 1)])
def test_uniform_rows_at_or_under_the_cap_are_every_row_in_order(n, max_rows):
    assert uniform_rows(n, max_rows, seed=3).tolist() == list(range(n))


def test_uniform_rows_over_the_cap_are_the_cap_distinct_rows_in_order_the_same_for_a_seed():
    rows = uniform_rows(10_000, 1_000, seed=3)
    assert len(rows) == 1_000 and len(np.unique(rows)) == 1_000
    assert (np.diff(rows) > 0).all() and rows.min() >= 0 and rows.max() < 10_000
    assert np.array_equal(rows, uniform_rows(10_000, 1_000, seed=3))
    assert not np.array_equal(rows, uniform_rows(10_000, 1_000, seed=4))
    assert 0.4 < (rows < 5_000).mean() < 0.6  # uniform: as many from each half


def test_customer_sample_keeps_whole_histories_of_the_dates(world):
    dates = tuple(world["as_of"].unique().sort()[:3])
    sample = customer_sample(world, dates, 3000, seed=1)
    assert 0.5 * 3000 < sample.height < 1.5 * 3000 and set(sample["as_of"]) == set(dates)
    per_customer = sample.group_by("customer_id").len()["len"]
    assert (per_customer == len(dates)).all()  # every snapshot of a sampled customer
    assert customer_sample(world, dates, 3000, seed=2)["customer_id"].unique().sort().to_list() != sample["customer_id"].unique().sort().to_list()
    everything = customer_sample(world, dates, world.height, seed=1)  # under the cap: every row of those dates
    assert_frame_equal(everything, world.filter(pl.col("as_of").is_in(list(dates))))


def test_uniform_sample_takes_the_cap_of_the_dates_rows_in_frame_order(world):
    dates = tuple(world["as_of"].unique().sort()[1:4])
    on_dates = world.filter(pl.col("as_of").is_in(list(dates)))
    assert rows_on(world, dates) == on_dates.height == 6000
    sample = uniform_sample(world, dates, 1500, seed=7)
    assert sample.height == 1500 and set(sample["as_of"]) <= set(dates)
    assert_frame_equal(sample, on_dates.join(sample.select("as_of", "customer_id"), on=["as_of", "customer_id"], how="semi"))  # rows of the frame, in its order
    assert sample.select("as_of", "customer_id").is_unique().all()
    assert abs(sample["churned"].mean() - on_dates["churned"].mean()) < 0.05  # the base rate kept
    assert_frame_equal(uniform_sample(world, dates, 1500, seed=7), sample)
    assert_frame_equal(uniform_sample(world, dates, 6000, seed=7), on_dates)  # at the cap: every row of the dates


def test_a_matrix_of_sampled_rows_is_the_matrix_of_the_sampled_frame(world):
    """Gathered column by column (the frame never copied), with a null and a column the frame lacks as NaN."""
    from models.boosting import training_matrix

    frame = world.with_columns(pl.when(pl.col("churned")).then(None).otherwise(pl.col("as_of").dt.day()).cast(pl.Int32).alias("gappy"))
    features = [c for c in frame.columns if c not in ("as_of", "customer_id", "churned")] + ["absent"]
    rows = uniform_rows_on(frame, tuple(frame["as_of"].unique()), 777, seed=2)
    gathered = training_matrix(frame, features, rows)
    assert gathered.dtype == np.float32 and gathered.shape == (777, len(features))
    np.testing.assert_array_equal(gathered, training_matrix(frame[rows], features))  # NaN where NaN
    assert np.isnan(gathered[:, -1]).all() and np.isnan(gathered[:, features.index("gappy")]).any()
