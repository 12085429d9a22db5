"""Periodic-review statistics give known answers on constructed data (OOS-20, OOS-21, OOS-23).

Expected values are computed independently in the tests (hypergeometric and
binomial sums with math.comb, closed forms of the control limits and indices),
never by calling the code under test a second way.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest

from engine.domain.specification_limits import AttributeLimit
from engine.domain.specifications import Specification
from engine.domain.trends import (
    D2,
    BatchOutcome,
    OosCategory,
    Period,
    Thresholds,
    TrendError,
    analyse_trends,
    capability,
    clopper_pearson,
    compare_rates,
    count_period,
    evaluate_rules,
    imr_limits,
    repeat_failures,
    review_signals,
    six_monthly_periods,
)

PRODUCT = "TEST-CART"
H1_2025 = Period(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
H2_2025 = Period(datetime(2025, 7, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
H1_2026 = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
VIABILITY_LOW = OosCategory("below lower limit", "viability", "major")
SPEC = Specification(
    PRODUCT,
    1,
    datetime(2024, 1, 1, tzinfo=UTC),
    (
        AttributeLimit("x", "u", lower=5, upper=15),
        AttributeLimit("viability", "%", lower=80),
        AttributeLimit("sterility", accepted_results=("no growth",)),
    ),
)
SIGMA_ALT = 1.0 / 1.128  # σ of the alternating 10/11 baseline: MR̄ = 1


def batches_in(
    period: Period,
    prefix: str,
    *,
    released: int = 0,
    administered: int = 0,
    not_administered: int = 0,
    values: list[float] | None = None,
    category: OosCategory = VIABILITY_LOW,
) -> list[BatchOutcome]:
    """Batches spread one hour apart from the period start; released ones carry ``values`` of attribute x in order."""
    rows: list[BatchOutcome] = []
    statuses = (
        ["released"] * released + ["oos_administered"] * administered + ["oos_not_administered"] * not_administered
    )
    for i, status in enumerate(statuses):
        results = {"x": values[i]} if values is not None and status == "released" else {}
        categories = () if status == "released" else (category,)
        rows.append(
            BatchOutcome(f"{prefix}-{i:03d}", PRODUCT, period.start + timedelta(hours=i), status, results, categories)
        )
    return rows


def alternating(n: int) -> list[float]:
    return [10.0 if i % 2 == 0 else 11.0 for i in range(n)]


def hypergeom_upper_tail(a: int, row1: int, col1: int, total: int) -> float:
    """P(X >= a) for X hypergeometric: row1 draws from total with col1 successes (Fisher's one-sided p)."""
    top = min(row1, col1)
    return sum(math.comb(col1, x) * math.comb(total - col1, row1 - x) for x in range(a, top + 1)) / math.comb(
        total, row1
    )


def hypergeom_two_sided(a: int, row1: int, col1: int, total: int) -> float:
    """Sum of the probabilities of tables no more likely than the observed one (Fisher's two-sided p)."""
    low, high = max(0, row1 + col1 - total), min(row1, col1)

    def pmf(x: int) -> float:
        return math.comb(col1, x) * math.comb(total - col1, row1 - x) / math.comb(total, row1)

    observed = pmf(a)
    return sum(pmf(x) for x in range(low, high + 1) if pmf(x) <= observed * (1 + 1e-7))


def binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


# --- periods -------------------------------------------------------------------------------------------------------


def test_six_monthly_periods_are_consecutive_half_years_and_drop_a_partial_tail() -> None:
    # REQ: OOS-20
    periods = six_monthly_periods(datetime(2024, 7, 1, tzinfo=UTC), datetime(2026, 9, 15, tzinfo=UTC))
    assert [p.label for p in periods] == ["2024-H2", "2025-H1", "2025-H2", "2026-H1"]
    assert all(a.end == b.start for a, b in itertools.pairwise(periods))
    assert periods[-1].end == datetime(2026, 7, 1, tzinfo=UTC)


def test_periods_are_half_open() -> None:
    # REQ: OOS-20
    midnight = datetime(2025, 7, 1, tzinfo=UTC)
    assert not H1_2025.contains(midnight)
    assert H2_2025.contains(midnight)
    assert H1_2025.contains(midnight - timedelta(microseconds=1))


def test_a_period_not_on_half_years_is_labelled_by_its_days() -> None:
    period = Period(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 9, 1, tzinfo=UTC))
    assert period.label == "2025-03-01 to 2025-08-31"
    noon = Period(datetime(2025, 1, 1, 12, tzinfo=UTC), datetime(2025, 7, 1, 12, tzinfo=UTC))
    assert noon.label == "2025-01-01 to 2025-07-01"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(TrendError, match="timezone-aware"):
        Period(datetime(2025, 1, 1), datetime(2025, 7, 1, tzinfo=UTC))
    with pytest.raises(TrendError, match="timezone-aware"):
        BatchOutcome("B1", PRODUCT, datetime(2025, 1, 1), "released")


