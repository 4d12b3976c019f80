"""Out-of-time splits of snapshot dates: the latest is the test; walk-forward folds choose the model before it.

``TimeSplit.valid`` is the newest training snapshot: the last backtest fold, and the date up to which
a registered model has seen outcomes (its labels end at valid + label_days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from features.sufficiency import CannotTrain


@dataclass(frozen=True)
class TimeSplit:
    train: tuple[date, ...]
    valid: date
    test: date
    label_days: int  # horizon + grace: how long after as_of a label keeps looking

    @property
    def history(self) -> tuple[date, ...]:
        """Every snapshot before the test one: the final model's rows (each label window closes by the test as-of)."""
        return (*self.train, self.valid)

    def label_end(self, as_of: date) -> date:
        return as_of + timedelta(days=self.label_days)

    def as_params(self) -> dict[str, str]:
        return {
            "split_train_dates": ",".join(d.isoformat() for d in self.train),
            "split_valid_date": self.valid.isoformat(),
            "split_test_date": self.test.isoformat(),
        }


def split_by_time(dates: list[date], label_days: int) -> TimeSplit:
    """Split snapshot dates by time, never at random.

    Embargo: a snapshot's label window [D, D + label_days) must end at or before the first as_of
    of the split after it, so no outcome observed during validation or test informs what precedes it.
    Training snapshots that break the embargo are left out.
    """
    ordered = sorted(set(dates))
    if len(ordered) < 4:
        raise CannotTrain(
            f"cannot train: need at least 4 snapshot dates with labels (2 to train on, 1 to validate, 1 to test), got "
            f"{len(ordered)} ({', '.join(map(str, ordered)) or 'none'}); provide more history or raise training.snapshots"
        )
    test, valid = ordered[-1], ordered[-2]
    if valid + timedelta(days=label_days) > test:
        raise CannotTrain(
            f"cannot train: validation snapshot {valid} labels run until {valid + timedelta(days=label_days)}, past the test "
            f"snapshot {test}: training.step_days must be >= churn.horizon_days + churn.grace_days"
        )
    train = tuple(d for d in ordered[:-2] if d + timedelta(days=label_days) <= valid)
    if len(train) < 2:
        raise CannotTrain(
            f"cannot train: fewer than 2 training snapshots respect the embargo before {valid}: {ordered[:-2]}; "
            "training.step_days must be >= churn.horizon_days + churn.grace_days"
        )
    return TimeSplit(train=train, valid=valid, test=test, label_days=label_days)


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: predict the snapshot at ``as_of`` from models fitted on ``train``."""

    as_of: date
    train: tuple[date, ...]


def walk_forward(dates: list[date], label_days: int, folds: int) -> tuple[Fold, ...]:
    """The last ``folds`` snapshot dates that have earlier training data, each with that data.

    Embargo as in :func:`split_by_time`: a snapshot D trains a fold only when its label window
    [D, D + label_days) has closed by the fold's as_of, so no outcome seen at or after the as-of
    informs the model that predicts it.
    """
    ordered = sorted(set(dates))
    eligible = [Fold(as_of, tuple(d for d in ordered if d + timedelta(days=label_days) <= as_of)) for as_of in ordered]
    return tuple(f for f in eligible if f.train)[-folds:]
