"""PV lookups (OOS-19): from any one of dose, patient pseudonym, chain of identity or PV reference to the others."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.services.errors import InvalidData
from engine.store.models import Administration, CaseRow

KEYS = ("pv_case_reference", "patient_pseudonym", "chain_of_identity_id", "case_id", "batch_id")


def find_administrations(session: Session, **criteria: str) -> list[dict[str, Any]]:
    """Administrations matching any of the criteria (all of them when none is given)."""
    unknown = sorted(set(criteria) - set(KEYS))
    if unknown:
        raise InvalidData(f"unknown criteria {', '.join(unknown)}; use: {', '.join(KEYS)}")
    given = {key: value for key, value in criteria.items() if value}
    query = select(Administration, CaseRow).join(CaseRow, CaseRow.id == Administration.case_id)
    if given:
        query = query.where(or_(*(getattr(Administration, key) == value for key, value in given.items())))
    return [{
        "case_id": case.id, "case_reference": case.reference, "batch_id": admin.batch_id,
        "product_code": case.product_code, "oos_findings": case.findings,
        "administered_at": admin.administered_at.isoformat(), "dose": admin.dose,
        "patient_pseudonym": admin.patient_pseudonym, "chain_of_identity_id": admin.chain_of_identity_id,
        "pv_case_reference": admin.pv_case_reference, "decision_record_sha256": admin.decision_record_sha256,
    } for admin, case in session.execute(query)]