@pytest.mark.parametrize(
    ("status", "categories", "message"),
    [
        ("released", (VIABILITY_LOW,), "released to specification but has OOS categories"),
        ("oos_administered", (), "names no OOS category"),
        ("shipped", (), "is not one of"),
    ],
)
def test_contradictory_batch_outcomes_are_refused(status: str, categories: tuple, message: str) -> None:
    # REQ: OOS-21
    with pytest.raises(TrendError, match=message):
        BatchOutcome("B1", PRODUCT, datetime(2025, 1, 1, tzinfo=UTC), status, {}, categories)  # type: ignore[arg-type]


def test_non_finite_results_are_refused() -> None:
    with pytest.raises(TrendError, match="finite"):
        BatchOutcome("B1", PRODUCT, datetime(2025, 1, 1, tzinfo=UTC), "released", {"x": math.nan})


# --- counts, rates, intervals, Fisher ------------------------------------------------------------------------------


def test_counts_and_rates_match_hand_computed_values() -> None:
    # REQ: OOS-20
    rows = batches_in(H1_2026, "C", released=8, administered=1, not_administered=1)
    rows += batches_in(H2_2025, "EARLIER", released=5, administered=5)  # another period: not counted
    counts = count_period(rows, H1_2026, PRODUCT)
    assert (counts.released, counts.oos_administered, counts.oos_not_administered) == (8, 1, 1)
    assert (counts.oos, counts.total) == (2, 10)
    assert counts.oos_rate == pytest.approx(2 / 10)
    assert counts.administered_oos_rate == pytest.approx(1 / 9)


def test_an_empty_period_has_no_rate() -> None:
    counts = count_period([], H1_2026, PRODUCT)
    assert counts.total == 0
    assert counts.oos_rate is None
    assert counts.oos_rate_ci is None


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 100), (10, 10), (7, 40)])
def test_clopper_pearson_bounds_satisfy_their_defining_tail_probabilities(k: int, n: int) -> None:
    # REQ: OOS-20 (rate with an exact 95 % interval)
    low, high = clopper_pearson(k, n, 0.95)
    if k == 0:
        assert low == 0.0
        assert high == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
    else:
        assert 1 - binomial_cdf(k - 1, n, low) == pytest.approx(0.025, rel=1e-6)
    if k == n:
        assert high == 1.0
        assert low == pytest.approx(0.025 ** (1 / n), rel=1e-9)
    else:
        assert binomial_cdf(k, n, high) == pytest.approx(0.025, rel=1e-6)


def test_a_large_rise_in_the_oos_rate_is_significant() -> None:
    # REQ: OOS-23 — 10/100 against 3/300 pooled: increase
    comparison = compare_rates(10, 100, 3, 300)
    expected = hypergeom_upper_tail(10, row1=100, col1=13, total=400)
    assert comparison.p_value_greater == pytest.approx(expected, rel=1e-9)
    assert comparison.p_value_greater < 0.001
    assert comparison.p_value_two_sided == pytest.approx(hypergeom_two_sided(10, 100, 13, 400), rel=1e-9)
    assert comparison.odds_ratio == pytest.approx((10 * 297) / (90 * 3))


