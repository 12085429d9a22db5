"""QP certification (OOS-08): impossible for a batch with an open or accepted OOS case; every attempt is audited.

The refusal is written to the audit trail in a transaction of its own, so the attempt is
recorded even though the request fails.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import Clock
from engine.services import audit, catalog
from engine.services.audit import AuditEvent
from engine.services.errors import Forbidden, RuleViolation
from engine.services.identity import Actor
from engine.store.models import BatchRow, CaseRow

OOS_STATUSES = {"out_of_specification", "oos_case_open", "oos_supplied", "oos_not_supplied"}


def certify_batch(sessions: sessionmaker[Session], clock: Clock, batch_id: str, actor: Actor) -> BatchRow:
    if not actor.has_role("qp"):
        raise Forbidden("OOS-25: only a Qualified Person (role qp) certifies batches")
    with sessions() as session:
        batch = catalog.get_batch(session, batch_id)
        case = session.scalars(select(CaseRow).where(CaseRow.batch_id == batch_id)
                               .order_by(CaseRow.opened_at.desc())).first()
        if batch.status in OOS_STATUSES or case is not None:
            reason = (f"batch {batch_id} is out of specification"
                      + (f" with OOS case {case.reference} ({case.status})" if case else "")
                      + ": a QP cannot certify an OOS batch; its use under the exceptional pathway rests on the "
                        "physician's request and the QP's verifications, never on certification")
            audit.append(session, clock.now(), actor, AuditEvent(
                "qp.certification_refused", instance_id=case.instance_id if case else None,
                case_id=case.id if case else None, reason=reason, data_after={"batch_id": batch_id}), role="qp")
            session.commit()
            raise RuleViolation("OOS-08", reason)
        batch.status = "certified"
        audit.append(session, clock.now(), actor, AuditEvent(
            "qp.certified", data_after={"batch_id": batch_id}), role="qp")
        session.commit()
        return batch
