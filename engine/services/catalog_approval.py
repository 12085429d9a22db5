"""Change control of specification versions: QA's signed approval or rejection (OOS-01, OOS-24, OOS-25).

A specification version decides which batches are out of specification, so it takes effect
only after a QA user approved it with an electronic signature (EU GMP Part IV and Annex 11
change control). Until then, and for ever once rejected, the lookup of "the specification in
force" for a batch (:func:`engine.services.catalog.specifications_in_effect`) ignores it.

* The signature (meaning ``approval``) binds the SHA-256 of the version's canonical content:
  product, version, effective-from time and every limit with its unit.
* Segregation of duties: the user who created a version cannot approve it (OOS-25); another
  QA user must. Rejecting grants nothing, so the creator may reject (withdraw) their own.
* The release's own seed data is approved by the system when it is stored (see
  :func:`engine.services.catalog.add_specification`), as the release's processes are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.catalog import APPROVED, AWAITING_APPROVAL, REJECTED
from engine.services.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.services.identity import Actor
from engine.services.signatures import Credentials, manifestation, sign
from engine.store.identity_models import SignatureRow
from engine.store.models import SpecificationRow

APPROVER_ROLE = "qa"
SUBJECT_TYPE = "specification"


def subject_id(row: SpecificationRow) -> str:
    return f"{row.product_code}:{row.version}"


def approval_content(row: SpecificationRow) -> dict[str, Any]:
    """What the approver signs: the version exactly as it will judge batches."""
    return {"product_code": row.product_code, "version": row.version,
            "effective_from": row.effective_from.isoformat(), "limits": row.limits}


def get_specification(session: Session, product_code: str, version: int) -> SpecificationRow:
    row = session.scalar(select(SpecificationRow).where(
        SpecificationRow.product_code == product_code, SpecificationRow.version == version))
    if row is None:
        raise NotFound(f"specification {product_code} v{version} does not exist")
    return row


def _awaiting_decision(session: Session, actor: Actor, product_code: str, version: int,
                       doing: str) -> SpecificationRow:
    if not actor.has_role(APPROVER_ROLE):
        raise Forbidden(f"OOS-25: {doing} a specification version needs the role '{APPROVER_ROLE}'; "
                        f"user '{actor.user}' does not hold it", requirement="OOS-25")
    row = get_specification(session, product_code, version)
    if row.status != AWAITING_APPROVAL:
        raise Conflict(f"specification {product_code} v{version} is {row.status.replace('_', ' ')}, not awaiting "
                       "approval: nothing to decide", product_code=product_code, version=version)
    return row


def approve_specification(session: Session, at: datetime, actor: Actor, product_code: str, version: int,
                          credentials: Credentials | None) -> SpecificationRow:
    """QA approves a version with an electronic signature; from now on it can be in force (OOS-24)."""
    row = _awaiting_decision(session, actor, product_code, version, "approving")
    if actor.user == row.created_by:
        raise Forbidden(f"OOS-25: segregation of duties: '{actor.user}' created specification {product_code} "
                        f"v{version} and cannot also approve it; another QA user must", requirement="OOS-25")
    signature = sign(session, at, actor, credentials, meaning="approval", subject_type=SUBJECT_TYPE,
                     subject_id=subject_id(row), content=approval_content(row),
                     statement="I approve this specification version: batches are judged against it")
    row.status, row.approved_by, row.approved_at = APPROVED, actor.user, at
    row.approval_signature_id = signature.id
    audit.append(session, at, actor, AuditEvent(
        "specification.approved", data_before={"status": AWAITING_APPROVAL},
        data_after={"product": product_code, "version": version, "status": APPROVED,
                    "sha256": signature.content_sha256, "signature_id": signature.id}))
    session.flush()
    return row


def reject_specification(session: Session, at: datetime, actor: Actor, product_code: str, version: int,
                         credentials: Credentials | None, reason: str) -> SpecificationRow:
    """QA rejects a version with a signature and a reason; it never takes effect."""
    if not reason or not reason.strip():
        raise InvalidData("reason: say why the specification version is rejected")
    row = _awaiting_decision(session, actor, product_code, version, "rejecting")
    signature = sign(session, at, actor, credentials, meaning="rejection", subject_type=SUBJECT_TYPE,
                     subject_id=subject_id(row), content={**approval_content(row), "reason": reason},
                     statement="I reject this specification version: it must never judge a batch")
    row.status, row.approval_signature_id = REJECTED, signature.id
    audit.append(session, at, actor, AuditEvent(
        "specification.rejected", data_before={"status": AWAITING_APPROVAL},
        data_after={"product": product_code, "version": version, "status": REJECTED,
                    "signature_id": signature.id}, reason=reason))
    session.flush()
    return row


def decision_manifestation(session: Session, row: SpecificationRow) -> dict[str, Any] | None:
    """The signature of QA's decision as every view shows it (21 CFR 11.50); None while none was signed."""
    if row.approval_signature_id is None:
        return None
    signature = session.get(SignatureRow, row.approval_signature_id)
    return manifestation(signature) if signature is not None else None