def test_a_small_rise_in_the_oos_rate_is_not_significant() -> None:
    # REQ: OOS-23 — 2/100 against 3/300 pooled: within chance
    comparison = compare_rates(2, 100, 3, 300)
    expected = hypergeom_upper_tail(2, row1=100, col1=5, total=400)
    assert comparison.p_value_greater == pytest.approx(expected, rel=1e-9)
    assert comparison.p_value_greater > 0.05


def test_oos_rate_signal_only_for_a_significant_increase() -> None:
    # REQ: OOS-23
    baseline = batches_in(H1_2025, "B", released=297, administered=3)
    big = analyse_trends(baseline + batches_in(H1_2026, "C", released=90, administered=10), SPEC, [H1_2025, H1_2026])
    small = analyse_trends(baseline + batches_in(H1_2026, "C", released=98, administered=2), SPEC, [H1_2025, H1_2026])
    big_signals = [s for s in review_signals(big) if s.kind == "oos_rate_increase"]
    assert len(big_signals) == 1
    assert "10/100" in big_signals[0].detail and "3/300" in big_signals[0].detail
    assert big_signals[0].requirement == "OOS-23"
    assert big_signals[0].opens == ("capa", "management_review")
    assert not [s for s in review_signals(small) if s.kind == "oos_rate_increase"]


def test_a_falling_oos_rate_opens_no_signal() -> None:
    # REQ: OOS-23 — one-sided test: only increases escalate
    comparison = compare_rates(0, 100, 30, 300)
    assert comparison.p_value_greater == pytest.approx(1.0)
    assert comparison.p_value_two_sided < 0.01


# --- I-MR chart and run rules ------------------------------------------------------------------------------------


def test_imr_limits_of_a_known_series() -> None:
    # REQ: OOS-21
    limits = imr_limits(alternating(20))
    assert limits.centre == pytest.approx(10.5)
    assert limits.mr_bar == pytest.approx(1.0)
    assert limits.sigma == pytest.approx(1 / 1.128)
    assert limits.ucl == pytest.approx(10.5 + 3 / 1.128)
    assert limits.lcl == pytest.approx(10.5 - 3 / 1.128)
    assert limits.mr_ucl == pytest.approx(3.267)


def test_a_baseline_without_variation_gives_no_limits() -> None:
    with pytest.raises(TrendError, match="do not vary"):
        imr_limits([5.0] * 10)


def rules_at(values: list[float], baseline_length: int = 20) -> list[tuple[str, int]]:
    limits = imr_limits(values[:baseline_length])
    ids = [f"B{i}" for i in range(len(values))]
    violations = evaluate_rules(values, limits, attribute="x", batch_ids=ids, first_current=baseline_length)
    assert all(v.batch_id == f"B{v.index}" for v in violations)
    return [(v.rule, v.index) for v in violations]


def test_an_alternating_series_is_caught_only_by_the_alternation_and_hugging_rules() -> None:
    # REQ: OOS-21 — 10/11 alternating: ±0.56σ, never beyond a zone, but up-down every batch (Nelson 4)
    # and always within 1σ (Nelson 7); no zone, run or trend rule fires
    fired = rules_at(alternating(60))
    assert {rule for rule, _ in fired} == {"N4", "N7"}
    assert min(i for r, i in fired if r == "N4") == 13  # the 14th point completes the first alternation
    assert min(i for r, i in fired if r == "N7") == 14  # the 15th point within 1σ


def test_a_two_sigma_shift_is_flagged_by_the_zone_and_run_rules_at_the_right_points() -> None:
    # REQ: OOS-21 — current points alternate centre + 2σ ± 0.5: 12.77 (2.56σ) and 11.77 (1.44σ)
    shifted = [10.5 + 2 * SIGMA_ALT + (0.5 if i % 2 == 0 else -0.5) for i in range(12)]
    fired = rules_at(alternating(20) + shifted)
    first = {rule: min(i for r, i in fired if r == rule) for rule, _ in fired}
    # WE2: points 20 and 22 beyond 2σ within the window 20..22.
    assert first["WE2"] == 22
    # WE3: window 19..23 has 20..23 beyond 1σ (point 19 = 11.0 is only 0.56σ).
    assert first["WE3"] == 23
    # WE4: the last baseline point (11.0) is already above the centre, so the run of 8 is 19..26.
    assert first["WE4"] == 26
    # N2: nine in a row above, 19..27
    assert first["N2"] == 27
    assert "WE1" not in first and "N3" not in first and "MR" not in first


