"""OOS cases: a pathway instance with its batch and parties attached (OOS-01, OOS-02)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.domain import pathway_elements as pe
from engine.domain.authorities import NationalAnswer, NationalRequirement, UnknownCountryError, resolve_requirement
from engine.domain.specifications import CaseNotEligible, check_case_eligibility
from engine.services import access, agreements, audit, catalog, definitions
from engine.services.audit import AuditEvent
from engine.services.errors import Conflict, NotFound, RuleViolation
from engine.services.events import publish_case_event
from engine.services.identity import Actor
from engine.services.pages import PageRequest, in_order, keyset
from engine.services.runtime import LoadedInstance, Runtime
from engine.store.models import CaseRow, NcaAnswer, ProcessInstance

PATHWAY_KEY = pe.OOS_CASE
OUTCOMES = {pe.CASE_CLOSED: "supplied", pe.CASE_CLOSED_NOT_SUPPLIED: "not_supplied"}


ONE_OPEN_CASE_PER_BATCH = "ix_cases_one_open_per_batch"
NEXT_NUMBER = text(
    "INSERT INTO case_reference_counters (year, last_number) VALUES (:year, 1) "
    "ON CONFLICT (year) DO UPDATE SET last_number = case_reference_counters.last_number + 1 RETURNING last_number")


def _next_reference(session: Session, year: int) -> str:
    """The year's next reference from its counter row, held locked until commit: concurrent openings wait for
    each other, so references never collide and a rolled-back opening leaves no gap."""
    number = session.execute(NEXT_NUMBER, {"year": year}).scalar_one()
    return f"OOS-{year}-{number:04d}"


def _check_no_open_case(session: Session, batch_id: str) -> None:
    open_cases = session.scalar(select(func.count()).select_from(CaseRow).where(
        CaseRow.batch_id == batch_id, CaseRow.status == "open"))
    if open_cases:
        raise Conflict(f"batch {batch_id} already has an open OOS case")


def _insert_case(session: Session, case: CaseRow) -> None:
    """The database keeps one open case per batch even when two openings pass the check at once: 409."""
    session.add(case)
    try:
        session.flush()
    except IntegrityError as exc:
        message = str(exc.orig)
        if ONE_OPEN_CASE_PER_BATCH not in message and "cases.batch_id" not in message:
            raise
        raise Conflict(f"batch {case.batch_id} already has an open OOS case") from exc


def _check_batch_undecided(session: Session, batch: Any) -> None:
    """A batch whose fate is decided (disposition recorded, e.g. destroyed, or supplied, or released) starts
    no new case (OOS-07, OOS-01)."""
    decided = session.scalars(select(CaseRow).where(CaseRow.batch_id == batch.batch_id, CaseRow.status == "closed")
                              .order_by(CaseRow.closed_at.desc())).first()
    if decided is not None:
        raise RuleViolation("OOS-07", f"batch {batch.batch_id} was decided by case {decided.reference} "
                                      f"({decided.outcome}); its disposition is recorded and cannot be reopened")
    if batch.outcome is not None:
        raise RuleViolation("OOS-01", f"batch {batch.batch_id} is already decided ({batch.outcome}); "
                                      "a decided batch starts no OOS case")


def national_requirement_for(session: Session, country: str) -> NationalRequirement:
    """OOS-14: the register's row with the latest answer an NCA gave on an earlier case applied."""
    rows = session.scalars(select(NcaAnswer).where(NcaAnswer.country == country.upper()).order_by(NcaAnswer.id))
    answers = [NationalAnswer(country=r.country, must_be_informed=r.must_be_informed, answered_by=r.reference,
                              recorded_by=r.recorded_by, recorded_at=r.recorded_at, reference=r.reference)
               for r in rows]
    try:
        return resolve_requirement(country, answers)
    except UnknownCountryError as exc:
        raise RuleViolation("OOS-14", str(exc)) from exc


def _eligible_assessment(session: Session, batch_id: str, exceptional_use_reason: str) -> catalog.BatchAssessment:
    """The batch's assessment when a case may be opened for it: undecided, out of specification, of a
    cell/tissue-based product (OOS-01/02), with the reason its use is exceptional (OOS-02)."""
    assessment = catalog.assess_batch(session, batch_id)
    _check_batch_undecided(session, assessment.batch)
    try:
        check_case_eligibility(assessment.product, assessment.findings, batch_id=batch_id)
    except CaseNotEligible as exc:
        raise RuleViolation(exc.requirement, str(exc)) from exc
    if not exceptional_use_reason or not exceptional_use_reason.strip():
        raise RuleViolation("OOS-02", "every case records why its use is exceptional: give exceptional_use_reason")
    return assessment


