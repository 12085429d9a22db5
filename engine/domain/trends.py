"""Six-monthly periodic review of OOS outcomes: the analysis and the signals it raises (OOS-20, OOS-21, OOS-23).

Why this exists: every six months the MAH sends EMA a Quality Defect Report that
sets the OOS batches administered against the batches released to specification
in the same period (OOS-20), shows whether the process drifts, whether failures
repeat and whether the specification still fits the process (OOS-21), and
escalates recurring OOS outcomes to CAPA and management review (OOS-23). This
module computes those answers from batch outcomes; it reads no files, no
database and no clock, so the same input always gives the same review.

The statistics live in modules of their own, each stating its choices:

* :mod:`engine.domain.batch_outcomes`: batches, periods, which period a batch counts in;
* :mod:`engine.domain.rate_signals`: OOS rates, Clopper–Pearson intervals, Fisher's test of an increase;
* :mod:`engine.domain.control_rules`: I-MR limits and the Western Electric / Nelson run rules;
* :mod:`engine.domain.control_charts`: an attribute's chart, limits from the baseline applied to the period;
* :mod:`engine.domain.capability`: Cpk, Ppk and the near-limit share;
* :mod:`engine.domain.recurring_oos`: repeat failures and OOS categories;
* :mod:`engine.domain.review_thresholds`: the thresholds that turn findings into signals, and
  :mod:`engine.domain.signal_calibration`: how often they fire on stable and shifted products.

Every name of those modules that callers use is importable from here as well.

Signals (:func:`review_signals`) open a CAPA and a management review each:
a significant increase of the OOS rate; at least ``min_rule_events`` events of
the ``control_rules`` on one attribute in the period (grouped, so one drift
opens one CAPA); each repeat failure; Cpk or Ppk below its minimum; a
near-limit share above ``near_limit_share``.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from engine.domain.batch_outcomes import (
    OOS_STATUSES,
    STATUSES,
    BatchOutcome,
    OosCategory,
    Period,
    Status,
    TrendError,
    check_periods,
    period_of,
    six_monthly_periods,
)
from engine.domain.capability import Capability, capability, near_limit_band
from engine.domain.control_charts import (
    ChartPoint,
    ChartSeries,
    ControlChart,
    as_datetime64,
    chart_of_series,
    control_chart,
)
from engine.domain.control_rules import (
    D2,
    D4,
    RULE_DESCRIPTIONS,
    RULE_SYNONYMS,
    ControlLimits,
    RuleViolation,
    evaluate_rules,
    imr_limits,
)
from engine.domain.rate_signals import (
    PeriodCounts,
    RateComparison,
    clopper_pearson,
    compare_rates,
    count_period,
    counts_of,
)
from engine.domain.recurring_oos import CategoryCount, RepeatFailure, categorise, repeat_failures
from engine.domain.review_thresholds import Thresholds
from engine.domain.specifications import Specification

SignalKind = Literal["oos_rate_increase", "control_rule", "repeat_failure", "low_capability", "near_limit"]


@dataclass(frozen=True)
class TrendAnalysis:
    """Everything the periodic review states about one product: the last period is the current one."""

    product_code: str
    specification_version: int
    periods: tuple[Period, ...]
    baseline_periods: tuple[Period, ...]
    counts: tuple[PeriodCounts, ...]
    rate_comparison: RateComparison | None
    charts: tuple[ControlChart, ...]
    capabilities: tuple[Capability, ...]
    repeat_failures: tuple[RepeatFailure, ...]
    categories: tuple[CategoryCount, ...]
    thresholds: Thresholds

    @property
    def current(self) -> Period:
        return self.periods[-1]

    @property
    def current_counts(self) -> PeriodCounts:
        return self.counts[-1]

    @property
    def violations(self) -> tuple[RuleViolation, ...]:
        """Rule events at current-period points, all attributes."""
        return tuple(v for chart in self.charts for v in chart.current_violations)


def numeric_limits(specification: Specification) -> list[tuple[str, str | None, float | None, float | None]]:
    """(attribute, unit, lower, upper) of the specification's numeric limits, in specification order."""
    return [
        (
            limit.attribute,
            limit.unit,
            None if limit.lower is None else float(limit.lower),
            None if limit.upper is None else float(limit.upper),
        )
        for limit in specification.limits
        if not limit.is_qualitative
    ]


def _review_periods(
    periods: Sequence[Period], baseline_periods: Sequence[Period] | None
) -> tuple[tuple[Period, ...], tuple[Period, ...]]:
    """The review periods in order (the last is current) and the baseline; overlaps are refused."""
    ordered = tuple(sorted(periods, key=lambda p: p.start))
    if not ordered:
        raise TrendError("the review needs at least one period")
    check_periods(ordered, "review periods")
    current = ordered[-1]
    baseline = tuple(sorted(ordered[:-1] if baseline_periods is None else baseline_periods, key=lambda p: p.start))
    check_periods(baseline, "baseline periods")
    if any(p.start < current.end and current.start < p.end for p in baseline):
        raise TrendError(f"the baseline must not overlap the current period {current.label}")
    return ordered, baseline