def test_a_downward_shift_is_named_as_below() -> None:
    # REQ: OOS-21
    shifted = [10.5 - 2 * SIGMA_ALT + (0.5 if i % 2 == 0 else -0.5) for i in range(4)]
    values = alternating(20) + shifted
    limits = imr_limits(values[:20])
    violations = evaluate_rules(values, limits, attribute="x", batch_ids=[str(i) for i in range(24)], first_current=20)
    we2 = [v for v in violations if v.rule == "WE2"]
    assert [v.index for v in we2] == [23]  # 21 (−2.56σ) and 23 (−2.56σ); 22 is only −1.44σ
    assert "below" in we2[0].detail


def test_a_linear_ramp_is_flagged_by_nelson_rule_3_at_the_sixth_rising_point() -> None:
    # REQ: OOS-21 — the ramp starts below the last baseline point, so the rising run begins at index 20
    ramp = [10.55 + 0.1 * i for i in range(8)]
    fired = rules_at(alternating(20) + ramp)
    assert ("N3", 25) in fired
    assert min(i for r, i in fired if r == "N3") == 25
    assert "WE1" not in {r for r, _ in fired}


def test_one_point_beyond_three_sigma_and_its_jump_are_flagged() -> None:
    # REQ: OOS-21 — 14.0 is (14 − 10.5)·1.128 = 3.95σ above; the jump from 11 is 3.0 < 3.267, back to 10 is 4.0
    fired = rules_at([*alternating(20), 14.0, 10.0, 11.0])
    assert ("WE1", 20) in fired
    assert ("MR", 21) in fired
    assert ("MR", 20) not in fired


def test_a_reported_window_is_not_reused_for_the_same_rule() -> None:
    # REQ: OOS-21 — 16 points above the centre make two WE4 events (points 7 and 15), not nine, and one
    # Nelson 2 event (nine in a row, point 8); all 16 lie within 1σ, so Nelson 7 completes at point 14
    limits = imr_limits(alternating(20))
    values = [11.0] * 16
    violations = evaluate_rules(values, limits, attribute="x", batch_ids=[str(i) for i in range(16)])
    assert [(v.rule, v.index) for v in violations] == [("WE4", 7), ("N2", 8), ("N7", 14), ("WE4", 15)]


def test_nelson_rule_8_needs_points_beyond_one_sigma_on_both_sides() -> None:
    # REQ: OOS-21 — ±1.5σ alternating: eight in a row outside 1σ on both sides (Nelson 8) completes at point 7;
    # the same eight on one side only is a shift (WE3, WE4), not Nelson 8
    limits = imr_limits(alternating(20))
    sigma = limits.sigma
    mixture = [limits.centre + (1.5 if i % 2 == 0 else -1.5) * sigma for i in range(8)]
    one_side = [limits.centre + 1.5 * sigma] * 8
    ids = [str(i) for i in range(8)]
    assert [(v.rule, v.index) for v in evaluate_rules(mixture, limits, attribute="x", batch_ids=ids)] == [("N8", 7)]
    one_sided_rules = {v.rule for v in evaluate_rules(one_side, limits, attribute="x", batch_ids=ids)}
    assert "N8" not in one_sided_rules and {"WE3", "WE4"} <= one_sided_rules


def test_nelson_synonyms_name_the_rule_they_are_reported_under() -> None:
    # REQ: OOS-23 — Nelson 1, 5, 6 are WE1, WE2, WE3; NELSON3 is the earlier name of N3
    assert Thresholds(control_rules=("N1", "N5", "N6", "NELSON3", "WE1")).control_rules == ("WE1", "WE2", "WE3", "N3")
    with pytest.raises(TrendError, match="unknown control rule"):
        Thresholds(control_rules=("N9",))


