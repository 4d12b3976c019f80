"""Numbers, durations and labels as a person says them: the helpers a reason template names.

A reason template is ``str.format`` text whose fields may name a helper after the colon, so one
template says "1 support ticket" and "3 support tickets" (docs/reasons-and-flags.md):

=========================  =====================================================================
``{value:count:noun}``     a whole number and the noun, plural when not 1 ("noun|plural" when
                           the plural is not noun + s): "1 support ticket", "1,204 activities"
``{value:number}``         one decimal below 10, whole above: "2.5", "131", "1,234"
``{value:quantity:noun}``  a number that need not be whole and its noun: "2.7 support tickets",
                           "1 ticket" (weighted sums, :mod:`features.friction`)
``{value:amount}``         money-like: cents below 1,000 unless whole: "49.99", "1,250", "3.2 million"
``{value:percent}``        a share as a percentage: "45%"
``{value:minutes}`` etc.   a duration given in minutes, ``hours`` or ``days`` in the unit people
                           use: 1340 minutes is "22 hours"; days stay days up to a year
``{value:change:noun}``    a signed rate: "rising by 2 events a week", "falling by 1.5 …", "steady"
``{value:words}``          a label with underscores as spaces: "page_view" is "page view"
``{value:one_of:a=x;b=y}`` the phrase for a label (the label in words when not listed)
=========================  =====================================================================

Any other format spec is Python's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from string import Formatter

_LARGE = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))
# (unit, seconds in it, shown in this unit below this many seconds)
_UNITS = (
    ("second", 1.0, 90.0),
    ("minute", 60.0, 90 * 60.0),
    ("hour", 3600.0, 48 * 3600.0),
    ("day", 86400.0, 365 * 86400.0),
    ("year", 365.25 * 86400, math.inf),
)


def words(label: object) -> str:
    """A data label as words: underscores as spaces; braces and bars, which templates reserve,
    as their plain look-alikes."""
    text = str(label).replace("_", " ").replace("{", "(").replace("}", ")").replace("|", "/")
    return " ".join(text.split())


def plural(n: float, noun: str) -> str:
    """``noun`` ("ticket" or "delivery|deliveries") for ``n`` of them."""
    one, _, many = noun.partition("|")
    return one if n == 1 else (many or one + "s")


def _trimmed(value: float, digits: int) -> str:
    """``value`` with thousands separators and at most ``digits`` decimals, no trailing zeros."""
    value = round(value, digits) + 0.0  # + 0.0: no "-0"
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _large(value: float) -> str | None:
    """Millions and beyond as people say them ("3.2 million"), None below a million."""
    if abs(value) >= 1e15:
        return f"{value:.1e}"
    return next((f"{_trimmed(value / size, 1)} {name}" for size, name in _LARGE if abs(value) >= size), None)


def number(value: float) -> str:
    return _large(value) or _trimmed(value, 1 if abs(value) < 10 else 0)


def quantity(value: float, noun: str) -> str:
    shown = round(value, 1 if abs(value) < 10 else 0)  # as number() shows it: 1.04 is "1 ticket"
    return f"{number(value)} {plural(shown, noun)}"


def amount(value: float) -> str:
    if (large := _large(value)) is not None:
        return large
    if float(value).is_integer() or abs(value) >= 1000:
        return _trimmed(value, 0)
    return f"{value:,.2f}"


def count(value: float, noun: str = "") -> str:
    n = round(value)
    shown = _large(n) or f"{n:,}"
    return f"{shown} {plural(n, noun)}" if noun else shown


def percent(value: float) -> str:
    share = value * 100
    return f"{_large(share) or f'{round(share):,}'}%" if math.isfinite(share) else "an unknown share"


def duration(seconds: float, smallest: str = "second") -> str:
    """A duration in the largest unit that keeps it readable (see _UNITS), never below ``smallest``."""
    if not math.isfinite(seconds):  # a value of 1e308 days
        return "a very long time"
    units = _UNITS[[u for u, _, _ in _UNITS].index(smallest) :]
    unit, size, _ = next(u for u in units if abs(seconds) < u[2])
    n = seconds / size
    n = round(n, 1) if unit in ("day", "year") and abs(n) < 10 else round(n)
    return f"{_large(n) or _trimmed(n, 1)} {plural(n, unit)}"


def change(value: float, noun: str) -> str:
    n = round(value, 1) if abs(value) < 10 else round(value)
    if n == 0:
        return "steady"
    return f"{'rising' if n > 0 else 'falling'} by {_large(abs(n)) or _trimmed(abs(n), 1)} {plural(abs(n), noun)}"


def one_of(label: object, choices: str) -> str:
    phrases = dict(choice.split("=", 1) for choice in choices.split(";"))
    return phrases.get(str(label), words(label))


HELPERS: dict[str, Callable[[object, str], str]] = {
    "count": lambda v, arg: count(v, arg),
    "number": lambda v, arg: number(v),
    "quantity": lambda v, arg: quantity(v, arg),
    "amount": lambda v, arg: amount(v),
    "percent": lambda v, arg: percent(v),
    "minutes": lambda v, arg: duration(v * 60, "minute"),
    "hours": lambda v, arg: duration(v * 3600, "minute"),
    "days": lambda v, arg: duration(v * 86400, "day"),
    "change": lambda v, arg: change(v, arg),
    "words": lambda v, arg: words(v),
    "one_of": lambda v, arg: one_of(v, arg),
}


class _Phrasing(Formatter):
    def format_field(self, value: object, format_spec: str) -> str:
        name, _, arg = format_spec.partition(":")
        if name not in HELPERS:
            return super().format_field(value, format_spec)
        if isinstance(value, float) and not math.isfinite(value):
            return "an unknown number"  # features are finite (catalog.select_exprs); a guard, not a case
        return HELPERS[name](value, arg)


_PHRASING = _Phrasing()


def phrase(template: str, **fields: object) -> str:
    """``template`` with its fields filled in by the helpers above."""
    return _PHRASING.format(template, **fields)
