"""Batch outcomes and six-monthly review periods: what the periodic review counts, and when (OOS-20, OOS-21).

Why this exists: the periodic review (:mod:`engine.domain.trends`) judges batches
by their outcome in a review period. This module holds the record of one batch
as the review sees it and the periods it is placed in; it reads no files, no
database and no clock.

* **Which batches count in a period**: a batch belongs to the period that
  contains its ``decided_at`` (release by the QP, or the exceptional-use
  decision for an OOS batch), periods being half-open ``[start, end)``.
* Naive datetimes are refused: which period a batch falls in depends on the
  time zone.
"""

from __future__ import annotations

import calendar
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from types import MappingProxyType
from typing import Literal, NamedTuple

Status = Literal["released", "oos_administered", "oos_not_administered"]
STATUSES: tuple[str, ...] = ("released", "oos_administered", "oos_not_administered")
OOS_STATUSES: frozenset[str] = frozenset({"oos_administered", "oos_not_administered"})


class TrendError(ValueError):
    """The input cannot be reviewed unambiguously (mixed products, overlapping periods, bad values).

    Raised instead of guessing, because a wrong review would misstate the
    quality record sent to EMA (OOS-20).
    """


def require_aware(moment: datetime, what: str) -> None:
    """Naive datetimes are refused: which period a batch falls in depends on the time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise TrendError(f"{what} must be timezone-aware (UTC), got naive {moment.isoformat()}")


class OosCategory(NamedTuple):
    """How one OOS finding is categorised in the review (OOS-21): type, attribute, severity.

    ``type`` is the kind of deviation (e.g. ``below lower limit``, the
    :class:`~engine.domain.specifications.OosReason` text); ``severity`` the QA
    classification (e.g. ``minor``, ``major``, ``critical``). A plain 3-tuple is
    accepted wherever a category is expected.
    """

    type: str
    attribute: str
    severity: str


@dataclass(frozen=True)
class BatchOutcome:
    """One batch as the periodic review sees it.

    ``decided_at`` is the release (QP certification) for a released batch, or the
    exceptional-use decision for an OOS batch: it places the batch in a period.
    ``results`` holds the numeric release results by attribute (``None`` when not
    reported); qualitative results (sterility, mycoplasma) appear only through
    ``oos_categories``. A released batch has no OOS category and an OOS batch has
    at least one, otherwise the record contradicts itself.
    """

    batch_id: str
    product_code: str
    decided_at: datetime
    status: Status
    results: Mapping[str, float | None] = field(default_factory=dict)
    oos_categories: tuple[OosCategory, ...] = ()

    def __post_init__(self) -> None:
        if not self.batch_id:
            raise TrendError("a batch outcome needs a batch id")
        require_aware(self.decided_at, f"batch {self.batch_id} decided_at")
        if self.status not in STATUSES:
            raise TrendError(f"batch {self.batch_id}: status {self.status!r} is not one of {', '.join(STATUSES)}")
        results: dict[str, float | None] = {}
        for attribute, value in dict(self.results).items():
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise TrendError(f"batch {self.batch_id}: result of {attribute} must be a number, got {value!r}")
                if not math.isfinite(value):
                    raise TrendError(f"batch {self.batch_id}: result of {attribute} must be finite, got {value!r}")
                value = float(value)
            results[attribute] = value
        categories = tuple(OosCategory(*category) for category in self.oos_categories)
        if self.status == "released" and categories:
            raise TrendError(f"batch {self.batch_id} is released to specification but has OOS categories")
        if self.status in OOS_STATUSES and not categories:
            raise TrendError(f"batch {self.batch_id} is {self.status} but names no OOS category")
        object.__setattr__(self, "results", MappingProxyType(results))
        object.__setattr__(self, "oos_categories", categories)

    @property
    def is_oos(self) -> bool:
        """True for an OOS batch, administered or not."""
        return self.status in OOS_STATUSES

    @property
    def failed_attributes(self) -> frozenset[str]:
        """Attributes this batch failed (an attribute failed twice still counts once)."""
        return frozenset(category.attribute for category in self.oos_categories)


def in_decision_order(batches: Iterable[BatchOutcome]) -> list[BatchOutcome]:
    """Time order of decision; the batch id breaks ties so the order never depends on input order."""
    return sorted(batches, key=lambda b: (b.decided_at, b.batch_id))


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar month arithmetic; the day is clamped to the month's length (31 Aug + 6 months = 28/29 Feb)."""
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Period:
    """A review period ``[start, end)``: half-open so that a batch decided at midnight belongs to one period."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        require_aware(self.start, "period start")
        require_aware(self.end, "period end")
        if self.end <= self.start:
            raise TrendError(f"period end {self.end.isoformat()} is not after its start {self.start.isoformat()}")

    def contains(self, moment: datetime) -> bool:
        """True when ``start <= moment < end``."""
        return self.start <= moment < self.end

    @property
    def label(self) -> str:
        """``2025-H2`` for calendar half-years, otherwise the first and last day covered."""
        half_year = self.start.day == 1 and self.start.month in (1, 7) and self.start.time() == time(0)
        if half_year and self.end == add_months(self.start, 6):
            return f"{self.start.year}-H{1 if self.start.month == 1 else 2}"
        last_day = (self.end - timedelta(microseconds=1)).date()
        return f"{self.start.date().isoformat()} to {last_day.isoformat()}"


def six_monthly_periods(start: datetime, end: datetime) -> list[Period]:
    """Consecutive six-month periods from ``start`` that end on or before ``end``.

    The review is every six months (OOS-20), so a trailing stretch shorter than
    six months is not a review period and is left out; it belongs to the next
    review.
    """
    require_aware(start, "start")
    require_aware(end, "end")
    periods: list[Period] = []
    step = 1
    period_start = start
    while (period_end := add_months(start, 6 * step)) <= end:
        periods.append(Period(period_start, period_end))
        period_start = period_end
        step += 1
    return periods


def check_periods(periods: Sequence[Period], what: str) -> None:
    """Refuses overlapping periods: a batch must count in one period only."""
    ordered = sorted(periods, key=lambda p: p.start)
    for earlier, later in itertools.pairwise(ordered):
        if later.start < earlier.end:
            raise TrendError(f"{what} overlap: {earlier.label} and {later.label}")


def period_of(moment: datetime, periods: Sequence[Period]) -> Period | None:
    """The period containing ``moment``, or None when it lies outside all of them."""
    return next((period for period in periods if period.contains(moment)), None)


__all__ = [
    "OOS_STATUSES",
    "STATUSES",
    "BatchOutcome",
    "OosCategory",
    "Period",
    "Status",
    "TrendError",
    "add_months",
    "check_periods",
    "in_decision_order",
    "period_of",
    "require_aware",
    "six_monthly_periods",
]