def test_rule_events_name_the_batch_and_the_attribute_in_an_analysis() -> None:
    # REQ: OOS-21, OOS-23 — limits from the earlier period, applied to the current one
    baseline = batches_in(H2_2025, "BASE", released=20, values=alternating(20))
    shifted = [10.5 + 2 * SIGMA_ALT + (0.5 if i % 2 == 0 else -0.5) for i in range(12)]
    current = batches_in(H1_2026, "CUR", released=12, administered=1, values=[*shifted, 0.0])
    analysis = analyse_trends(baseline + current, SPEC, [H2_2025, H1_2026])
    chart = next(c for c in analysis.charts if c.attribute == "x")
    assert chart.limits is not None and chart.limits.baseline_points == 20
    assert len(chart.points) == 32  # the OOS batch is not on the chart
    first_we2 = next(v for v in chart.violations if v.rule == "WE2")
    assert (first_we2.batch_id, first_we2.in_current) == ("CUR-002", True)
    signals = [s for s in review_signals(analysis) if s.kind == "control_rule"]
    assert [s.attribute for s in signals] == ["x"]
    # default rules: WE2 ×3, WE3 ×2, N2 ×1 within 10 batches: six events, at least five within 30 batches
    assert "WE2" in signals[0].detail and "N2" in signals[0].detail and "CUR-002" in signals[0].detail


def test_a_short_baseline_gives_no_limits_and_no_rule_signal() -> None:
    # REQ: OOS-21
    baseline = batches_in(H2_2025, "BASE", released=5, values=alternating(5))
    current = batches_in(H1_2026, "CUR", released=5, values=[20.0] * 5)
    analysis = analyse_trends(baseline + current, SPEC, [H2_2025, H1_2026])
    chart = next(c for c in analysis.charts if c.attribute == "x")
    assert chart.limits is None
    assert "fewer than 20" in chart.note
    assert not [s for s in review_signals(analysis) if s.kind == "control_rule"]


def test_rules_that_open_signals_are_configurable() -> None:
    # REQ: OOS-23
    baseline = batches_in(H2_2025, "BASE", released=20, values=alternating(20))
    current = batches_in(H1_2026, "CUR", released=3, values=[14.0, 10.0, 11.0])
    analysis = analyse_trends(baseline + current, SPEC, [H2_2025, H1_2026])
    # one WE1 event (and one MR) is what a stable attribute shows by chance in ~30 % of periods: no CAPA by default
    assert review_signals(analysis) == []
    assert [s.kind for s in review_signals(analysis, Thresholds(min_rule_events=1))] == ["control_rule"]
    assert review_signals(analysis, Thresholds(control_rules=("WE4",), min_rule_events=1)) == []
    with pytest.raises(TrendError, match="unknown control rule"):
        Thresholds(control_rules=("WE9",))


def test_rule_events_open_a_signal_only_when_they_cluster() -> None:
    # REQ: OOS-23 — five WE1 events 20 batches apart are scattered (at most 2 within 30 batches);
    # the same five 5 batches apart are a cluster
    baseline = batches_in(H2_2025, "BASE", released=20, values=alternating(20))

    def signals_with_spikes(spacing: int) -> list[str]:
        values = [14.0 if i % spacing == 0 else 10.5 for i in range(5 * spacing)]
        current = batches_in(H1_2026, "CUR", released=len(values), values=values)
        analysis = analyse_trends(baseline + current, SPEC, [H2_2025, H1_2026])
        signals = review_signals(analysis, Thresholds(control_rules=("WE1",)))
        return [s.kind for s in signals if s.kind == "control_rule"]

    assert signals_with_spikes(20) == []
    assert signals_with_spikes(5) == ["control_rule"]


# --- capability and near-limit -------------------------------------------------------------------------------------