def _one_product(batches: Iterable[BatchOutcome], product_code: str) -> list[BatchOutcome]:
    """The batches, refused when another product's batch or a batch listed twice is among them."""
    rows = list(batches)
    others = sorted({b.product_code for b in rows} - {product_code})
    if others:
        raise TrendError(f"batches of other products given ({', '.join(others)}); review one product at a time")
    seen = Counter(b.batch_id for b in rows)
    duplicates = sorted(batch_id for batch_id, count in seen.items() if count > 1)
    if duplicates:
        raise TrendError(f"batch(es) listed twice: {', '.join(duplicates)}")
    return rows


def _charts_and_capabilities(
    specification: Specification, in_baseline: list[BatchOutcome], in_current: list[BatchOutcome],
    thresholds: Thresholds,
) -> tuple[tuple[ControlChart, ...], tuple[Capability, ...]]:
    """Per numeric attribute of the specification: its control chart and the current period's capability."""
    charts: list[ControlChart] = []
    capabilities: list[Capability] = []
    for attribute, unit, lower, upper in numeric_limits(specification):
        chart = control_chart(attribute, in_baseline, in_current, unit=unit, lower_spec=lower, upper_spec=upper,
                              min_baseline_points=thresholds.min_baseline_points)
        charts.append(chart)
        current_values = chart.series.current_values.tolist()
        capabilities.append(capability(attribute, current_values, lower=lower, upper=upper, unit=unit,
                                       near_limit_fraction=thresholds.near_limit_fraction,
                                       near_limit_sigmas=thresholds.near_limit_sigmas))
    return tuple(charts), tuple(capabilities)


def analyse_trends(
    batches: Iterable[BatchOutcome],
    specification: Specification,
    periods: Sequence[Period],
    *,
    thresholds: Thresholds | None = None,
    baseline_periods: Sequence[Period] | None = None,
) -> TrendAnalysis:
    """The periodic-review analysis of one product (OOS-20, OOS-21); the latest period is the one under review.

    ``specification`` is the one capability and near-limit shares are judged
    against: normally the version in force at the end of the current period,
    the one future batches must meet. ``baseline_periods`` (default: every
    earlier period) set the control limits and the comparator rate. Batches of
    another product are refused; batches outside every period are ignored.
    """
    thresholds = thresholds or Thresholds()
    ordered_periods, baseline = _review_periods(periods, baseline_periods)
    current = ordered_periods[-1]
    product_code = specification.product_code
    rows = _one_product(batches, product_code)
    counts = tuple(
        count_period(rows, p, product_code, confidence_level=thresholds.confidence_level) for p in ordered_periods
    )
    in_baseline = [b for b in rows if period_of(b.decided_at, baseline)]
    in_current = [b for b in rows if current.contains(b.decided_at)]
    base_oos = sum(b.is_oos for b in in_baseline)
    cur_oos = sum(b.is_oos for b in in_current)
    comparison = (
        compare_rates(cur_oos, len(in_current), base_oos, len(in_baseline)) if in_current and in_baseline else None
    )
    charts, capabilities = _charts_and_capabilities(specification, in_baseline, in_current, thresholds)
    repeats = repeat_failures(
        rows, ordered_periods, threshold=thresholds.repeat_failures, consecutive=thresholds.repeat_consecutive_periods
    )
    return TrendAnalysis(
        product_code, specification.version, ordered_periods, baseline, counts, comparison, charts, capabilities,
        tuple(repeats), tuple(categorise(rows, ordered_periods)), thresholds,
    )


@dataclass(frozen=True)
class Signal:
    """A finding that opens a CAPA task and a management-review task (OOS-23)."""

    kind: SignalKind
    attribute: str | None
    detail: str
    requirement: str = "OOS-23"
    opens: tuple[str, ...] = ("capa", "management_review")


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def densest_rule_events(events: Sequence[RuleViolation], window: int) -> list[RuleViolation]:
    """The most events that fall within ``window`` consecutive chart points (the earliest such group)."""
    indexes = [v.index for v in events]
    ends = [bisect.bisect_left(indexes, index + window) for index in indexes]
    best = max(range(len(events)), key=lambda first: ends[first] - first, default=None)
    return [] if best is None else list(events[best : ends[best]])


def _control_rule_signals(analysis: TrendAnalysis, thresholds: Thresholds) -> list[Signal]:
    """One signal per attribute with ``min_rule_events`` events within ``rule_events_window`` points."""
    signals: list[Signal] = []
    for chart in analysis.charts:
        events = sorted((v for v in chart.current_violations if v.rule in thresholds.control_rules),
                        key=lambda v: v.index)
        cluster = densest_rule_events(events, thresholds.rule_events_window)
        if not cluster or len(cluster) < thresholds.min_rule_events:
            continue
        per_rule = Counter(v.rule for v in events)
        rules = "; ".join(
            f"{rule} ({RULE_DESCRIPTIONS[rule]}) ×{per_rule[rule]}" for rule in RULE_DESCRIPTIONS if rule in per_rule
        )
        first, last = cluster[0], cluster[-1]
        signals.append(
            Signal(
                "control_rule",
                chart.attribute,
                f"{rules} in {analysis.current.label}; {len(cluster)} of them within "
                f"{last.index - first.index + 1} consecutive batches ({first.batch_id} to {last.batch_id}); "
                f"first {events[0].rule} at batch {events[0].batch_id}: {events[0].detail}",
            )
        )
    return signals


