"""Six-monthly periodic review of OOS outcomes: rates, control charts, capability (OOS-20, OOS-21, OOS-23).

Why this exists: every six months the MAH sends EMA a Quality Defect Report that
sets the OOS batches administered against the batches released to specification
in the same period (OOS-20), shows whether the process drifts, whether failures
repeat and whether the specification still fits the process (OOS-21), and
escalates recurring OOS outcomes to CAPA and management review (OOS-23). This
module computes those answers from batch outcomes; it reads no files, no
database and no clock, so the same input always gives the same review.

Statistical choices (each one is what a reviewer would otherwise have to ask):

* **Which batches count in a period**: a batch belongs to the period that
  contains its ``decided_at`` (release by the QP, or the exceptional-use
  decision for an OOS batch), periods being half-open ``[start, end)``.
* **OOS rate** = OOS batches / (OOS batches + batches released to
  specification): the share of all batches decided in the period that were OOS,
  whether administered or not. **Administered-OOS rate** = OOS batches
  administered / (OOS batches administered + batches released): the share of
  product that reached patients in the period that was OOS, which is the
  comparison OOS-20 asks for.
* **Confidence interval of a rate**: Clopper–Pearson ("exact", from
  ``scipy.stats.binomtest(...).proportion_ci(method="exact")``). It never
  undercovers, and stays meaningful for the small counts and near-zero rates
  typical of OOS data, where the normal approximation breaks down.
* **Has the OOS rate increased?** Fisher's exact test on the 2×2 table
  (OOS, released) × (current period, baseline periods pooled). The signal uses
  the one-sided p-value (alternative ``"greater"``): OOS-23 escalates an
  *increase*; a falling rate opens no CAPA. The two-sided p-value is reported
  beside it for information.
* **Control charts**: Individuals / moving-range (I-MR) per numeric attribute,
  on batches released to specification only, in order of decision. OOS batches
  are left out because each is investigated in its own case and one gross
  outlier would inflate the moving ranges, widen the limits and hide a drift.
  The limits are estimated from the *baseline* periods (default: every period
  before the current one) and then applied to the current period (a "phase I /
  phase II" chart): estimating them from the current period would let a drift
  move its own limits. Centre = baseline mean; σ = MR̄ / d2 with d2 = 1.128;
  UCL/LCL = centre ± 3σ; moving-range UCL = D4 · MR̄ = 3.267 · MR̄.
* **Run rules**: Western Electric rules 1–4 and Nelson rule 3 (see
  :data:`RULE_DESCRIPTIONS`), plus the moving-range chart's own limit. Points
  beyond a zone are *strictly* beyond it. A pattern is reported at the point
  that completes it, and that point must itself be beyond the zone the rule
  names, so the marked batch is one that shows the problem. Once a rule fires,
  the points of that window are not reused for the same rule: a sustained
  shift reads as one event per completed pattern, not one event per batch.
  Rules are evaluated over baseline and current points together (so a run that
  starts at the end of the baseline is seen); only events at current-period
  points open signals, baseline events are shown to judge the baseline itself.
  Expect chance events: on independent normal data with ~120 batches a period,
  at least one of WE1–WE4/Nelson 3 fires in about 80 % of periods per attribute
  (simulation: WE1 ≈ 32 %, WE4 ≈ 41 %, the moving-range limit ≈ 64 %).
  ``Thresholds.control_rules`` therefore chooses the rules that open signals
  and ``Thresholds.min_rule_events`` how many events an attribute needs; the
  moving-range limit is charted but opens no signal by default.
* **Capability** of the current period's released batches against the
  specification given: Cpk uses σ within = MR̄ / d2, Ppk the overall sample
  standard deviation (n − 1). With one limit only the one-sided index (Cpl or
  Cpu) is used.
* **Near-limit share**: the share of released batches whose result lies within
  a band next to a limit. For a two-sided limit the band is
  ``near_limit_fraction`` × (upper − lower); for a one-sided limit, which has no
  tolerance width, it is ``near_limit_fraction`` × |limit|. A result on the
  wrong side of the limit counts as near it. Many batches just inside a limit
  mean the specification is met only narrowly (OOS-21 "specification
  appropriateness").
* **Repeat failures**: the same attribute failing in at least
  ``repeat_failures`` OOS batches of the current period, and the same attribute
  failing in each of the last ``repeat_consecutive_periods`` periods (ending
  with the current one).
"""