def test_cpk_and_ppk_of_a_known_series() -> None:
    # REQ: OOS-21 — values 9, 11 alternating: mean 10, MR̄ 2, σ within 2/1.128, sample σ √(10/9)
    values = [9.0 if i % 2 == 0 else 11.0 for i in range(10)]
    sigma_within, sigma_overall = 2 / 1.128, math.sqrt(10 / 9)
    two_sided = capability("x", values, lower=5, upper=15)
    assert two_sided.mean == pytest.approx(10)
    assert two_sided.sigma_within == pytest.approx(sigma_within)
    assert two_sided.sigma_overall == pytest.approx(sigma_overall)
    assert two_sided.cpk == pytest.approx(5 / (3 * sigma_within))  # 0.940
    assert two_sided.ppk == pytest.approx(5 / (3 * sigma_overall))  # 1.581
    lower_only = capability("x", values, lower=8, upper=None)
    assert lower_only.cpk == pytest.approx(2 / (3 * sigma_within))  # Cpl 0.376
    assert lower_only.ppk == pytest.approx(2 / (3 * sigma_overall))
    upper_only = capability("x", values, lower=None, upper=10.5)
    assert upper_only.cpk == pytest.approx(0.5 / (3 * sigma_within))  # Cpu


def test_near_limit_share_uses_the_tolerance_width_or_the_process_spread() -> None:
    # REQ: OOS-21 — two-sided: a fraction of the tolerance width; one-sided: k σ within, never the limit's value
    values = [9.0 if i % 2 == 0 else 11.0 for i in range(10)]
    sigma_within = 2 / 1.128
    two_sided = capability("x", values, lower=8.5, upper=15, near_limit_fraction=0.1)
    assert two_sided.near_limit_band == pytest.approx(0.65)  # 10 % of 6.5
    assert two_sided.near_limit_share == pytest.approx(0.5)  # every 9.0 is 0.5 from 8.5
    one_sided = capability("x", values, lower=9.5, upper=None, near_limit_sigmas=0.5)
    assert one_sided.near_limit_band == pytest.approx(0.5 * sigma_within)  # 0.887
    assert one_sided.near_limit_share == pytest.approx(0.5)  # the 9.0 values, on the wrong side, count as near
    assert capability("x", values, lower=9.5, upper=None).near_limit_band == pytest.approx(sigma_within)


def test_a_capable_one_sided_attribute_is_not_near_its_limit() -> None:
    # REQ: OOS-21 — viability ≥ 80 % with results 88.0/93.0 (σ within 4.43): the nearest results are 8 points,
    # 1.8σ, above 80, so none is within 1σ; a band of 10 % of the limit value (8 points) would count half of them
    values = [88.0 if i % 2 == 0 else 93.0 for i in range(40)]
    viability = capability("viability", values, lower=80, upper=None)
    assert viability.near_limit_band == pytest.approx(5 / 1.128)
    assert viability.near_limit_count == 0


def test_capability_and_near_limit_signals() -> None:
    # REQ: OOS-21, OOS-23 — the 9/11 series against 8.5..15: Cpk 0.28 < 1 and half the batches near the limit
    baseline = batches_in(H2_2025, "BASE", released=20, values=alternating(20))
    current_values = [9.0 if i % 2 == 0 else 11.0 for i in range(10)]
    current = batches_in(H1_2026, "CUR", released=10, values=current_values)
    spec = Specification(PRODUCT, 2, datetime(2024, 1, 1, tzinfo=UTC), (AttributeLimit("x", "u", lower=8.5, upper=15),))
    signals = review_signals(analyse_trends(baseline + current, spec, [H2_2025, H1_2026]))
    kinds = {s.kind: s for s in signals}
    assert "low_capability" in kinds and "Cpk 0.28" in kinds["low_capability"].detail
    assert "near_limit" in kinds and "5 of 10" in kinds["near_limit"].detail


def test_capability_needs_enough_results_before_it_signals() -> None:
    # REQ: OOS-23
    current = batches_in(H1_2026, "CUR", released=4, values=[9.0, 11.0, 9.0, 11.0])
    spec = Specification(PRODUCT, 2, datetime(2024, 1, 1, tzinfo=UTC), (AttributeLimit("x", "u", lower=8.5, upper=15),))
    analysis = analyse_trends(current, spec, [H1_2026])
    assert analysis.capabilities[0].cpk is not None
    assert review_signals(analysis) == []