def open_case(
    session: Session, runtime: Runtime, batch_id: str, exceptional_use_reason: str, actor: Actor
) -> CaseRow:
    """Start the pathway for an OOS batch of a cell/tissue-based product, or refuse naming the rule."""
    assessment = _eligible_assessment(session, batch_id, exceptional_use_reason)
    now = runtime.clock.now()
    reference = _next_reference(session, now.year)  # first write: the checks below see every committed opening
    _check_no_open_case(session, batch_id)
    batch = assessment.batch
    national = national_requirement_for(session, batch.treating_country)
    agreement = agreements.agreement_in_force(session, now, batch.manufacturer, batch.importer, batch.mah)
    parties = {
        "manufacturer": batch.manufacturer, "importer": batch.importer, "mah": batch.mah,
        "sponsor": batch.sponsor, "treating_site": batch.treating_site,
        "treating_country": batch.treating_country, "national_competent_authority": national.authority,
    }
    entities = {p for p in (batch.manufacturer, batch.importer, batch.mah) if p}
    confirm_nca = national.needs_confirmation and str(assessment.product.kind) == "authorised"
    case = CaseRow(
        id=str(uuid.uuid4()), reference=reference, instance_id="",
        batch_id=batch_id, product_code=assessment.product.code, product_kind=str(assessment.product.kind),
        specification_version=assessment.specification.version,
        findings=[f.as_dict() for f in assessment.findings], parties=parties,
        exceptional_use_reason=exceptional_use_reason.strip(), status="open", opened_at=now, opened_by=actor.user,
    )
    data = {
        "case_id": case.id, "case_reference": case.reference, "batch_id": batch_id,
        "product_code": case.product_code, "product_kind": case.product_kind,
        "parties_same_legal_entity": len(entities) <= 1, "imported": batch.imported,
        "treating_country": batch.treating_country,
        # OOS-14 concerns authorised products; in trials the sponsor informs its authority (OOS-11).
        "nca_confirmation_needed": confirm_nca, "nca_requirement_source": national.source,
        "agreement_in_force": agreement is not None,
        "exceptional_use_reason": case.exceptional_use_reason, "oos_findings": case.findings,
    }
    # Values a parallel branch decides later are left out here: the join would otherwise merge this
    # start value over the branch's answer (SpiffWorkflow merges the data of all branches).
    if not confirm_nca:
        data["nca_notification_required"] = bool(national.must_be_informed)
    if agreement is not None:
        data["responsibilities"] = agreement.responsibilities
    definition = definitions.get_definition(session, PATHWAY_KEY)
    loaded = runtime.start(session, definition, data, actor)
    case.instance_id = loaded.row.id
    _insert_case(session, case)
    access.record_case_parties(session, case)
    batch.status = "oos_case_open"
    audit.append(session, now, actor, AuditEvent(
        "case.opened", instance_id=loaded.row.id, case_id=case.id,
        data_after={"reference": case.reference, "batch_id": batch_id, "findings": case.findings,
                    "exceptional_use_reason": case.exceptional_use_reason},
    ))
    session.flush()
    publish_case_event(session, now, "case.opened", case.id)
    return case


def close_case_on_completion(session: Session, loaded: LoadedInstance) -> None:
    """Completion hook: the case closes when its pathway instance reaches an end event (an instance started
    without a case, e.g. a periodic review or a written agreement, has none to close)."""
    if loaded.row.case_id is None:
        return
    case = session.scalar(select(CaseRow).where(CaseRow.instance_id == loaded.row.id))
    if case is None or case.status != "open":
        return
    case.status = "closed"
    case.outcome = OUTCOMES.get(loaded.row.end_event or "", loaded.row.end_event)
    case.closed_at = loaded.row.completed_at
    batch = catalog.get_batch(session, case.batch_id)
    batch.status = "oos_supplied" if case.outcome == "supplied" else "oos_not_supplied"
    publish_case_event(session, loaded.row.completed_at, "case.closed", case.id, outcome=case.outcome)


def get_case(session: Session, case_id: str) -> CaseRow:
    case = session.get(CaseRow, case_id)
    if case is None:
        case = session.scalar(select(CaseRow).where(CaseRow.reference == case_id))
    if case is None:
        raise NotFound(f"OOS case {case_id} does not exist")
    return case


CASE_ORDER = (CaseRow.opened_at, CaseRow.reference)


def list_cases(session: Session, status: str | None = None, actor: Actor | None = None,
               page: PageRequest | None = None) -> Any:
    """Cases by status, newest first; with ``actor``, only those the actor's organisation is party to (OOS-25).
    Every case as a list; with ``page``, one :class:`~engine.services.pages.Page` of them."""
    query = select(CaseRow)
    if status:
        query = query.where(CaseRow.status == status)
    if actor is not None and not access.unrestricted(actor):
        query = access.only_shared(query, actor, CaseRow.id)
    if page is not None:
        return keyset(session, query, CASE_ORDER, ("time", "text"), page, descending=True)
    return list(session.scalars(in_order(query, CASE_ORDER, descending=True)))


def case_instance(session: Session, case: CaseRow) -> ProcessInstance:
    instance = session.get(ProcessInstance, case.instance_id)
    assert instance is not None
    return instance


def case_summary(case: CaseRow) -> dict[str, Any]:
    return {
        "id": case.id, "reference": case.reference, "batch_id": case.batch_id,
        "product_code": case.product_code, "product_kind": case.product_kind,
        "status": case.status, "outcome": case.outcome,
        "opened_at": case.opened_at.isoformat(), "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }
