"""Survey invitations paired with the features known when they were sent, for the response and
satisfaction models.

Each invitation is paired with the features as of its own sending day D: everything strictly
before D 00:00 (``schedule.timezone``), so an event on D - 1 is seen and one on D, like the answer
itself, is not. Only invitations old enough to have been answered (``survey.response_window_days``)
count: a younger unanswered one is not yet "ignored". Invitations to customers not eligible on
their sending day (not yet signed up, already gone) have no features and are left out of this
training sample; the input data is untouched.

Cost: features are per customer, so the features of the customers invited on a few days are
built from those customers' rows only. Sending days are taken in blocks of at most
``DAYS_PER_BLOCK`` days and ``INVITEES_PER_BLOCK`` customers: every table is cut to the block's
invitees once, and each sending day is then built from that cut, restricted again to that day's
invitees by binary search in the cut (docs/satisfaction-model.md, "Cost").
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from configs import Config
from features.catalog import FeatureSchema
from features.population import Tables, lazy
from features.snapshots import build_features
from features.timeline import EPOCH, day_number, local_day

KEYS = ["as_of", "customer_id"]
DAYS_PER_BLOCK = 28  # sending days whose invitees share one cut of the tables
# customers in one cut: bounds its memory (~1 GB of events at a million customers); each cut reads every
# table whole, so fewer, larger cuts are cheaper, and a day's rows are found in one by binary search (_take)
INVITEES_PER_BLOCK = 250_000
ROW = "_row"  # a row's position in its table: a day's rows are taken back in the table's order (same sums, same bits)
DAYS_PER_BUILD = 1  # sending days per feature build inside a block (1: no customer is built at a day they were not invited)


def matured_invitations(tables: Tables, config: Config, first: date, observed_until: date) -> pl.DataFrame:
    """as_of (the local sending day), customer_id, sent_at, responded, score of every invitation
    sent from ``first`` to the last day whose answer window has closed by ``observed_until``."""
    tz = config.schedule.timezone
    horizon_day = day_number(observed_until)
    last_sendable = day_number(observed_until - timedelta(days=config.survey.response_window_days))
    return (
        lazy(tables, "surveys")
        .with_columns(_sent_day=local_day("sent_at", tz))
        .filter(pl.col("_sent_day").is_between(day_number(first), last_sendable, closed="left"))
        .with_columns(
            # an answer counts only if it was given before the data ends (always true for clean data)
            responded=pl.col("responded_at").is_not_null() & (local_day("responded_at", tz) < horizon_day),
            as_of=pl.lit(EPOCH) + pl.duration(days=pl.col("_sent_day")),
        )
        .select(pl.col("as_of").cast(pl.Date), "customer_id", "sent_at", "responded", score=pl.when("responded").then(pl.col("score")))
        .sort("sent_at", "customer_id")
        .collect()
    )


def _cut(tables: Tables, customers: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Every table's rows of ``customers`` only, in memory, sorted by customer_id with each row's
    position in the table (``_row``), for :func:`_take`."""
    ids = customers.lazy()
    return {
        name: lazy(tables, name).join(ids, on="customer_id", how="semi", maintain_order="left").with_row_index(ROW).sort("customer_id", maintain_order=True).collect()
        for name in tables
    }


def _take(cut: dict[str, pl.DataFrame], customers: pl.Series) -> dict[str, pl.DataFrame]:
    """The rows of ``customers`` from a :func:`_cut`, in the table's own order: found by binary
    search in the sorted cut, where a join would scan all of it once per sending day."""
    wanted = customers.unique().sort()
    taken = {}
    for name, frame in cut.items():
        ids = frame["customer_id"]
        low = ids.search_sorted(wanted, side="left").to_numpy().astype(np.int64)
        count = ids.search_sorted(wanted, side="right").to_numpy().astype(np.int64) - low
        offset = np.repeat(low - (np.cumsum(count) - count), count)  # customer i's rows: low_i + 0..count_i - 1
        rows = frame[offset + np.arange(int(count.sum()), dtype=np.int64)]
        taken[name] = rows.sort(ROW).drop(ROW)
    return taken


def _whole(cut: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """A cut as the tables it came from: every row, in the table's own order."""
    return {name: frame.sort(ROW).drop(ROW) for name, frame in cut.items()}


def _blocks(pairs: pl.DataFrame, days: int, invitees: int) -> list[pl.DataFrame]:
    """(as_of, customer_id) pairs split into runs of consecutive sending days, at most ``days``
    days and (but for a single day) ``invitees`` distinct customers each."""
    per_day = pairs.group_by("as_of", maintain_order=True).len()
    blocks, current, count = [], [], 0
    for day, n in per_day.iter_rows():
        if current and (len(current) >= days or count + n > invitees):
            blocks.append(current)
            current, count = [], 0
        current.append(day)
        count += n
    if current:
        blocks.append(current)
    return [pairs.filter(pl.col("as_of").is_in(block)) for block in blocks]


def invitation_features(tables: Tables, config: Config, schema: FeatureSchema, pairs: pl.DataFrame) -> pl.DataFrame:
    """Features of each (as_of, customer_id) in ``pairs`` as of that date, for the eligible ones;
    identical to ``build_features`` over all eligible customers at those dates, cut to ``pairs``."""
    pairs = pairs.select(KEYS).unique().sort(KEYS)
    built = []
    for block in _blocks(pairs, DAYS_PER_BLOCK, INVITEES_PER_BLOCK):
        cut = _cut(tables, block.select("customer_id").unique())
        for part in _blocks(block, DAYS_PER_BUILD, INVITEES_PER_BLOCK):
            dates = part["as_of"].unique().sort().to_list()
            narrow = _take(cut, part["customer_id"]) if len(dates) < block["as_of"].n_unique() else _whole(cut)
            built.append(build_features(narrow, config, dates, schema, only=part))
    if not built:
        return build_features(tables, config, [], schema, only=pairs)
    return pl.concat(built, how="vertical")


def build_invitation_frame(tables: Tables, config: Config, schema: FeatureSchema, first: date, observed_until: date) -> pl.DataFrame | None:
    """as_of, customer_id, sent_at, responded, score, features… for every matured invitation since
    ``first``, features as of its own sending day; sorted by sent_at, customer_id. None without
    surveys or without two sending days."""
    if "surveys" not in tables:
        return None
    invitations = matured_invitations(tables, config, first, observed_until)
    if invitations["as_of"].n_unique() < 2:
        return None
    features = invitation_features(tables, config, schema, invitations.select(KEYS))
    return invitations.join(features, on=KEYS, how="inner").sort("sent_at", "customer_id")
