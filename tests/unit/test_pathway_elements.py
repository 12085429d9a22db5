"""The table of the pathway's elements matches the shipped diagrams, so the deploy check guards the real controls.

# REQ: OOS-08 OOS-13 OOS-16 (the elements carrying them are listed and checked at every deploy)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bpmn.loader import load_bundle
from engine.domain import pathway_elements as pe
from engine.services.definitions import bundle_from_directory

PROCESSES = Path(__file__).resolve().parents[2] / "processes"


@pytest.fixture(scope="module")
def shipped() -> dict[str, dict]:
    return load_bundle(bundle_from_directory(PROCESSES)).elements


@pytest.mark.parametrize("key", sorted(pe.PATHWAY))
def test_every_shipped_element_is_listed_with_its_type_lane_and_requirements(shipped: dict, key: str) -> None:
    listed = {e.element_id: e for e in pe.PATHWAY[key].elements}
    assert set(listed) == set(shipped[key]), "an element was added to or removed from the diagram, not the table"
    for element_id, info in shipped[key].items():
        element = listed[element_id]
        assert element.bpmn_type == info.bpmn_type, element_id
        assert set(element.requirements) <= set(info.requirements), f"{element_id} no longer documents them"
        if info.bpmn_type == pe.USER_TASK:
            assert element.role == info.role, element_id


def test_the_legal_controls_named_in_the_brief_are_guarded() -> None:
    oos_case = {e.element_id: e for e in pe.PATHWAY[pe.OOS_CASE].elements}
    assert oos_case[pe.VERIFY_BATCH_VERIFICATIONS].role == "qp"
    assert "OOS-08" in oos_case[pe.VERIFY_BATCH_VERIFICATIONS].requirements
    assert {"OOS-03", "OOS-06"} <= set(oos_case[pe.PHYSICIAN_DECISION].requirements)
    assert "OOS-13" in oos_case[pe.APPROVE_SA_NOTIFICATION].requirements
    assert "OOS-16" in oos_case[pe.REVIEW_RECORDS_AND_CLOSE].requirements
    assert pe.PATHWAY[pe.OOS_CASE].lane_roles == ("mah_ra", "physician", "qa", "qp", "sponsor")