from __future__ import annotations

import calendar
import itertools
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from types import MappingProxyType
from typing import Literal, NamedTuple

from scipy import stats

from engine.domain.specifications import Specification

Status = Literal["released", "oos_administered", "oos_not_administered"]
STATUSES: tuple[str, ...] = ("released", "oos_administered", "oos_not_administered")
OOS_STATUSES: frozenset[str] = frozenset({"oos_administered", "oos_not_administered"})

SignalKind = Literal["oos_rate_increase", "control_rule", "repeat_failure", "low_capability", "near_limit"]

#: Bias-correction constant d2 for moving ranges of two consecutive points.
D2 = 1.128
#: D4 for subgroups of two: upper limit of the moving-range chart is D4 · MR̄.
D4 = 3.267

RULE_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "WE1": "one point beyond 3σ from the centre line",
        "WE2": "two of three consecutive points beyond 2σ on the same side",
        "WE3": "four of five consecutive points beyond 1σ on the same side",
        "WE4": "eight consecutive points on the same side of the centre line",
        "NELSON3": "six points in a row steadily increasing or decreasing",
        "MR": "moving range above the moving-range chart's upper limit (3.267 × mean moving range)",
    }
)


class TrendError(ValueError):
    """The input cannot be reviewed unambiguously (mixed products, overlapping periods, bad values).

    Raised instead of guessing, because a wrong review would misstate the
    quality record sent to EMA (OOS-20).
    """


def _require_aware(moment: datetime, what: str) -> None:
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
        _require_aware(self.decided_at, f"batch {self.batch_id} decided_at")
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


def _add_months(moment: datetime, months: int) -> datetime:
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
        _require_aware(self.start, "period start")
        _require_aware(self.end, "period end")
        if self.end <= self.start:
            raise TrendError(f"period end {self.end.isoformat()} is not after its start {self.start.isoformat()}")

    def contains(self, moment: datetime) -> bool:
        """True when ``start <= moment < end``."""
        return self.start <= moment < self.end

    @property
    def label(self) -> str:
        """``2025-H2`` for calendar half-years, otherwise the first and last day covered."""
        half_year = self.start.day == 1 and self.start.month in (1, 7) and self.start.time() == time(0)
        if half_year and self.end == _add_months(self.start, 6):
            return f"{self.start.year}-H{1 if self.start.month == 1 else 2}"
        last_day = (self.end - timedelta(microseconds=1)).date()
        return f"{self.start.date().isoformat()} to {last_day.isoformat()}"


def six_monthly_periods(start: datetime, end: datetime) -> list[Period]:
    """Consecutive six-month periods from ``start`` that end on or before ``end``.

    The review is every six months (OOS-20), so a trailing stretch shorter than
    six months is not a review period and is left out; it belongs to the next
    review.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    periods: list[Period] = []
    step = 1
    period_start = start
    while (period_end := _add_months(start, 6 * step)) <= end:
        periods.append(Period(period_start, period_end))
        period_start = period_end
        step += 1
    return periods


def _check_periods(periods: Sequence[Period], what: str) -> None:
    ordered = sorted(periods, key=lambda p: p.start)
    for earlier, later in itertools.pairwise(ordered):
        if later.start < earlier.end:
            raise TrendError(f"{what} overlap: {earlier.label} and {later.label}")


def period_of(moment: datetime, periods: Sequence[Period]) -> Period | None:
    """The period containing ``moment``, or None when it lies outside all of them."""
    return next((period for period in periods if period.contains(moment)), None)


def clopper_pearson(successes: int, trials: int, confidence_level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) confidence interval of a binomial proportion; see the module docstring."""
    if trials < 1 or not 0 <= successes <= trials:
        raise TrendError(f"cannot estimate a rate from {successes} of {trials}")
    interval = stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence_level, method="exact")
    return float(interval.low), float(interval.high)


