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
invitees by an integer code per customer (docs/satisfaction-model.md, "Cost").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from configs import Config
from features.catalog import FeatureSchema
from features.population import Tables, lazy
from features.snapshots import build_features
from features.timeline import EPOCH, day_number, local_day

KEYS = ["as_of", "customer_id"]
DAYS_PER_BLOCK = 28  # sending days whose invitees share one cut of the tables
# customers in one cut: bounds its memory (~1 GB of events at a million customers); each cut reads every
# table whole, so fewer, larger cuts are cheaper, and a day's rows are found in one by integer code (_Cut)
INVITEES_PER_BLOCK = 250_000
CODE = "_customer_code"  # a customer's position in its block: a day's rows are found by integers, not ids
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


@dataclass(frozen=True)
class _Cut:
    """Every table's rows of a block's invitees, in memory, each row tagged with a small integer code
    of its customer (``CODE``): a day's invitees are then found by that code, not by their ids."""

    codes: pl.DataFrame  # customer_id, CODE
    tables: dict[str, pl.DataFrame]

    def take(self, customers: pl.Series) -> dict[str, pl.DataFrame]:
        """The rows of ``customers``, in each table's own order (so the same sums, the same bits)."""
        wanted = self.codes.join(customers.to_frame("customer_id"), on="customer_id", how="semi")[CODE]
        return {name: frame.filter(pl.col(CODE).is_in(wanted.implode())).drop(CODE) for name, frame in self.tables.items()}

    def whole(self) -> dict[str, pl.DataFrame]:
        return {name: frame.drop(CODE) for name, frame in self.tables.items()}


def _cut(tables: Tables, customers: pl.DataFrame) -> _Cut:
    """Every table's rows of ``customers`` only, in memory: one read of each table."""
    codes = customers.select("customer_id").unique(maintain_order=True).with_row_index(CODE)
    return _Cut(codes, {name: lazy(tables, name).join(codes.lazy(), on="customer_id", how="inner", maintain_order="left").collect() for name in tables})


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
            narrow = cut.take(part["customer_id"]) if len(dates) < block["as_of"].n_unique() else cut.whole()
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
    # invitations come sorted: a join that keeps their order spares a sort's copy of the frame (~2 GB at
    # 1M customers), and the flag it sets lets a later sort by sent_at return the frame as it is
    return invitations.join(features, on=KEYS, how="inner", maintain_order="left").with_columns(pl.col("sent_at").set_sorted())
