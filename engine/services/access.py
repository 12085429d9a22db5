"""Which organisation may see what (OOS-25): a user sees a case, its tasks, instance, records and
audit trail only when their organisation is a party to the case (manufacturer, importer, MAH,
sponsor, treating site or its national competent authority), and a batch only when it is a party
to the batch. An actor without an organisation (CLI, workers, development headers without
``X-Oospath-Org``) is not restricted by organisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from engine.services.errors import NotFound
from engine.services.identity import Actor
from engine.store.identity_models import CaseParty
from engine.store.models import BatchRow, CaseRow, ProcessInstance, TaskRow

PARTY_KEYS = ("manufacturer", "importer", "mah", "sponsor", "treating_site", "national_competent_authority")


def parties_of(parties: dict[str, Any]) -> set[str]:
    return {str(parties[key]) for key in PARTY_KEYS if parties.get(key)}


def record_case_parties(session: Session, case: CaseRow) -> None:
    for organisation in sorted(parties_of(case.parties)):
        session.add(CaseParty(case_id=case.id, organisation=organisation))


def unrestricted(actor: Actor) -> bool:
    return actor.organisation is None


def shared_case_ids(actor: Actor) -> Any:
    """A subquery of the case ids the actor's organisation is party to."""
    return select(CaseParty.case_id).where(CaseParty.organisation == actor.organisation)


#: The case party joined by :func:`only_shared` (an alias, so a query that reads case parties itself can use it).
_SHARED_WITH = aliased(CaseParty, name="shared_with")


def only_shared(query: Select[Any], actor: Actor, case_id: Any) -> Select[Any]:
    """A list's rows (whose case id is the column ``case_id``) of no case or of a case the actor's organisation
    is party to. Joined to the party's key (one row at most), so a page read in index order costs one key
    lookup per row read, however many cases the organisation is party to."""
    party = _SHARED_WITH
    return query.outerjoin(party, (party.case_id == case_id) & (party.organisation == actor.organisation)).where(
        case_id.is_(None) | party.case_id.is_not(None))


def case_shared(session: Session, actor: Actor, case_id: str | None) -> bool:
    if unrestricted(actor) or case_id is None:
        return True
    return session.get(CaseParty, (case_id, actor.organisation)) is not None


class NotShared(NotFound):
    """The same answer as for a resource that does not exist: ids cannot be probed across organisations."""


def case_visibility(session: Session, actor: Actor) -> Callable[[str | None], bool]:
    """For filtering a list: whether a row of this case (None: of no case) is shared with the actor's
    organisation; one query for the whole list."""
    if unrestricted(actor):
        return lambda _case_id: True
    shared = set(session.scalars(shared_case_ids(actor)))
    return lambda case_id: case_id is None or case_id in shared


def _not_shared(what: str, ident: str) -> NotFound:
    return NotShared(f"{what} {ident} does not exist or is not shared with your organisation (OOS-25)")


def check_case(session: Session, actor: Actor, case_ref: str) -> None:
    case = session.get(CaseRow, case_ref) or session.scalar(select(CaseRow).where(CaseRow.reference == case_ref))
    if case is not None and not case_shared(session, actor, case.id):
        raise _not_shared("OOS case", case_ref)


def check_task(session: Session, actor: Actor, task_id: str) -> None:
    row = session.get(TaskRow, task_id)
    if row is not None and not case_shared(session, actor, row.case_id):
        raise _not_shared("task", task_id)


def check_instance(session: Session, actor: Actor, instance_id: str) -> None:
    row = session.get(ProcessInstance, instance_id)
    if row is not None and not case_shared(session, actor, row.case_id):
        raise _not_shared("process instance", instance_id)


def batch_shared(actor: Actor, batch: BatchRow) -> bool:
    if unrestricted(actor):
        return True
    return actor.organisation in {batch.manufacturer, batch.importer, batch.mah, batch.sponsor, batch.treating_site}


def check_batch(session: Session, actor: Actor, batch_id: str) -> None:
    batch = session.get(BatchRow, batch_id)
    if batch is not None and not batch_shared(actor, batch):
        raise _not_shared("batch", batch_id)


SCOPE_CHECKS = {"case": check_case, "task": check_task, "instance": check_instance, "batch": check_batch}