def _repeat_signals(analysis: TrendAnalysis, thresholds: Thresholds) -> list[Signal]:
    signals: list[Signal] = []
    for repeat in analysis.repeat_failures:
        if repeat.scope == "within_period":
            text = (
                f"{repeat.attribute} failed in {repeat.count} OOS batches in {repeat.periods[0].label} "
                f"(threshold {thresholds.repeat_failures}): {', '.join(repeat.batch_ids)}"
            )
        else:
            text = (
                f"{repeat.attribute} failed in each of {len(repeat.periods)} consecutive periods "
                f"({', '.join(p.label for p in repeat.periods)}): {', '.join(repeat.batch_ids)}"
            )
        signals.append(Signal("repeat_failure", repeat.attribute, text))
    return signals


def _capability_signals(analysis: TrendAnalysis, thresholds: Thresholds) -> list[Signal]:
    """Low capability first, then near-limit shares, each over attributes with enough results."""
    enough = [cap for cap in analysis.capabilities if cap.n >= thresholds.min_capability_points]
    signals: list[Signal] = []
    for cap in enough:
        low = [
            f"{name} {value:.2f} < {minimum:g}"
            for name, value, minimum in (("Cpk", cap.cpk, thresholds.min_cpk), ("Ppk", cap.ppk, thresholds.min_ppk))
            if value is not None and value < minimum
        ]
        if low:
            signals.append(Signal("low_capability", cap.attribute, f"{'; '.join(low)} over {cap.n} released batches"))
    for cap in enough:
        share = cap.near_limit_share
        if share is not None and share > thresholds.near_limit_share:
            signals.append(
                Signal(
                    "near_limit",
                    cap.attribute,
                    f"{cap.near_limit_count} of {cap.n} released batches ({_percent(share)}) within "
                    f"{cap.near_limit_band:.4g} of a limit (more than {_percent(thresholds.near_limit_share)})",
                )
            )
    return signals


def review_signals(analysis: TrendAnalysis, thresholds: Thresholds | None = None) -> list[Signal]:
    """Signals of the current period, in a fixed order: rate, control rules, repeats, capability, near-limit.

    ``thresholds`` default to the ones the analysis was made with. Control-rule
    events are grouped per attribute (the rules and their counts named in the
    detail), so one drift opens one CAPA rather than one per rule or per batch;
    an attribute signals when ``min_rule_events`` of them fall within
    ``rule_events_window`` consecutive chart points: chance events on a stable
    attribute are scattered over the period, a shift's events cluster.
    """
    thresholds = thresholds or analysis.thresholds
    signals: list[Signal] = []
    comparison = analysis.rate_comparison
    if comparison is not None and comparison.p_value_greater < thresholds.alpha:
        signals.append(
            Signal(
                "oos_rate_increase",
                None,
                f"OOS rate {_percent(comparison.current_rate)} ({comparison.current_oos}/{comparison.current_total}) "
                f"in {analysis.current.label} against {_percent(comparison.baseline_rate)} "
                f"({comparison.baseline_oos}/{comparison.baseline_total}) in the baseline; Fisher's exact test, "
                f"one-sided p = {comparison.p_value_greater:.4f} < α = {thresholds.alpha:g}",
            )
        )
    return (
        signals
        + _control_rule_signals(analysis, thresholds)
        + _repeat_signals(analysis, thresholds)
        + _capability_signals(analysis, thresholds)
    )


__all__ = [
    "D2",
    "D4",
    "OOS_STATUSES",
    "RULE_DESCRIPTIONS",
    "RULE_SYNONYMS",
    "STATUSES",
    "BatchOutcome",
    "Capability",
    "CategoryCount",
    "ChartPoint",
    "ChartSeries",
    "ControlChart",
    "ControlLimits",
    "OosCategory",
    "Period",
    "PeriodCounts",
    "RateComparison",
    "RepeatFailure",
    "RuleViolation",
    "Signal",
    "SignalKind",
    "Status",
    "Thresholds",
    "TrendAnalysis",
    "TrendError",
    "analyse_trends",
    "as_datetime64",
    "capability",
    "categorise",
    "chart_of_series",
    "clopper_pearson",
    "compare_rates",
    "control_chart",
    "count_period",
    "counts_of",
    "densest_rule_events",
    "evaluate_rules",
    "imr_limits",
    "near_limit_band",
    "numeric_limits",
    "period_of",
    "repeat_failures",
    "review_signals",
    "six_monthly_periods",
]
