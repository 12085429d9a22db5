"""An attribute's I-MR control chart over released batches: phase I limits, phase II points (OOS-21 "drift").

Statistical choices:

* Individuals / moving-range (I-MR) chart per numeric attribute, on batches
  released to specification only, in order of decision. OOS batches are left
  out because each is investigated in its own case and one gross outlier would
  inflate the moving ranges, widen the limits and hide a drift.
* The limits are estimated from the *baseline* periods (default: every period
  before the current one) and then applied to the current period (a "phase I /
  phase II" chart): estimating them from the current period would let a drift
  move its own limits.
* Rules are evaluated over baseline and current points together (so a run that
  starts at the end of the baseline is seen); only events at current-period
  points open signals, baseline events are shown to judge the baseline itself.

One analysis, two sources: a chart's points are held as columns
(:class:`ChartSeries`: batch ids, decision times, values), and
:func:`chart_of_series` is the only place limits are set and rules run.
:func:`control_chart` builds the series from batch objects; the database path
(:mod:`engine.services.review_data`) reads the same columns from SQL and hands
them to the same function, so a review of 200,000 batches never builds one
object per point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from engine.domain.batch_outcomes import BatchOutcome, TrendError, in_decision_order
from engine.domain.control_rules import ControlLimits, RuleViolation, evaluate_rules, imr_limits

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ChartPoint:
    """One released batch's result on a control chart."""

    batch_id: str
    decided_at: datetime
    value: float
    in_current: bool


def as_datetime64(moments: Sequence[datetime]) -> np.ndarray:
    """Aware datetimes as a UTC ``datetime64[us]`` column."""
    return np.array([(m - _EPOCH) // timedelta(microseconds=1) for m in moments], dtype="datetime64[us]")


@dataclass(frozen=True, eq=False)
class ChartSeries:
    """An attribute's released results in decision order, as columns; points from ``first_current`` on are
    the current period's, the ones before it the baseline's."""

    batch_ids: tuple[str, ...]
    decided_at: np.ndarray  # datetime64[us], UTC
    values: np.ndarray  # float64
    first_current: int

    @classmethod
    def of(cls, batch_ids: Sequence[str], decided_at: Sequence[datetime] | np.ndarray, values: Sequence[float],
           first_current: int) -> ChartSeries:
        times = decided_at if isinstance(decided_at, np.ndarray) else as_datetime64(decided_at)
        series = cls(tuple(batch_ids), times.astype("datetime64[us]"), np.asarray(values, dtype=float),
                     first_current)
        if not len(series.batch_ids) == len(series.decided_at) == len(series.values):
            raise TrendError("a chart series needs one batch id, decision time and value per point")
        return series

    def __len__(self) -> int:
        return len(self.batch_ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChartSeries):
            return NotImplemented
        return (self.batch_ids == other.batch_ids and self.first_current == other.first_current
                and np.array_equal(self.decided_at, other.decided_at) and np.array_equal(self.values, other.values))

    __hash__ = None  # type: ignore[assignment]

    def moment(self, index: int) -> datetime:
        return _EPOCH + timedelta(microseconds=int(self.decided_at[index].astype("int64")))

    def point(self, index: int) -> ChartPoint:
        return ChartPoint(self.batch_ids[index], self.moment(index), float(self.values[index]),
                          index >= self.first_current)

    @property
    def baseline_values(self) -> np.ndarray:
        return self.values[: self.first_current]

    @property
    def current_values(self) -> np.ndarray:
        return self.values[self.first_current :]

    def to_columns(self) -> dict[str, Any]:
        """Plain data: the decision times as UTC ISO 8601 strings (what the JSON report holds)."""
        return {"batch_ids": list(self.batch_ids),
                "decided_at": np.datetime_as_string(self.decided_at, unit="us", timezone="UTC").tolist(),
                "values": self.values.tolist(), "first_current": self.first_current}

    @classmethod
    def from_columns(cls, data: dict[str, Any]) -> ChartSeries:
        times = np.array([text.removesuffix("Z") for text in data["decided_at"]], dtype="datetime64[us]")
        return cls.of(data["batch_ids"], times, data["values"], int(data["first_current"]))


@dataclass(frozen=True)
class ControlChart:
    """An attribute's I-MR chart: baseline then current points, limits from the baseline, rule events.

    ``limits`` is None (with the reason in ``note``) when the baseline is too
    short or does not vary; no rule is then evaluated.
    """

    attribute: str
    unit: str | None
    lower_spec: float | None
    upper_spec: float | None
    series: ChartSeries
    limits: ControlLimits | None
    violations: tuple[RuleViolation, ...]
    note: str = ""

    @property
    def points(self) -> tuple[ChartPoint, ...]:
        """Every point as an object (small charts, tests); large charts are read through ``series``."""
        return tuple(self.series.point(index) for index in range(len(self.series)))

    @property
    def first_current(self) -> int:
        """Index of the first current-period point (len(points) when there is none)."""
        return self.series.first_current

    @property
    def current_violations(self) -> tuple[RuleViolation, ...]:
        return tuple(v for v in self.violations if v.in_current)


def chart_of_series(attribute: str, series: ChartSeries, *, unit: str | None = None, lower_spec: float | None = None,
                    upper_spec: float | None = None, min_baseline_points: int = 20) -> ControlChart:
    """The I-MR chart of one attribute's series: limits from its baseline points, rules over all of them."""
    base_values = series.baseline_values.tolist()
    if len(base_values) < min_baseline_points:
        note = f"baseline has {len(base_values)} released results, fewer than {min_baseline_points}: no limits"
        return ControlChart(attribute, unit, lower_spec, upper_spec, series, None, (), note)
    try:
        limits = imr_limits(base_values)
    except TrendError as exc:
        return ControlChart(attribute, unit, lower_spec, upper_spec, series, None, (), str(exc))
    violations = evaluate_rules(series.values, limits, attribute=attribute, batch_ids=series.batch_ids,
                                first_current=series.first_current)
    return ControlChart(attribute, unit, lower_spec, upper_spec, series, limits, tuple(violations))


def control_chart(
    attribute: str,
    baseline: Sequence[BatchOutcome],
    current: Sequence[BatchOutcome],
    *,
    unit: str | None = None,
    lower_spec: float | None = None,
    upper_spec: float | None = None,
    min_baseline_points: int = 20,
) -> ControlChart:
    """I-MR chart of ``attribute`` over released batches: limits from ``baseline``, applied to ``current``."""

    def released(group: Sequence[BatchOutcome]) -> list[tuple[str, datetime, float]]:
        return [(b.batch_id, b.decided_at, value) for b in in_decision_order(group)
                if b.status == "released" and (value := b.results.get(attribute)) is not None]

    before, during = released(baseline), released(current)
    rows = before + during
    series = ChartSeries.of([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], len(before))
    return chart_of_series(attribute, series, unit=unit, lower_spec=lower_spec, upper_spec=upper_spec,
                           min_baseline_points=min_baseline_points)


__all__ = ["ChartPoint", "ChartSeries", "ControlChart", "as_datetime64", "chart_of_series", "control_chart"]
