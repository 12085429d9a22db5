"""The run rules over numpy columns flag exactly the points their definition flags (OOS-21 "drift").

:func:`engine.domain.control_rules.evaluate_rules` evaluates every rule as sliding-window counts over
numpy columns. The reference below is the rules' definition read point by point, as the module
docstring and the report's method section state it: a pattern is reported at the point that completes
it (for the zone rules that point is itself beyond the zone), and once a rule fires the points of its
window are not reused for that rule. Random series, including ties, flat stretches and values exactly
on a zone line, must give the same (rule, point) events from both.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.domain.control_rules import RULE_DESCRIPTIONS, ZONE_RULES, ControlLimits, evaluate_rules


def reference_events(values: list[float], limits: ControlLimits) -> list[tuple[str, int]]:
    """(rule, index) of every event, by the definition, one point at a time."""
    n = len(values)
    z = [(v - limits.centre) / limits.sigma for v in values]
    events: list[tuple[str, int]] = []

    def no_reuse(code: str, width: int, completes: list[bool]) -> None:
        free_from = 0
        for index in range(n):
            if index >= free_from and completes[index]:
                events.append((code, index))
                free_from = index + width

    for code, width, needed, beyond in ZONE_RULES:
        completes = []
        for i in range(n):
            window = z[i - width + 1 : i + 1] if i >= width - 1 else []
            above = z[i] > beyond and sum(x > beyond for x in window) >= needed
            below = z[i] < -beyond and sum(x < -beyond for x in window) >= needed
            completes.append(above or below)
        no_reuse(code, width, completes)

    def steps_before(i: int, count: int) -> list[float]:
        return [values[k + 1] - values[k] for k in range(i - count, i)]

    no_reuse("N3", 6, [i >= 5 and (all(s > 0 for s in steps_before(i, 5)) or all(s < 0 for s in steps_before(i, 5)))
                       for i in range(n)])
    def alternating(i: int) -> bool:
        steps = steps_before(i, 13)
        return all(a * b < 0 for a, b in itertools.pairwise(steps))

    no_reuse("N4", 14, [i >= 13 and alternating(i) for i in range(n)])
    no_reuse("N7", 15, [i >= 14 and all(abs(x) <= 1 for x in z[i - 14 : i + 1]) for i in range(n)])
    no_reuse("N8", 8, [i >= 7 and all(abs(x) > 1 for x in z[i - 7 : i + 1])
                       and any(x > 1 for x in z[i - 7 : i + 1]) and any(x < -1 for x in z[i - 7 : i + 1])
                       for i in range(n)])
    events += [("MR", i) for i in range(1, n) if abs(values[i] - values[i - 1]) > limits.mr_ucl]
    order = list(RULE_DESCRIPTIONS)
    return sorted(events, key=lambda event: (event[1], order.index(event[0])))


def limits_of(centre: float, sigma: float) -> ControlLimits:
    mr_bar = sigma * 1.128
    return ControlLimits(centre, sigma, centre + 3 * sigma, centre - 3 * sigma, mr_bar, 3.267 * mr_bar, 20)


# Values on a coarse grid around the centre: runs, ties (zero steps) and points exactly on ±1σ, ±2σ, ±3σ lines.
on_grid = st.integers(min_value=-16, max_value=16).map(lambda k: 10.0 + k * 0.25)
series = st.lists(on_grid, min_size=0, max_size=120)
drifting = st.lists(st.floats(min_value=-0.6, max_value=0.6, allow_nan=False), min_size=0, max_size=150).map(
    lambda steps: [10.0 + sum(steps[: i + 1]) for i in range(len(steps))])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=series, sigma=st.sampled_from([0.25, 0.5, 1.0]))
def test_vectorised_rules_flag_exactly_the_points_the_definition_flags(values: list[float], sigma: float) -> None:
    # REQ: OOS-21, OOS-23 — same events (rule and chart point) as the point-by-point definition
    limits = limits_of(10.0, sigma)
    found = evaluate_rules(values, limits, attribute="a", batch_ids=[f"B{i}" for i in range(len(values))])
    assert [(v.rule, v.index) for v in found] == reference_events(values, limits)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=drifting, sigma=st.floats(min_value=0.05, max_value=2.0))
def test_vectorised_rules_agree_on_random_walks(values: list[float], sigma: float) -> None:
    # REQ: OOS-21 — drifts and trends (N3, WE4, N2) as well as noise
    limits = limits_of(10.0, sigma)
    found = evaluate_rules(values, limits, attribute="a", batch_ids=[f"B{i}" for i in range(len(values))])
    assert [(v.rule, v.index) for v in found] == reference_events(values, limits)
