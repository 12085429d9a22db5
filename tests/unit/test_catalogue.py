"""Seed data: every demo batch is detected as its name and docstring say (OOS-01, OOS-02)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.domain import catalogue as cat
from engine.domain.specifications import (
    BatchRecord,
    CaseNotEligible,
    OosFinding,
    OosReason,
    ProductKind,
    check_case_eligibility,
    detect_oos,
    specification_in_force,
)


def findings_of(batch: BatchRecord) -> list[OosFinding]:
    spec = specification_in_force(
        cat.specifications(), batch.manufactured_at, product_code=batch.product_code
    )
    return detect_oos(batch.results, spec)


EXPECTED = {
    cat.BATCH_IN_SPEC: [],
    cat.BATCH_VIABILITY_OOS: [
        OosFinding(cat.VIABILITY, "74.0", "≥ 80 %", "%", OosReason.BELOW_LOWER_LIMIT),
    ],
    cat.BATCH_BOUNDARY_IN_SPEC: [],
    cat.BATCH_STERILITY_FAILURE: [
        OosFinding(
            cat.STERILITY,
            "growth detected (Staphylococcus epidermidis)",
            "no growth",
            None,
            OosReason.RESULT_NOT_ACCEPTED,
        ),
    ],
    cat.BATCH_V1_ERA_IN_SPEC: [],
    cat.BATCH_IMP_TRANSDUCTION_OOS: [
        OosFinding(cat.TRANSDUCTION_EFFICIENCY, "14.0", "≥ 20 %", "%", OosReason.BELOW_LOWER_LIMIT),
    ],
    cat.BATCH_NON_CELL_OOS: [
        OosFinding(cat.FULL_CAPSIDS, "62.0", "≥ 70 %", "%", OosReason.BELOW_LOWER_LIMIT),
    ],
}


def test_every_sample_batch_has_a_documented_expectation() -> None:
    # REQ: OOS-01
    assert sorted(b.batch_id for b in cat.sample_batches()) == sorted(EXPECTED)


@pytest.mark.parametrize("batch_id", sorted(EXPECTED))
def test_sample_batch_detection_matches_its_scenario(batch_id: str) -> None:
    # REQ: OOS-01
    assert findings_of(cat.sample_batch(batch_id)) == EXPECTED[batch_id]


def test_in_spec_batches_are_refused_by_the_pathway() -> None:
    # REQ: OOS-01
    for batch_id in (cat.BATCH_IN_SPEC, cat.BATCH_BOUNDARY_IN_SPEC, cat.BATCH_V1_ERA_IN_SPEC):
        batch = cat.sample_batch(batch_id)
        with pytest.raises(CaseNotEligible, match=f"batch {batch_id} is within specification"):
            check_case_eligibility(cat.product(batch.product_code), findings_of(batch), batch_id=batch_id)


def test_oos_cell_based_batches_are_eligible() -> None:
    # REQ: OOS-01
    for batch_id in (cat.BATCH_VIABILITY_OOS, cat.BATCH_STERILITY_FAILURE, cat.BATCH_IMP_TRANSDUCTION_OOS):
        batch = cat.sample_batch(batch_id)
        check_case_eligibility(cat.product(batch.product_code), findings_of(batch), batch_id=batch_id)


def test_oos_batch_of_the_aav_vector_is_refused_as_not_cell_based() -> None:
    # REQ: OOS-02
    batch = cat.sample_batch(cat.BATCH_NON_CELL_OOS)
    with pytest.raises(CaseNotEligible, match="AAV2 RPE65 gene therapy vector") as raised:
        check_case_eligibility(cat.product(batch.product_code), findings_of(batch), batch_id=batch.batch_id)
    assert raised.value.requirement == "OOS-02"


def test_boundary_batch_sits_exactly_on_inclusive_limits() -> None:
    # REQ: OOS-01
    batch = cat.sample_batch(cat.BATCH_BOUNDARY_IN_SPEC)
    spec = specification_in_force(cat.specifications(), batch.manufactured_at, product_code=cat.CART19_AUTH)
    values = {r.attribute: r.value for r in batch.results}
    assert spec.version == 2
    for attribute, limit_value in (
        (cat.VIABILITY, spec.limit_for(cat.VIABILITY).lower),
        (cat.CAR_T_DOSE, spec.limit_for(cat.CAR_T_DOSE).lower),
        (cat.VECTOR_COPY_NUMBER, spec.limit_for(cat.VECTOR_COPY_NUMBER).upper),
    ):
        assert Decimal(str(values[attribute])) == limit_value


def test_authorised_specification_v2_tightens_vector_copy_number_from_a_later_date() -> None:
    # REQ: OOS-01
    v1, v2 = cat.specifications_for(cat.CART19_AUTH)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.effective_from < v2.effective_from
    assert v1.limit_for(cat.VECTOR_COPY_NUMBER).describe() == "< 5.0 copies/transduced cell"
    assert v2.limit_for(cat.VECTOR_COPY_NUMBER).describe() == "≤ 4.0 copies/transduced cell"
    changed = [a.attribute for a, b in zip(v1.limits, v2.limits, strict=True) if a != b]
    assert changed == [cat.VECTOR_COPY_NUMBER]


def test_v1_era_batch_is_judged_by_v1_and_would_fail_v2() -> None:
    # REQ: OOS-01
    batch = cat.sample_batch(cat.BATCH_V1_ERA_IN_SPEC)
    v1, v2 = cat.specifications_for(cat.CART19_AUTH)
    assert batch.manufactured_at < cat.CART19_V2_EFFECTIVE
    assert detect_oos(batch.results, v1) == []
    assert [f.attribute for f in detect_oos(batch.results, v2)] == [cat.VECTOR_COPY_NUMBER]


def test_cart19_specification_shows_realistic_release_limits() -> None:
    # REQ: OOS-01
    v2 = cat.specifications_for(cat.CART19_AUTH)[-1]
    assert {limit.attribute: limit.describe() for limit in v2.limits} == {
        cat.VIABILITY: "≥ 80 %",
        cat.CAR_T_DOSE: "0.6 to 6.0 x10^8 cells",
        cat.TRANSDUCTION_EFFICIENCY: "≥ 15 %",
        cat.VECTOR_COPY_NUMBER: "≤ 4.0 copies/transduced cell",
        cat.IFN_GAMMA_RELEASE: "≥ 500 pg/mL",
        cat.ENDOTOXIN: "< 5.0 EU/mL",
        cat.STERILITY: "no growth",
        cat.MYCOPLASMA: "not detected",
        cat.RCL: "not detected",
    }


def test_products_cover_authorised_investigational_and_non_cell_cases() -> None:
    # REQ: OOS-02
    by_code = {p.code: p for p in cat.products()}
    assert by_code[cat.CART19_AUTH].kind is ProductKind.AUTHORISED
    assert by_code[cat.CART19_AUTH].cell_tissue_based
    assert by_code[cat.CART_BCMA_IMP].kind is ProductKind.INVESTIGATIONAL
    assert by_code[cat.CART_BCMA_IMP].cell_tissue_based
    assert not by_code[cat.AAV_GENE_THERAPY].cell_tissue_based
    assert all(cat.specifications_for(code) for code in by_code)


def test_sample_parties_cover_single_and_multiple_legal_entities() -> None:
    # REQ: OOS-01
    imported = cat.sample_batch(cat.BATCH_VIABILITY_OOS)
    assert imported.imported and imported.importer == cat.LOWLANDS_IMPORT
    assert imported.legal_entities == {cat.CASCADIA, cat.LOWLANDS_IMPORT, cat.NORDLICHT}
    assert imported.needs_written_agreement
    assert not cat.sample_batch(cat.BATCH_BOUNDARY_IN_SPEC).needs_written_agreement
    imp = cat.sample_batch(cat.BATCH_IMP_TRANSDUCTION_OOS)
    assert imp.mah is None and imp.sponsor == cat.AURORA_SPONSOR


def test_unknown_codes_raise_key_error() -> None:
    # REQ: OOS-01
    with pytest.raises(KeyError):
        cat.product("NOPE")
    with pytest.raises(KeyError):
        cat.sample_batch("NOPE")
