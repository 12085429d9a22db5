"""Printing a case's timeline from its audit trail."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from engine.bootstrap import Oospath
from engine.domain import pathway_elements as pe
from engine.services import audit_views, cases, evidence, instances
from engine.store.models import CaseRow

SHOWN_ACTIONS = {"case.opened", "task.completed", "notification.delivered", "record.captured", "timer.fired",
                 "instance.completed"}


def print_timeline(console: Console, app: Oospath, case_id: str) -> None:
    table = Table("time (UTC)", "actor", "role", "step", title="OOS case timeline")
    with app.uow() as uow:
        case = cases.get_case(uow.session, case_id)
        names = audit_views.element_names(uow.session, case.instance_id)
        for entry in audit_views.case_trail(uow.session, case_id):
            if entry.action in SHOWN_ACTIONS:
                table.add_row(entry.at.strftime("%Y-%m-%d %H:%M"), entry.actor, entry.role or "",
                              audit_views.describe(entry, names))
        console.print(table)
        for line in deadline_lines(uow.session, case):
            console.print(line)


def deadline_lines(session: Session, case: CaseRow) -> list[str]:
    """OOS-13 in one sentence: when the Supervisory Authority was told, against the 48 h limit."""
    timers = {t.element_id: t for t in instances.timers_of(session, case.instance_id)}
    overdue = timers.get(pe.SA_DEADLINE_OVERDUE)
    told = [n for n in evidence.notifications_of_case(session, case.id)
            if n.party == "supervisory_authority" and n.requirement == "OOS-13"]
    if overdue is None or not told:
        return []
    supplied = overdue.due_at - timedelta(hours=48)
    hours = (told[0].delivered_at - supplied).total_seconds() / 3600
    verdict = "within" if told[0].delivered_at <= overdue.due_at else "LATE against"
    return [f"Supervisory Authority notified {hours:.1f} h after supply: {verdict} the 48 h deadline "
            f"(due {overdue.due_at:%Y-%m-%d %H:%M} UTC)."]
