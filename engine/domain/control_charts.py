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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from engine.domain.batch_outcomes import BatchOutcome, TrendError, in_decision_order
from engine.domain.control_rules import ControlLimits, RuleViolation, evaluate_rules, imr_limits


@dataclass(frozen=True)
class ChartPoint:
    """One released batch's result on a control chart."""

    batch_id: str
    decided_at: datetime
    value: float
    in_current: bool


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
    points: tuple[ChartPoint, ...]
    limits: ControlLimits | None
    violations: tuple[RuleViolation, ...]
    note: str = ""

    @property
    def first_current(self) -> int:
        """Index of the first current-period point (len(points) when there is none)."""
        return next((i for i, p in enumerate(self.points) if p.in_current), len(self.points))

    @property
    def current_violations(self) -> tuple[RuleViolation, ...]:
        return tuple(v for v in self.violations if v.in_current)


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

    def released_points(group: Sequence[BatchOutcome], in_current: bool) -> list[ChartPoint]:
        return [
            ChartPoint(b.batch_id, b.decided_at, value, in_current)
            for b in in_decision_order(group)
            if b.status == "released" and (value := b.results.get(attribute)) is not None
        ]

    points = released_points(baseline, False) + released_points(current, True)
    base_values = [p.value for p in points if not p.in_current]
    chart = ControlChart(attribute, unit, lower_spec, upper_spec, tuple(points), None, ())
    if len(base_values) < min_baseline_points:
        return replace(
            chart, note=f"baseline has {len(base_values)} released results, fewer than {min_baseline_points}: no limits"
        )
    try:
        limits = imr_limits(base_values)
    except TrendError as exc:
        return replace(chart, note=str(exc))
    violations = evaluate_rules(
        [p.value for p in points],
        limits,
        attribute=attribute,
        batch_ids=[p.batch_id for p in points],
        first_current=len(base_values),
    )
    return replace(chart, limits=limits, violations=tuple(violations))


__all__ = ["ChartPoint", "ControlChart", "control_chart"]