@dataclass(frozen=True)
class PeriodCounts:
    """Batches decided in one period for one product, and the rates of OOS-20 (definitions in the module docstring)."""

    period: Period
    product_code: str
    released: int
    oos_administered: int
    oos_not_administered: int
    oos_rate_ci: tuple[float, float] | None = None
    administered_oos_rate_ci: tuple[float, float] | None = None

    @property
    def oos(self) -> int:
        """OOS batches, administered or not."""
        return self.oos_administered + self.oos_not_administered

    @property
    def total(self) -> int:
        """Every batch decided in the period."""
        return self.released + self.oos

    @property
    def oos_rate(self) -> float | None:
        """OOS / (OOS + released); None for a period without batches."""
        return self.oos / self.total if self.total else None

    @property
    def administered_oos_rate(self) -> float | None:
        """OOS administered / (OOS administered + released); None when nothing was administered."""
        denominator = self.oos_administered + self.released
        return self.oos_administered / denominator if denominator else None


def count_period(
    batches: Iterable[BatchOutcome], period: Period, product_code: str, *, confidence_level: float = 0.95
) -> PeriodCounts:
    """Counts of one product's batches decided in ``period``, with Clopper–Pearson intervals of both rates."""
    tally = Counter(b.status for b in batches if b.product_code == product_code and period.contains(b.decided_at))
    released, administered, not_administered = (tally[s] for s in STATUSES)
    total = released + administered + not_administered
    rate_ci = clopper_pearson(administered + not_administered, total, confidence_level) if total else None
    administered_total = administered + released
    administered_ci = (
        clopper_pearson(administered, administered_total, confidence_level) if administered_total else None
    )
    return PeriodCounts(period, product_code, released, administered, not_administered, rate_ci, administered_ci)


@dataclass(frozen=True)
class RateComparison:
    """Current period's OOS rate against the baseline periods pooled (Fisher's exact test).

    ``odds_ratio`` is the sample odds ratio, None when a zero cell makes it
    undefined or infinite. ``p_value_greater`` is the one-sided p-value for "the
    current rate is higher" and decides the signal; ``p_value_two_sided`` is shown
    for information.
    """

    current_oos: int
    current_total: int
    baseline_oos: int
    baseline_total: int
    odds_ratio: float | None
    p_value_greater: float
    p_value_two_sided: float

    @property
    def current_rate(self) -> float:
        return self.current_oos / self.current_total

    @property
    def baseline_rate(self) -> float:
        return self.baseline_oos / self.baseline_total


def compare_rates(current_oos: int, current_total: int, baseline_oos: int, baseline_total: int) -> RateComparison:
    """Fisher's exact test of the 2×2 table [[current OOS, current released], [baseline OOS, baseline released]]."""
    if current_total < 1 or baseline_total < 1:
        raise TrendError("a rate comparison needs batches in both the current period and the baseline")
    if not (0 <= current_oos <= current_total and 0 <= baseline_oos <= baseline_total):
        raise TrendError("OOS counts must lie between 0 and the number of batches")
    table = [[current_oos, current_total - current_oos], [baseline_oos, baseline_total - baseline_oos]]
    odds_ratio, p_greater = stats.fisher_exact(table, alternative="greater")
    _, p_two_sided = stats.fisher_exact(table, alternative="two-sided")
    odds = float(odds_ratio)
    return RateComparison(
        current_oos,
        current_total,
        baseline_oos,
        baseline_total,
        odds if math.isfinite(odds) else None,
        float(p_greater),
        float(p_two_sided),
    )


@dataclass(frozen=True)
class ControlLimits:
    """I-MR limits estimated from the baseline: centre, σ = MR̄/d2, centre ± 3σ, and 3.267·MR̄ for moving ranges."""

    centre: float
    sigma: float
    ucl: float
    lcl: float
    mr_bar: float
    mr_ucl: float
    baseline_points: int


def imr_limits(values: Sequence[float]) -> ControlLimits:
    """Individuals and moving-range chart limits from baseline values in time order.

    Refuses fewer than two values or a baseline without variation (MR̄ = 0),
    because a chart with σ = 0 would flag every later batch.
    """
    if len(values) < 2:
        raise TrendError("control limits need at least two baseline values")
    ranges = [abs(b - a) for a, b in itertools.pairwise(values)]
    mr_bar = statistics.fmean(ranges)
    if mr_bar == 0:
        raise TrendError("the baseline values do not vary (mean moving range 0): no control limits can be set")
    centre = statistics.fmean(values)
    sigma = mr_bar / D2
    return ControlLimits(centre, sigma, centre + 3 * sigma, centre - 3 * sigma, mr_bar, D4 * mr_bar, len(values))


@dataclass(frozen=True)
class RuleViolation:
    """A run rule firing: which rule, on which attribute, at which chart point (index) and batch."""

    rule: str
    attribute: str
    index: int
    batch_id: str
    detail: str
    in_current: bool = True


def _z(value: float, limits: ControlLimits) -> float:
    return (value - limits.centre) / limits.sigma


def _zone_rule(
    code: str, values: Sequence[float], limits: ControlLimits, *, width: int, needed: int, beyond: float
) -> list[tuple[int, str]]:
    """Indexes where ``needed`` of ``width`` consecutive points lie beyond ``beyond``·σ on one side.

    The completing point must itself be beyond; windows of one firing are not reused (module docstring).
    """
    fired: list[tuple[int, str]] = []
    last_fired = -1
    for index in range(width - 1, len(values)):
        first = index - width + 1
        if first <= last_fired:
            continue
        for side, word in ((1, "above"), (-1, "below")):
            scores = [side * _z(v, limits) for v in values[first : index + 1]]
            if scores[-1] > beyond and sum(score > beyond for score in scores) >= needed:
                z = _z(values[index], limits)
                if code == "WE1":
                    detail = f"value {values[index]:.4g} is {abs(z):.2f}σ {word} the centre line {limits.centre:.4g}"
                elif code == "WE4":
                    detail = f"{width} consecutive points {word} the centre line {limits.centre:.4g}"
                else:
                    detail = f"{needed} of {width} consecutive points beyond {beyond:g}σ {word} the centre line"
                fired.append((index, detail))
                last_fired = index
                break
    return fired


def _trend_rule(values: Sequence[float], *, length: int = 6) -> list[tuple[int, str]]:
    """Indexes completing ``length`` points in a row strictly increasing or decreasing (Nelson rule 3)."""
    fired: list[tuple[int, str]] = []
    last_fired = -1
    for index in range(length - 1, len(values)):
        first = index - length + 1
        if first <= last_fired:
            continue
        window = values[first : index + 1]
        steps = [b - a for a, b in itertools.pairwise(window)]
        if all(step > 0 for step in steps) or all(step < 0 for step in steps):
            word = "increasing" if steps[0] > 0 else "decreasing"
            fired.append((index, f"{length} points in a row steadily {word} ({window[0]:.4g} to {window[-1]:.4g})"))
            last_fired = index
    return fired


def _moving_range_rule(values: Sequence[float], limits: ControlLimits) -> list[tuple[int, str]]:
    """Indexes whose moving range (to the previous point) exceeds the moving-range UCL."""
    return [
        (index, f"moving range {abs(values[index] - values[index - 1]):.4g} above UCL {limits.mr_ucl:.4g}")
        for index in range(1, len(values))
        if abs(values[index] - values[index - 1]) > limits.mr_ucl
    ]


def evaluate_rules(
    values: Sequence[float],
    limits: ControlLimits,
    *,
    attribute: str,
    batch_ids: Sequence[str],
    first_current: int = 0,
) -> list[RuleViolation]:
    """Western Electric rules 1–4, Nelson rule 3 and the MR limit over ``values``, ordered by index then rule.

    ``first_current`` is the index of the first current-period point; events
    before it are marked ``in_current=False`` (baseline, phase I).
    """
    if len(batch_ids) != len(values):
        raise TrendError("one batch id per value is needed to name where a rule fires")
    events: list[tuple[str, int, str]] = []
    for code, width, needed, beyond in (("WE1", 1, 1, 3.0), ("WE2", 3, 2, 2.0), ("WE3", 5, 4, 1.0), ("WE4", 8, 8, 0.0)):
        events += [(code, i, d) for i, d in _zone_rule(code, values, limits, width=width, needed=needed, beyond=beyond)]
    events += [("NELSON3", i, d) for i, d in _trend_rule(values)]
    events += [("MR", i, d) for i, d in _moving_range_rule(values, limits)]
    order = list(RULE_DESCRIPTIONS)
    events.sort(key=lambda event: (event[1], order.index(event[0])))
    return [
        RuleViolation(code, attribute, index, batch_ids[index], detail, index >= first_current)
        for code, index, detail in events
    ]


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


def _ordered(batches: Iterable[BatchOutcome]) -> list[BatchOutcome]:
    """Time order of decision; the batch id breaks ties so the order never depends on input order."""
    return sorted(batches, key=lambda b: (b.decided_at, b.batch_id))


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
            for b in _ordered(group)
            if b.status == "released" and (value := b.results.get(attribute)) is not None
        ]

    points = released_points(baseline, False) + released_points(current, True)
    base_values = [p.value for p in points if not p.in_current]
    chart = ControlChart(attribute, unit, lower_spec, upper_spec, tuple(points), None, ())
    if len(base_values) < min_baseline_points:
        return _replace_note(
            chart, f"baseline has {len(base_values)} released results, fewer than {min_baseline_points}: no limits"
        )
    try:
        limits = imr_limits(base_values)
    except TrendError as exc:
        return _replace_note(chart, str(exc))
    violations = evaluate_rules(
        [p.value for p in points],
        limits,
        attribute=attribute,
        batch_ids=[p.batch_id for p in points],
        first_current=len(base_values),
    )
    return ControlChart(attribute, unit, lower_spec, upper_spec, tuple(points), limits, tuple(violations))


def _replace_note(chart: ControlChart, note: str) -> ControlChart:
    return ControlChart(chart.attribute, chart.unit, chart.lower_spec, chart.upper_spec, chart.points, None, (), note)


@dataclass(frozen=True)
class Capability:
    """Process capability of one attribute in the current period against the specification (OOS-21).

    Indices are None when they cannot be computed (fewer than two values, or no
    variation). ``near_limit_band`` is the width of the band next to a limit.
    """

    attribute: str
    unit: str | None
    lower_spec: float | None
    upper_spec: float | None
    n: int
    mean: float | None
    sigma_within: float | None
    sigma_overall: float | None
    cpk: float | None
    ppk: float | None
    near_limit_band: float
    near_limit_count: int

    @property
    def near_limit_share(self) -> float | None:
        return self.near_limit_count / self.n if self.n else None


def _index(mean: float, sigma: float | None, lower: float | None, upper: float | None) -> float | None:
    """min((USL − μ), (μ − LSL)) / 3σ over the limits that exist (one-sided when only one)."""
    if sigma is None or sigma == 0:
        return None
    return min(_distances_inside(mean, lower, upper)) / (3 * sigma)


