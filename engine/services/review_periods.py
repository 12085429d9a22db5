"""The six-month periods of the periodic review: the cycle, the period under review and its baseline (OOS-20).

The review cycle is ``R/<UTC start>/P6M`` (default ``R/2026-01-01T00:00:00Z/P6M``): every six months from
its start. A review covers one ended period; the ``baseline_periods`` six-month periods before it are its
comparator baseline and give the control limits.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta

from engine.domain.trends import Period, six_monthly_periods
from engine.services.errors import InvalidData

_CYCLE = re.compile(r"^R\d*/(?P<anchor>[^/]+)/P6M$")


def cycle_anchor(cycle: str) -> datetime:
    """The first period start of an ``R/<start>/P6M`` cycle (OOS-20: the review is every six months)."""
    match = _CYCLE.match(cycle.strip())
    if not match:
        raise InvalidData(f"review cycle '{cycle}' must be 'R/<UTC start>/P6M' (OOS-20: every six months)")
    try:
        anchor = datetime.fromisoformat(match["anchor"])
    except ValueError as exc:
        raise InvalidData(f"review cycle '{cycle}': {exc}") from exc
    if anchor.tzinfo is None:
        raise InvalidData(f"review cycle '{cycle}': the start needs a time zone (e.g. Z)")
    return anchor.astimezone(UTC)


def latest_ended_period(cycle: str, now: datetime) -> Period | None:
    """The last six-month period of the cycle that has ended by ``now`` (None before the first one ends)."""
    periods = six_monthly_periods(cycle_anchor(cycle), now)
    return periods[-1] if periods else None


def period_from_days(first_day: date, last_day: date) -> Period:
    """The period covering ``first_day`` to ``last_day`` inclusive, as UTC ``[start, end)``."""
    if last_day < first_day:
        raise InvalidData(f"the period ends ({last_day}) before it starts ({first_day})")
    end = datetime.combine(last_day + timedelta(days=1), time(0), UTC)
    return Period(datetime.combine(first_day, time(0), UTC), end)


def _months_before(moment: datetime, months: int) -> datetime:
    """Calendar months earlier, the day clamped to the month's length."""
    total = moment.month - 1 - months
    year, month = moment.year + total // 12, total % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def review_periods(current: Period, baseline_periods: int) -> list[Period]:
    """The ``baseline_periods`` six-month periods before ``current`` (the comparator baseline), then ``current``."""
    baseline = six_monthly_periods(_months_before(current.start, 6 * baseline_periods), current.start)
    return [*baseline[-baseline_periods:], current] if baseline_periods else [current]


__all__ = ["cycle_anchor", "latest_ended_period", "period_from_days", "review_periods"]