# --- repeat failures -----------------------------------------------------------------------------------------------


def test_repeat_failures_within_the_period_reach_the_threshold() -> None:
    # REQ: OOS-21, OOS-23
    two = batches_in(H1_2026, "C", released=5, administered=1, not_administered=1)
    found = repeat_failures(two, [H1_2026], threshold=2)
    assert [(r.attribute, r.scope, r.count) for r in found] == [("viability", "within_period", 2)]
    assert found[0].batch_ids == ("C-005", "C-006")
    one = batches_in(H1_2026, "C", released=5, administered=1)
    assert repeat_failures(one, [H1_2026], threshold=2) == []


def test_repeat_failures_across_consecutive_periods() -> None:
    # REQ: OOS-21, OOS-23
    earlier = batches_in(H2_2025, "E", administered=1)
    current = batches_in(H1_2026, "C", administered=1)
    found = repeat_failures(earlier + current, [H2_2025, H1_2026], threshold=2, consecutive=2)
    assert [(r.scope, r.count, r.batch_ids) for r in found] == [("consecutive_periods", 2, ("E-000", "C-000"))]
    # the same failure a year earlier, with a gap, is not consecutive
    gap = batches_in(H1_2025, "G", administered=1)
    assert repeat_failures(gap + current, [H1_2025, H1_2026], consecutive=2) == []
    # another attribute failing earlier does not make viability repeat
    other = batches_in(
        H2_2025, "O", administered=1, category=OosCategory("result not accepted", "sterility", "critical")
    )
    assert repeat_failures(other + current, [H2_2025, H1_2026], consecutive=2) == []


def test_repeat_failure_signal_names_the_batches() -> None:
    # REQ: OOS-23
    rows = batches_in(H1_2026, "C", released=30, administered=2)
    signals = review_signals(analyse_trends(rows, SPEC, [H1_2026]))
    repeat = [s for s in signals if s.kind == "repeat_failure"]
    assert len(repeat) == 1
    assert repeat[0].attribute == "viability" and "C-030, C-031" in repeat[0].detail


# --- categories and input checks -----------------------------------------------------------------------------------


def test_oos_cases_are_categorised_by_type_attribute_severity_and_administration() -> None:
    # REQ: OOS-21
    sterility = OosCategory("result not accepted", "sterility", "critical")
    rows = batches_in(H1_2026, "V", administered=2, not_administered=1)
    rows += batches_in(H1_2026, "S", not_administered=1, category=sterility)
    analysis = analyse_trends(rows, SPEC, [H1_2026])
    summary = {(c.category, c.administered, c.not_administered) for c in analysis.categories}
    assert summary == {(VIABILITY_LOW, 2, 1), (sterility, 0, 1)}


def test_analysis_refuses_other_products_duplicates_and_overlapping_baselines() -> None:
    rows = batches_in(H1_2026, "C", released=2)
    other = BatchOutcome("X1", "OTHER", H1_2026.start, "released")
    with pytest.raises(TrendError, match="other products"):
        analyse_trends([*rows, other], SPEC, [H1_2026])
    with pytest.raises(TrendError, match="listed twice"):
        analyse_trends(rows + rows[:1], SPEC, [H1_2026])
    with pytest.raises(TrendError, match="must not overlap"):
        analyse_trends(rows, SPEC, [H2_2025, H1_2026], baseline_periods=[H1_2026])


def test_batches_outside_every_period_are_ignored() -> None:
    # REQ: OOS-20
    rows = batches_in(H1_2026, "C", released=3) + batches_in(H1_2025, "OLD", administered=4)
    analysis = analyse_trends(rows, SPEC, [H2_2025, H1_2026])
    assert [c.total for c in analysis.counts] == [0, 3]
    assert analysis.rate_comparison is None


def test_d2_is_the_moving_range_constant() -> None:
    assert D2 == 1.128