def _distances_inside(value: float, lower: float | None, upper: float | None) -> list[float]:
    """Signed distance from ``value`` to each limit that exists, positive on the passing side."""
    return [
        d
        for d in ((value - lower) if lower is not None else None, (upper - value) if upper is not None else None)
        if d is not None
    ]


def near_limit_band(lower: float | None, upper: float | None, fraction: float) -> float:
    """Width of the near-limit band: fraction × tolerance width, or fraction × |limit| when one-sided."""
    if lower is not None and upper is not None:
        return fraction * (upper - lower)
    limit = lower if lower is not None else upper
    if limit is None:
        raise TrendError("a near-limit band needs at least one limit")
    return fraction * abs(limit)


def capability(
    attribute: str,
    values: Sequence[float],
    *,
    lower: float | None,
    upper: float | None,
    unit: str | None = None,
    near_limit_fraction: float = 0.10,
) -> Capability:
    """Cpk (σ within = MR̄/d2, values in time order) and Ppk (sample σ) with the near-limit count."""
    if lower is None and upper is None:
        raise TrendError(f"{attribute}: capability needs at least one specification limit")
    n = len(values)
    band = near_limit_band(lower, upper, near_limit_fraction)
    near = sum(min(_distances_inside(v, lower, upper)) <= band for v in values)
    if n < 2:
        mean = values[0] if values else None
        return Capability(attribute, unit, lower, upper, n, mean, None, None, None, None, band, near)
    mean = statistics.fmean(values)
    sigma_within = statistics.fmean(abs(b - a) for a, b in itertools.pairwise(values)) / D2
    sigma_overall = statistics.stdev(values)
    return Capability(
        attribute,
        unit,
        lower,
        upper,
        n,
        mean,
        sigma_within,
        sigma_overall,
        _index(mean, sigma_within, lower, upper),
        _index(mean, sigma_overall, lower, upper),
        band,
        near,
    )


@dataclass(frozen=True)
class RepeatFailure:
    """The same attribute failing repeatedly (OOS-21 repeatability, OOS-23 recurring OOS).

    ``scope`` is ``within_period`` (≥ threshold OOS batches in the current period)
    or ``consecutive_periods`` (at least one in each of the last periods named).
    """

    attribute: str
    scope: Literal["within_period", "consecutive_periods"]
    periods: tuple[Period, ...]
    count: int
    batch_ids: tuple[str, ...]


def repeat_failures(
    batches: Iterable[BatchOutcome], periods: Sequence[Period], *, threshold: int = 2, consecutive: int = 2
) -> list[RepeatFailure]:
    """Attributes failing ≥ ``threshold`` times in the last period, or in each of the last ``consecutive`` periods."""
    if not periods:
        return []
    ordered = sorted(periods, key=lambda p: p.start)
    oos = [b for b in _ordered(batches) if b.is_oos]

    def failures(attribute: str, period: Period) -> list[str]:
        return [b.batch_id for b in oos if period.contains(b.decided_at) and attribute in b.failed_attributes]

    current = ordered[-1]
    attributes = sorted({a for b in oos for a in b.failed_attributes})
    found: list[RepeatFailure] = []
    for attribute in attributes:
        ids = failures(attribute, current)
        if len(ids) >= threshold:
            found.append(RepeatFailure(attribute, "within_period", (current,), len(ids), tuple(ids)))
    if consecutive >= 1 and len(ordered) >= consecutive:
        recent = ordered[-consecutive:]
        contiguous = all(a.end == b.start for a, b in itertools.pairwise(recent))
        for attribute in attributes if contiguous else []:
            per_period = [failures(attribute, period) for period in recent]
            if all(per_period):
                ids = tuple(i for group in per_period for i in group)
                found.append(RepeatFailure(attribute, "consecutive_periods", tuple(recent), len(ids), ids))
    return found


