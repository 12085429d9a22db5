"""Written agreements between manufacturer, importer and MAH (OOS-15).

The ``written_agreement`` process drafts, reviews and signs an agreement; reaching its
end event ``agreement_in_force`` puts it in force here (superseding the earlier version
between the same parties). A case whose parties are distinct legal entities looks the
agreement up to decide who performs each communication duty.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain import pathway_elements as pe
from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.identity import SYSTEM
from engine.services.runtime import LoadedInstance, json_clean
from engine.store.models import Agreement

PROCESS_KEY = pe.WRITTEN_AGREEMENT
IN_FORCE_END = pe.AGREEMENT_IN_FORCE


def _day(text: str, end_of_day: bool = False) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end_of_day and len(text) == 10:
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment


def agreement_in_force(
    session: Session, at: datetime, manufacturer: str, importer: str | None, mah: str | None
) -> Agreement | None:
    """The agreement in force at ``at`` between exactly these parties, if any."""
    query = select(Agreement).where(Agreement.status == "in_force", Agreement.manufacturer == manufacturer,
                                    Agreement.mah == mah, Agreement.valid_from <= at, Agreement.valid_to >= at)
    query = query.where(Agreement.importer.is_(None) if importer is None else Agreement.importer == importer)
    return session.scalars(query.order_by(Agreement.version.desc())).first()


def put_in_force_on_completion(session: Session, loaded: LoadedInstance) -> None:
    """Completion hook: a ``written_agreement`` instance that ended in force becomes the agreement in force."""
    if loaded.definition.key != PROCESS_KEY or loaded.row.end_event != IN_FORCE_END:
        return
    data = json_clean(loaded.process.process_data())
    now = loaded.row.completed_at
    assert now is not None
    previous = list(session.scalars(select(Agreement).where(
        Agreement.reference == data["agreement_reference"])))
    for old in previous:
        if old.status == "in_force":
            old.status = "superseded"
    agreement = Agreement(
        id=str(uuid.uuid4()), reference=data["agreement_reference"], version=len(previous) + 1,
        manufacturer=data["manufacturer"], importer=data.get("importer"), mah=data["mah"],
        responsibilities=data["responsibilities"],
        signatures={key: value for key, value in data.items() if "signatory" in key or key.endswith("signed")},
        valid_from=_day(data["valid_from"]), valid_to=_day(data["valid_to"], end_of_day=True),
        status="in_force", instance_id=loaded.row.id, put_in_force_at=now)
    session.add(agreement)
    audit.append(session, now, SYSTEM, AuditEvent(
        "agreement.in_force", instance_id=loaded.row.id,
        data_after={"reference": agreement.reference, "version": agreement.version,
                    "responsibilities": agreement.responsibilities}), role="system")
