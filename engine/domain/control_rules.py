"""Individuals / moving-range control limits and the run rules that read them (OOS-21 "drift").

Statistical choices:

* **Limits** (I-MR chart, one result per batch): centre = baseline mean;
  σ = MR̄ / d2 with d2 = 1.128; UCL/LCL = centre ± 3σ; moving-range
  UCL = D4 · MR̄ = 3.267 · MR̄. They are estimated from the *baseline* and
  applied to the current period (:mod:`engine.domain.control_charts`).
* **Run rules** (:data:`RULE_DESCRIPTIONS`): the Western Electric rules WE1–WE4
  and Nelson's rules by their numbers, ``N2`` (nine points in a row on one side
  of the centre line), ``N3`` (six points steadily increasing or decreasing),
  ``N4`` (fourteen points alternating up and down), ``N7`` (fifteen points in a
  row within 1σ) and ``N8`` (eight points in a row beyond 1σ, on both sides).
  Nelson's rules 1, 5 and 6 are the same tests as WE1, WE2 and WE3; they are
  evaluated and reported once, under the WE name, and ``N1``, ``N5``, ``N6``
  are accepted as synonyms wherever rules are named (:data:`RULE_SYNONYMS`, as
  is ``NELSON3``, the earlier name of ``N3``). ``MR`` is the moving-range
  chart's own limit.
* Points *beyond* a zone are strictly beyond it; points *within* 1σ are not
  beyond it (|z| ≤ 1). A pattern is reported at the point that completes it,
  and for the zone rules that point must itself be beyond the zone the rule
  names, so the marked batch is one that shows the problem. Once a rule fires,
  the points of that window are not reused for the same rule: a sustained
  shift reads as one event per completed pattern, not one event per batch.
* The rules are evaluated on numpy columns: each rule is a sliding-window count
  over a boolean column; only the completed patterns are visited one by one, to
  apply the no-reuse condition.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from engine.domain.batch_outcomes import TrendError

#: Bias-correction constant d2 for moving ranges of two consecutive points.
D2 = 1.128
#: D4 for subgroups of two: upper limit of the moving-range chart is D4 · MR̄.
D4 = 3.267

RULE_DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "WE1": "one point beyond 3σ from the centre line (Nelson rule 1)",
        "WE2": "two of three consecutive points beyond 2σ on the same side (Nelson rule 5)",
        "WE3": "four of five consecutive points beyond 1σ on the same side (Nelson rule 6)",
        "WE4": "eight consecutive points on the same side of the centre line",
        "N2": "nine consecutive points on the same side of the centre line (Nelson rule 2)",
        "N3": "six points in a row steadily increasing or decreasing (Nelson rule 3)",
        "N4": "fourteen points in a row alternating up and down (Nelson rule 4)",
        "N7": "fifteen points in a row within 1σ of the centre line, either side (Nelson rule 7)",
        "N8": "eight points in a row beyond 1σ from the centre line, on both sides (Nelson rule 8)",
        "MR": "moving range above the moving-range chart's upper limit (3.267 × mean moving range)",
    }
)

#: Other names accepted for a rule: Nelson's rules 1, 5, 6 are WE1, WE2, WE3; NELSON3 is the earlier name of N3.
RULE_SYNONYMS: Mapping[str, str] = MappingProxyType({"N1": "WE1", "N5": "WE2", "N6": "WE3", "NELSON3": "N3"})

#: Zone rules: (code, window width, points needed beyond, zone in σ); the completing point must be beyond too.
ZONE_RULES: tuple[tuple[str, int, int, float], ...] = (
    ("WE1", 1, 1, 3.0),
    ("WE2", 3, 2, 2.0),
    ("WE3", 5, 4, 1.0),
    ("WE4", 8, 8, 0.0),
    ("N2", 9, 9, 0.0),
)


def rule_code(name: str) -> str:
    """The code a rule is reported under (synonyms resolved); unknown names are refused."""
    code = RULE_SYNONYMS.get(name, name)
    if code not in RULE_DESCRIPTIONS:
        known = ", ".join([*RULE_DESCRIPTIONS, *RULE_SYNONYMS])
        raise TrendError(f"unknown control rule(s): {name} (known: {known})")
    return code


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
    mr_bar = statistics.fmean(abs(b - a) for a, b in itertools.pairwise(values))
    if mr_bar == 0:
        raise TrendError("the baseline values do not vary (mean moving range 0): no control limits can be set")
    centre = statistics.fmean(values)
    sigma = mr_bar / D2
    return ControlLimits(centre, sigma, centre + 3 * sigma, centre - 3 * sigma, mr_bar, D4 * mr_bar, len(values))


@dataclass(frozen=True, slots=True)
class RuleViolation:
    """A run rule firing: which rule, on which attribute, at which chart point (index) and batch."""

    rule: str
    attribute: str
    index: int
    batch_id: str
    detail: str
    in_current: bool = True


def _window_counts(mask: np.ndarray, width: int) -> np.ndarray:
    """For each index, how many of the ``width`` points ending there are True (0 before a full window)."""
    counts = np.zeros(len(mask), dtype=np.int64)
    if width <= len(mask):
        cumulative = np.concatenate(([0], np.cumsum(mask, dtype=np.int64)))
        counts[width - 1 :] = cumulative[width:] - cumulative[:-width]
    return counts


def _every(mask: np.ndarray, width: int) -> np.ndarray:
    """True where the ``width`` points ending at the index are all True."""
    return _window_counts(mask, width) == width


def _completed(candidates: np.ndarray, width: int) -> list[int]:
    """Indexes that complete a pattern, no window reused: the next one must start after the last completion."""
    indexes = np.flatnonzero(candidates)
    fired: list[int] = []
    position = 0
    while position < len(indexes):
        index = int(indexes[position])
        fired.append(index)
        position = int(np.searchsorted(indexes, index + width, side="left"))
    return fired


def _on_points(step_mask: np.ndarray) -> np.ndarray:
    """A mask over steps (step i joins points i and i+1) moved to the point that ends each step."""
    return np.concatenate(([False], step_mask))


Event = tuple[str, int, str]


def _zone_events(z: np.ndarray, values: np.ndarray, limits: ControlLimits) -> list[Event]:
    """WE1–WE4 and N2: ``needed`` of ``width`` points beyond ``beyond``·σ on one side, completing point beyond."""
    events: list[Event] = []
    for code, width, needed, beyond in ZONE_RULES:
        above, below = z > beyond, z < -beyond
        complete_above = above & (_window_counts(above, width) >= needed)
        complete_below = below & (_window_counts(below, width) >= needed)
        for index in _completed(complete_above | complete_below, width):
            word = "above" if complete_above[index] else "below"
            if code == "WE1":
                detail = (f"value {values[index]:.4g} is {abs(z[index]):.2f}σ {word} the centre line "
                          f"{limits.centre:.4g}")
            elif needed == width:
                detail = f"{width} consecutive points {word} the centre line {limits.centre:.4g}"
            else:
                detail = f"{needed} of {width} consecutive points beyond {beyond:g}σ {word} the centre line"
            events.append((code, index, detail))
    return events


def _sequence_events(z: np.ndarray, values: np.ndarray) -> list[Event]:
    """N3 (six rising or falling), N4 (fourteen alternating), N7 (fifteen within 1σ), N8 (eight beyond 1σ)."""
    steps = np.diff(values)
    rising, falling = _on_points(_every(steps > 0, 5)), _on_points(_every(steps < 0, 5))
    alternating = _on_points(_on_points(_every(steps[:-1] * steps[1:] < 0, 12)))
    within, outside = np.abs(z) <= 1, np.abs(z) > 1
    both_sides = (_window_counts(z > 1, 8) > 0) & (_window_counts(z < -1, 8) > 0)

    def trend(i: int) -> str:
        word = "increasing" if rising[i] else "decreasing"
        return f"6 points in a row steadily {word} ({values[i - 5]:.4g} to {values[i]:.4g})"

    found: dict[str, tuple[np.ndarray, int, Callable[[int], str]]] = {
        "N3": (rising | falling, 6, trend),
        "N4": (alternating, 14, lambda i: "14 points in a row alternating up and down"),
        "N7": (_every(within, 15), 15, lambda i: "15 points in a row within 1σ of the centre line"),
        "N8": (_every(outside, 8) & both_sides, 8, lambda i: "8 points in a row beyond 1σ, on both sides"),
    }
    return [(code, index, describe(index)) for code, (candidates, width, describe) in found.items()
            for index in _completed(candidates, width)]


def evaluate_rules(
    values: Sequence[float],
    limits: ControlLimits,
    *,
    attribute: str,
    batch_ids: Sequence[str],
    first_current: int = 0,
) -> list[RuleViolation]:
    """Every rule of :data:`RULE_DESCRIPTIONS` over ``values``, ordered by index then rule.

    ``first_current`` is the index of the first current-period point; events
    before it are marked ``in_current=False`` (baseline, phase I).
    """
    if len(batch_ids) != len(values):
        raise TrendError("one batch id per value is needed to name where a rule fires")
    column = np.asarray(values, dtype=float)
    z = (column - limits.centre) / limits.sigma
    events = _zone_events(z, column, limits) + _sequence_events(z, column)
    moving_ranges = np.abs(np.diff(column))
    events += [
        ("MR", index, f"moving range {moving_ranges[index - 1]:.4g} above UCL {limits.mr_ucl:.4g}")
        for index in (np.flatnonzero(moving_ranges > limits.mr_ucl) + 1).tolist()
    ]
    order = list(RULE_DESCRIPTIONS)
    events.sort(key=lambda event: (event[1], order.index(event[0])))
    return [
        RuleViolation(code, attribute, index, batch_ids[index], detail, index >= first_current)
        for code, index, detail in events
    ]


__all__ = [
    "D2",
    "D4",
    "RULE_DESCRIPTIONS",
    "RULE_SYNONYMS",
    "ZONE_RULES",
    "ControlLimits",
    "RuleViolation",
    "evaluate_rules",
    "imr_limits",
    "rule_code",
]