@dataclass(frozen=True)
class CategoryCount:
    """OOS batches in one period with one (type, attribute, severity) category, split by administration."""

    period: Period
    category: OosCategory
    administered: int
    not_administered: int

    @property
    def total(self) -> int:
        return self.administered + self.not_administered


def categorise(batches: Iterable[BatchOutcome], periods: Sequence[Period]) -> list[CategoryCount]:
    """OOS cases counted by category and period (OOS-21: how cases are categorised), once per batch and category."""
    tally: Counter[tuple[Period, OosCategory, str]] = Counter()
    for batch in batches:
        period = period_of(batch.decided_at, periods)
        if period is None or not batch.is_oos:
            continue
        for category in set(batch.oos_categories):
            tally[(period, category, batch.status)] += 1
    keys = sorted({(p, c) for p, c, _ in tally}, key=lambda key: (key[0].start, key[1]))
    return [
        CategoryCount(p, c, tally[(p, c, "oos_administered")], tally[(p, c, "oos_not_administered")]) for p, c in keys
    ]


@dataclass(frozen=True)
class Thresholds:
    """Every number that turns an analysis into signals (OOS-23), configurable per product.

    ``alpha`` applies to the one-sided Fisher p-value; ``confidence_level`` to
    rate intervals; ``control_rules`` names the rules that open signals and
    ``min_rule_events`` how many of their events an attribute needs in the
    current period before it does (1: any event; raise it where chance events
    on stable attributes would open CAPAs, see the module docstring).
    """

    alpha: float = 0.05
    confidence_level: float = 0.95
    min_cpk: float = 1.0
    min_ppk: float = 1.0
    repeat_failures: int = 2
    repeat_consecutive_periods: int = 2
    near_limit_fraction: float = 0.10
    near_limit_share: float = 0.20
    min_baseline_points: int = 20
    min_capability_points: int = 10
    control_rules: tuple[str, ...] = ("WE1", "WE2", "WE3", "WE4", "NELSON3")
    min_rule_events: int = 1

    def __post_init__(self) -> None:
        for name in ("alpha", "confidence_level", "near_limit_fraction", "near_limit_share"):
            if not 0 < getattr(self, name) < 1:
                raise TrendError(f"threshold {name} must lie strictly between 0 and 1")
        for name in ("repeat_failures", "repeat_consecutive_periods", "min_capability_points", "min_rule_events"):
            if getattr(self, name) < 1:
                raise TrendError(f"threshold {name} must be at least 1")
        if self.min_baseline_points < 2:
            raise TrendError("threshold min_baseline_points must be at least 2")
        unknown = sorted(set(self.control_rules) - set(RULE_DESCRIPTIONS))
        if unknown:
            raise TrendError(f"unknown control rule(s): {', '.join(unknown)}")
        object.__setattr__(self, "control_rules", tuple(self.control_rules))


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
    ordered_periods = tuple(sorted(periods, key=lambda p: p.start))
    if not ordered_periods:
        raise TrendError("the review needs at least one period")
    _check_periods(ordered_periods, "review periods")
    current = ordered_periods[-1]
    baseline = tuple(
        sorted(ordered_periods[:-1] if baseline_periods is None else baseline_periods, key=lambda p: p.start)
    )
    _check_periods(baseline, "baseline periods")
    if any(p.start < current.end and current.start < p.end for p in baseline):
        raise TrendError(f"the baseline must not overlap the current period {current.label}")
    product_code = specification.product_code
    rows = list(batches)
    others = sorted({b.product_code for b in rows} - {product_code})
    if others:
        raise TrendError(f"batches of other products given ({', '.join(others)}); review one product at a time")
    seen = Counter(b.batch_id for b in rows)
    duplicates = sorted(batch_id for batch_id, count in seen.items() if count > 1)
    if duplicates:
        raise TrendError(f"batch(es) listed twice: {', '.join(duplicates)}")

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
    charts: list[ControlChart] = []
    capabilities: list[Capability] = []
    for attribute, unit, lower, upper in numeric_limits(specification):
        chart = control_chart(
            attribute,
            in_baseline,
            in_current,
            unit=unit,
            lower_spec=lower,
            upper_spec=upper,
            min_baseline_points=thresholds.min_baseline_points,
        )
        charts.append(chart)
        current_values = [p.value for p in chart.points if p.in_current]
        capabilities.append(
            capability(
                attribute,
                current_values,
                lower=lower,
                upper=upper,
                unit=unit,
                near_limit_fraction=thresholds.near_limit_fraction,
            )
        )
    repeats = repeat_failures(
        rows,
        ordered_periods,
        threshold=thresholds.repeat_failures,
        consecutive=thresholds.repeat_consecutive_periods,
    )
    return TrendAnalysis(
        product_code,
        specification.version,
        ordered_periods,
        baseline,
        counts,
        comparison,
        tuple(charts),
        tuple(capabilities),
        tuple(repeats),
        tuple(categorise(rows, ordered_periods)),
        thresholds,
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


def review_signals(analysis: TrendAnalysis, thresholds: Thresholds | None = None) -> list[Signal]:
    """Signals of the current period, in a fixed order: rate, control rules, repeats, capability, near-limit.

    ``thresholds`` default to the ones the analysis was made with. Control-rule
    events are grouped per attribute (the rules and their counts named in the
    detail), so one drift opens one CAPA rather than one per rule or per batch.
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
    for chart in analysis.charts:
        events = [v for v in chart.current_violations if v.rule in thresholds.control_rules]
        if not events or len(events) < thresholds.min_rule_events:
            continue
        per_rule = Counter(v.rule for v in events)
        rules = "; ".join(
            f"{rule} ({RULE_DESCRIPTIONS[rule]}) ×{per_rule[rule]}" for rule in RULE_DESCRIPTIONS if rule in per_rule
        )
        first = events[0]
        signals.append(
            Signal(
                "control_rule",
                chart.attribute,
                f"{rules} in {analysis.current.label}; first {first.rule} at batch {first.batch_id}: {first.detail}",
            )
        )
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
    for cap in analysis.capabilities:
        if cap.n < thresholds.min_capability_points:
            continue
        low = [
            f"{name} {value:.2f} < {minimum:g}"
            for name, value, minimum in (("Cpk", cap.cpk, thresholds.min_cpk), ("Ppk", cap.ppk, thresholds.min_ppk))
            if value is not None and value < minimum
        ]
        if low:
            signals.append(Signal("low_capability", cap.attribute, f"{'; '.join(low)} over {cap.n} released batches"))
    for cap in analysis.capabilities:
        share = cap.near_limit_share
        if cap.n >= thresholds.min_capability_points and share is not None and share > thresholds.near_limit_share:
            signals.append(
                Signal(
                    "near_limit",
                    cap.attribute,
                    f"{cap.near_limit_count} of {cap.n} released batches ({_percent(share)}) within "
                    f"{cap.near_limit_band:.4g} of a limit (more than {_percent(thresholds.near_limit_share)})",
                )
            )
    return signals


__all__ = [
    "D2",
    "D4",
    "OOS_STATUSES",
    "RULE_DESCRIPTIONS",
    "STATUSES",
    "BatchOutcome",
    "Capability",
    "CategoryCount",
    "ChartPoint",
    "ControlChart",
    "ControlLimits",
    "OosCategory",
    "Period",
    "PeriodCounts",
    "RateComparison",
    "RepeatFailure",
    "RuleViolation",
    "Signal",
    "Thresholds",
    "TrendAnalysis",
    "TrendError",
    "analyse_trends",
    "capability",
    "categorise",
    "clopper_pearson",
    "compare_rates",
    "control_chart",
    "count_period",
    "evaluate_rules",
    "imr_limits",
    "near_limit_band",
    "numeric_limits",
    "period_of",
    "repeat_failures",
    "review_signals",
    "six_monthly_periods",
]
