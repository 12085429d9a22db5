"""Each case's legal deadlines as the user sees them: due, escalation, met at, late by (OOS-13, OOS-14).

Due times come from the BPMN timers (computed in the diagram from the recorded supply or
delivery time and the deadline DMN); "met" is the delivery evidence of the notification.
A late notification is shown as late, never hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from engine.domain import pathway_elements as pe
from engine.services import evidence, instances
from engine.settings import Settings
from engine.store.models import CaseRow


@dataclass(frozen=True)
class DeadlineRule:
    name: str
    requirement: str
    party: str
    due_timer: str
    escalation_timer: str


@dataclass(frozen=True)
class PromptDuty:
    """A duty to inform "immediately"/"promptly" from the case's opening, in hours configured in ``Settings``."""

    name: str
    requirement: str
    party: str
    hours: Callable[[Settings], float]


PROMPT_DUTIES = (
    PromptDuty("Treating physician informed of the OOS", "OOS-04", "treating_physician",
               lambda settings: settings.physician_notice_hours),
    PromptDuty("Sponsor informed promptly", "OOS-11", "sponsor", lambda settings: settings.sponsor_notice_hours),
)

DEADLINES = (
    DeadlineRule("Supervisory Authority notified after supply", "OOS-13", "supervisory_authority",
                 pe.SA_DEADLINE_OVERDUE, pe.SA_DEADLINE_ESCALATION),
    DeadlineRule("National competent authority notified with the Supervisory Authority", "OOS-14",
                 "national_competent_authority", pe.SA_DEADLINE_OVERDUE, pe.SA_DEADLINE_ESCALATION),
)


def _prompt_duties(case: CaseRow, delivered: list[Any], settings: Settings) -> list[dict[str, Any]]:
    shown = []
    for duty in PROMPT_DUTIES:
        if duty.party == "sponsor" and case.product_kind != "investigational":
            continue
        due = case.opened_at + timedelta(hours=duty.hours(settings))
        met = next((n for n in delivered if n.party == duty.party and n.requirement == duty.requirement), None)
        late_by = (met.delivered_at - due).total_seconds() / 3600 if met else None
        shown.append({"name": duty.name, "requirement": duty.requirement, "party": duty.party,
                      "due_at": due.isoformat(), "escalates_at": None,
                      "met_at": met.delivered_at.isoformat() if met else None,
                      "late_by_hours": round(late_by, 2) if late_by and late_by > 0 else None,
                      "status": ("late" if late_by and late_by > 0 else "met") if met else "open"})
    return shown


def case_deadlines(session: Session, case: CaseRow, settings: Settings,
                   now: datetime | None = None) -> list[dict[str, Any]]:
    """The case's deadlines, the prompt duties' hours from ``settings``; with ``now`` (oospath's clock), one already
    past shows overdue at once, before the scheduler's next pass has fired its timer (e.g. a supply recorded after
    its 48 h had run out)."""
    timers = {t.element_id: t for t in instances.timers_of(session, case.instance_id)}
    delivered = evidence.notifications_of_case(session, case.id)
    shown = _prompt_duties(case, delivered, settings)
    for rule in DEADLINES:
        due = timers.get(rule.due_timer)
        met = next((n for n in delivered if n.party == rule.party and n.requirement == rule.requirement), None)
        if due is None or (rule.party != "supervisory_authority" and met is None and due.status == "cancelled"):
            continue
        escalation = timers.get(rule.escalation_timer)
        late_by = (met.delivered_at - due.due_at).total_seconds() / 3600 if met else None
        if met is not None:
            status = "late" if late_by and late_by > 0 else "met"
        else:
            past = due.status == "fired" or (now is not None and due.status == "waiting" and due.due_at <= now)
            status = "overdue" if past else "open"
            if past and now is not None:  # how late so far
                late_by = (now - due.due_at).total_seconds() / 3600
        shown.append({
            "name": rule.name, "requirement": rule.requirement, "party": rule.party,
            "due_at": due.due_at.isoformat(),
            "escalates_at": escalation.due_at.isoformat() if escalation else None,
            "met_at": met.delivered_at.isoformat() if met else None,
            "late_by_hours": round(late_by, 2) if late_by and late_by > 0 else None, "status": status,
        })
    return shown
