"""Printing a case's timeline from its audit trail."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from engine.bootstrap import Oospath
from engine.services import audit_views

SHOWN_ACTIONS = {"case.opened", "task.completed", "notification.delivered", "record.captured", "timer.fired",
                 "instance.completed"}


def print_timeline(console: Console, app: Oospath, case_id: str) -> None:
    table = Table("time (UTC)", "actor", "role", "step", title="OOS case timeline")
    with app.uow() as uow:
        for entry in audit_views.case_trail(uow.session, case_id):
            if entry.action in SHOWN_ACTIONS:
                table.add_row(entry.at.strftime("%Y-%m-%d %H:%M"), entry.actor, entry.role or "",
                              audit_views.describe(entry))
    console.print(table)
