"""OOS detection, specification versions and case eligibility (OOS-01, OOS-02)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from engine.domain.specification_limits import AttributeLimit, SpecificationError
from engine.domain.specifications import (
    CaseNotEligible,
    OosFinding,
    OosReason,
    Product,
    ProductKind,
    Specification,
    TestResult,
    check_case_eligibility,
    detect_oos,
    specification_in_force,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def spec_of(*limits: AttributeLimit, version: int = 1, effective_from: datetime = T0) -> Specification:
    return Specification("P-1", version, effective_from, limits)


def single(limit: AttributeLimit, result: TestResult) -> list[OosFinding]:
    return detect_oos([result], spec_of(limit))


CAR_T = Product("P-1", "demo CAR-T", ProductKind.AUTHORISED, cell_tissue_based=True, atmp_class="GTMP")
AAV = Product("AAV-1", "demo AAV vector", ProductKind.AUTHORISED, cell_tissue_based=False, atmp_class="GTMP")
VIABILITY_FINDING = OosFinding("viability", "74.0", "≥ 80 %", "%", OosReason.BELOW_LOWER_LIMIT)


# --- numeric limits: inclusive and exclusive bounds exactly at the limit -----------------


@pytest.mark.parametrize(
    ("inclusive", "value", "expected"),
    [
        (True, 80.0, []),  # exactly at an inclusive lower limit: in spec
        (True, 79.9, [OosReason.BELOW_LOWER_LIMIT]),
        (True, 80.1, []),
        (False, 80.0, [OosReason.BELOW_LOWER_LIMIT]),  # exactly at an exclusive lower limit: OOS
        (False, 80.01, []),
    ],
)
def test_lower_limit_at_boundary_respects_inclusivity(inclusive: bool, value: float, expected: list) -> None:
    # REQ: OOS-01
    limit = AttributeLimit("viability", "%", lower=80, lower_inclusive=inclusive)
    findings = single(limit, TestResult("viability", value, unit="%"))
    assert [f.reason for f in findings] == expected


@pytest.mark.parametrize(
    ("inclusive", "value", "expected"),
    [
        (False, 5.0, [OosReason.ABOVE_UPPER_LIMIT]),  # endotoxin exactly 5.0 against < 5.0: OOS
        (False, 4.99, []),
        (True, 5.0, []),  # exactly at an inclusive upper limit: in spec
        (True, 5.01, [OosReason.ABOVE_UPPER_LIMIT]),
    ],
)
def test_upper_limit_at_boundary_respects_inclusivity(inclusive: bool, value: float, expected: list) -> None:
    # REQ: OOS-01
    limit = AttributeLimit("endotoxin", "EU/mL", upper=5.0, upper_inclusive=inclusive)
    findings = single(limit, TestResult("endotoxin", value, unit="EU/mL"))
    assert [f.reason for f in findings] == expected


def test_range_reports_below_and_above_with_measured_value_and_limit_text() -> None:
    # REQ: OOS-01
    limit = AttributeLimit("car_t_dose", "x10^8 cells", lower=0.6, upper=6.0)
    low = single(limit, TestResult("car_t_dose", 0.59, unit="x10^8 cells"))
    high = single(limit, TestResult("car_t_dose", 6.2, unit="x10^8 cells"))
    assert low == [
        OosFinding("car_t_dose", "0.59", "0.6 to 6.0 x10^8 cells", "x10^8 cells", OosReason.BELOW_LOWER_LIMIT)
    ]
    assert high[0].reason is OosReason.ABOVE_UPPER_LIMIT
    assert high[0].measured == "6.2"
    assert single(limit, TestResult("car_t_dose", 0.6, unit="x10^8 cells")) == []
    assert single(limit, TestResult("car_t_dose", 6.0, unit="x10^8 cells")) == []


# --- float edge cases ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "value"),
    [
        # Decimal(0.3) is 0.29999999999999998889..., which would fall below >= 0.3.
        (AttributeLimit("x", "u", lower=Decimal("0.3")), 0.3),
        # Decimal(0.1) is 0.10000000000000000555..., which would rise above <= 0.1.
        (AttributeLimit("x", "u", upper=Decimal("0.1")), 0.1),
        # A float limit and a Decimal result written the same way are the same number.
        (AttributeLimit("x", "u", upper=1.1), Decimal("1.1")),
        (AttributeLimit("x", "u", lower=2.675), 2.675),
    ],
)
def test_float_result_equal_to_inclusive_limit_is_in_spec(limit: AttributeLimit, value: float) -> None:
    # REQ: OOS-01
    assert single(limit, TestResult("x", value, unit="u")) == []


def test_float_result_equal_to_exclusive_limit_is_oos_despite_binary_representation() -> None:
    # REQ: OOS-01
    limit = AttributeLimit("x", "u", upper=Decimal("0.1"), upper_inclusive=False)
    assert [f.reason for f in single(limit, TestResult("x", 0.1, unit="u"))] == [OosReason.ABOVE_UPPER_LIMIT]


def test_unrounded_arithmetic_artefact_is_compared_as_reported_and_shown_in_full() -> None:
    # REQ: OOS-01
    # 0.1 + 0.2 is 0.30000000000000004 in binary floats. The engine never rounds on the
    # laboratory's behalf; the finding shows the full value so QA sees why it failed.
    limit = AttributeLimit("x", "u", upper=Decimal("0.3"))
    findings = single(limit, TestResult("x", 0.1 + 0.2, unit="u"))
    assert [(f.measured, f.reason) for f in findings] == [
        ("0.30000000000000004", OosReason.ABOVE_UPPER_LIMIT)
    ]
    assert single(limit, TestResult("x", round(0.1 + 0.2, 2), unit="u")) == []


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True])
def test_non_finite_or_boolean_result_is_refused(bad: object) -> None:
    # REQ: OOS-01
    limit = AttributeLimit("x", "u", lower=1)
    with pytest.raises(SpecificationError, match="'x'"):
        single(limit, TestResult("x", bad, unit="u"))  # type: ignore[arg-type]


def test_large_and_small_numbers_are_shown_in_plain_notation() -> None:
    # REQ: OOS-01
    limit = AttributeLimit("x", "u", lower=Decimal("1E+2"))
    findings = single(limit, TestResult("x", 1e-7, unit="u"))
    assert (findings[0].measured, findings[0].limit) == ("0.0000001", "≥ 100 u")


# --- qualitative results ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["no growth", "No Growth", "  NO   growth\t", "no\ngrowth"])
def test_qualitative_result_accepted_regardless_of_case_and_spacing(text: str) -> None:
    # REQ: OOS-01
    limit = AttributeLimit("sterility", accepted_results=("no growth",))
    assert single(limit, TestResult("sterility", text=text)) == []


@pytest.mark.parametrize("text", ["growth", "growth detected (S. epidermidis)", "no  growth yet?"])
def test_qualitative_result_not_accepted_is_a_finding_showing_the_reported_text(text: str) -> None:
    # REQ: OOS-01
    limit = AttributeLimit("sterility", accepted_results=("no growth",))
    findings = single(limit, TestResult("sterility", text=text))
    assert findings == [
        OosFinding("sterility", " ".join(text.split()), "no growth", None, OosReason.RESULT_NOT_ACCEPTED)
    ]


def test_qualitative_limit_with_several_accepted_results_lists_them() -> None:
    # REQ: OOS-01
    limit = AttributeLimit("mycoplasma", accepted_results=("not detected", "negative"))
    assert limit.describe() == "not detected or negative"
    assert single(limit, TestResult("mycoplasma", text="Negative")) == []
    assert single(limit, TestResult("mycoplasma", text="detected"))[0].reason is OosReason.RESULT_NOT_ACCEPTED


def test_numeric_limit_with_text_only_result_is_refused_not_guessed() -> None:
    # REQ: OOS-01
    limit = AttributeLimit("viability", "%", lower=80)
    with pytest.raises(SpecificationError, match="numeric limit"):
        single(limit, TestResult("viability", text="about 80", unit="%"))


def test_qualitative_limit_with_numeric_result_is_refused() -> None:
    # REQ: OOS-01
    limit = AttributeLimit("sterility", accepted_results=("no growth",))
    with pytest.raises(SpecificationError, match="result text"):
        single(limit, TestResult("sterility", 0.0))


# --- units --------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["percent", "% ", None, "EU/ml"])
def test_unit_mismatch_is_refused_with_a_clear_message(unit: str | None) -> None:
    # REQ: OOS-01
    limit = AttributeLimit("viability", "%", lower=80)
    with pytest.raises(SpecificationError) as raised:
        single(limit, TestResult("viability", 74.0, unit=unit))
    message = str(raised.value)
    assert "unit mismatch for 'viability'" in message
    assert repr(unit) in message
    assert "'%'" in message
    assert "never converted" in message


def test_unit_matching_is_case_sensitive() -> None:
    # REQ: OOS-01
    # mL and ML are different units; matching them loosely could hide a 1000-fold error.
    limit = AttributeLimit("endotoxin", "EU/mL", upper=5.0, upper_inclusive=False)
    with pytest.raises(SpecificationError, match="unit mismatch"):
        single(limit, TestResult("endotoxin", 1.0, unit="EU/ML"))


def test_unit_on_a_qualitative_result_is_a_mismatch() -> None:
    # REQ: OOS-01
    limit = AttributeLimit("sterility", accepted_results=("no growth",))
    with pytest.raises(SpecificationError, match="unit mismatch"):
        single(limit, TestResult("sterility", text="no growth", unit="CFU"))


# --- missing, extra and duplicate results; order -----------------------------------------


@pytest.mark.parametrize(
    "results",
    [
        [],
        [TestResult("sterility")],
        [TestResult("sterility", text="   ")],
    ],
)
def test_missing_result_is_a_finding_never_a_pass(results: list[TestResult]) -> None:
    # REQ: OOS-01
    limit = AttributeLimit("sterility", accepted_results=("no growth",))
    findings = detect_oos(results, spec_of(limit))
    assert findings == [OosFinding("sterility", "no result", "no growth", None, OosReason.NO_RESULT)]
    assert not findings[0].is_out_of_limits


def test_result_for_attribute_outside_the_specification_is_ignored() -> None:
    # REQ: OOS-01
    spec = spec_of(AttributeLimit("viability", "%", lower=80))
    results = [TestResult("viability", 90.0, unit="%"), TestResult("cd4_cd8_ratio", 0.1, unit=None)]
    assert detect_oos(results, spec) == []


def test_two_results_for_one_attribute_are_refused_as_ambiguous() -> None:
    # REQ: OOS-01
    spec = spec_of(AttributeLimit("viability", "%", lower=80))
    results = [TestResult("viability", 90.0, unit="%"), TestResult("viability", 70.0, unit="%")]
    with pytest.raises(SpecificationError, match="two results reported for 'viability'"):
        detect_oos(results, spec)


def test_findings_follow_specification_order_not_result_order() -> None:
    # REQ: OOS-01
    spec = spec_of(
        AttributeLimit("viability", "%", lower=80),
        AttributeLimit("endotoxin", "EU/mL", upper=5.0, upper_inclusive=False),
        AttributeLimit("sterility", accepted_results=("no growth",)),
    )
    results = [
        TestResult("sterility", text="growth"),
        TestResult("endotoxin", 7.5, unit="EU/mL"),
        TestResult("viability", 61.0, unit="%"),
    ]
    assert [f.attribute for f in detect_oos(results, spec)] == ["viability", "endotoxin", "sterility"]
    assert [f.attribute for f in detect_oos(list(reversed(results)), spec)] == [
        "viability",
        "endotoxin",
        "sterility",
    ]


def test_finding_as_dict_carries_what_the_physician_must_be_told() -> None:
    # REQ: OOS-01
    assert VIABILITY_FINDING.as_dict() == {
        "attribute": "viability",
        "measured": "74.0",
        "limit": "≥ 80 %",
        "unit": "%",
        "reason": "below lower limit",
    }


# --- limit descriptions and validation ---------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "text"),
    [
        (AttributeLimit("v", "%", lower=70), "≥ 70 %"),
        (AttributeLimit("v", "%", lower=70, lower_inclusive=False), "> 70 %"),
        (AttributeLimit("e", "EU/mL", upper=5.0, upper_inclusive=False), "< 5.0 EU/mL"),
        (AttributeLimit("e", "EU/mL", upper=Decimal("5.00")), "≤ 5.00 EU/mL"),
        (AttributeLimit("d", "x10^8 cells", lower=0.6, upper=6.0), "0.6 to 6.0 x10^8 cells"),
        (AttributeLimit("d", "u", lower=1, upper=2, upper_inclusive=False), "≥ 1 and < 2 u"),
        (AttributeLimit("ratio", None, upper=3), "≤ 3"),
        (AttributeLimit("s", accepted_results=("no growth",)), "no growth"),
    ],
)
def test_describe_reads_like_a_release_specification(limit: AttributeLimit, text: str) -> None:
    # REQ: OOS-01
    assert limit.describe() == text


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"lower": 5, "upper": 1},
        {"lower": 1, "accepted_results": ("ok",)},
        {"accepted_results": ()},
        {"accepted_results": (" ",)},
        {"lower": float("nan")},
    ],
)
def test_malformed_limit_is_refused(kwargs: dict) -> None:
    # REQ: OOS-01
    with pytest.raises(SpecificationError):
        AttributeLimit("x", "u", **kwargs)


def test_specification_refuses_duplicate_attributes_naive_dates_and_empty_limits() -> None:
    # REQ: OOS-01
    limit = AttributeLimit("x", "u", lower=1)
    with pytest.raises(SpecificationError, match="listed twice: x"):
        spec_of(limit, limit)
    with pytest.raises(SpecificationError, match="timezone-aware"):
        spec_of(limit, effective_from=datetime(2025, 1, 1))
    with pytest.raises(SpecificationError, match="needs limits"):
        spec_of()


# --- specification version in force -------------------------------------------------------

V1 = spec_of(AttributeLimit("vcn", "c", upper=5.0, upper_inclusive=False), version=1, effective_from=T0)
V2 = spec_of(AttributeLimit("vcn", "c", upper=4.0), version=2, effective_from=T0 + timedelta(days=180))


def test_version_in_force_is_chosen_by_date() -> None:
    # REQ: OOS-01
    specs = [V2, V1]  # input order must not matter
    assert specification_in_force(specs, T0).version == 1  # on v1's effective instant
    assert specification_in_force(specs, V2.effective_from - timedelta(microseconds=1)).version == 1
    assert specification_in_force(specs, V2.effective_from).version == 2
    assert specification_in_force(specs, V2.effective_from + timedelta(days=1)).version == 2


def test_same_result_is_in_spec_under_v1_and_oos_under_v2() -> None:
    # REQ: OOS-01
    results = [TestResult("vcn", 4.5, unit="c")]
    before = specification_in_force([V1, V2], T0 + timedelta(days=1))
    after = specification_in_force([V1, V2], V2.effective_from + timedelta(days=1))
    assert detect_oos(results, before) == []
    assert detect_oos(results, after) == [
        OosFinding("vcn", "4.5", "≤ 4.0 c", "c", OosReason.ABOVE_UPPER_LIMIT)
    ]


def test_no_version_in_force_before_the_first_is_an_error() -> None:
    # REQ: OOS-01
    with pytest.raises(SpecificationError, match="no specification of P-1 is in force"):
        specification_in_force([V1, V2], T0 - timedelta(seconds=1))
    with pytest.raises(SpecificationError, match="no specification"):
        specification_in_force([], T0)


def test_version_in_force_compares_instants_across_time_zones() -> None:
    # REQ: OOS-01
    cest = timezone(timedelta(hours=2))
    one_minute_before_v2 = (V2.effective_from - timedelta(minutes=1)).astimezone(cest)
    assert one_minute_before_v2.hour != (V2.effective_from - timedelta(minutes=1)).hour  # wall clock is later
    assert specification_in_force([V1, V2], one_minute_before_v2).version == 1
    assert specification_in_force([V1, V2], V2.effective_from.astimezone(cest)).version == 2


def test_ambiguous_version_lookup_is_refused() -> None:
    # REQ: OOS-01
    other = Specification("P-2", 1, T0, V1.limits)
    twin = spec_of(*V2.limits, version=3, effective_from=V2.effective_from)
    with pytest.raises(SpecificationError, match="several products"):
        specification_in_force([V1, other], T0)
    assert specification_in_force([V1, other], T0, product_code="P-2") is other
    with pytest.raises(SpecificationError, match="same time"):
        specification_in_force([V1, V2, twin], V2.effective_from)
    with pytest.raises(SpecificationError, match="timezone-aware"):
        specification_in_force([V1], datetime(2025, 6, 1))


# --- case eligibility ---------------------------------------------------------------------


def test_within_specification_batch_is_refused() -> None:
    # REQ: OOS-01
    with pytest.raises(CaseNotEligible) as raised:
        check_case_eligibility(CAR_T, [], batch_id="B-42")
    assert (
        str(raised.value) == "batch B-42 is within specification: the exceptional-use pathway does not apply"
    )
    assert raised.value.requirement == "OOS-01"


def test_batch_with_only_missing_results_is_refused_until_testing_is_complete() -> None:
    # REQ: OOS-01
    missing = OosFinding("sterility", "no result", "no growth", None, OosReason.NO_RESULT)
    with pytest.raises(CaseNotEligible, match="only missing results \\(sterility\\)") as raised:
        check_case_eligibility(CAR_T, [missing], batch_id="B-42")
    assert raised.value.requirement == "OOS-01"
    check_case_eligibility(CAR_T, [missing, VIABILITY_FINDING], batch_id="B-42")


def test_oos_batch_of_cell_based_product_is_eligible() -> None:
    # REQ: OOS-01
    assert check_case_eligibility(CAR_T, [VIABILITY_FINDING], batch_id="B-42") is None


def test_non_cell_tissue_product_is_refused_naming_the_product() -> None:
    # REQ: OOS-02
    with pytest.raises(CaseNotEligible) as raised:
        check_case_eligibility(AAV, [VIABILITY_FINDING], batch_id="AAV-9")
    assert "demo AAV vector (AAV-1) is not a cell/tissue-based ATMP" in str(raised.value)
    assert raised.value.requirement == "OOS-02"


def test_non_cell_tissue_refusal_takes_precedence_over_within_specification() -> None:
    # REQ: OOS-02
    with pytest.raises(CaseNotEligible) as raised:
        check_case_eligibility(AAV, [])
    assert raised.value.requirement == "OOS-02"
