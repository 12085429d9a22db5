"""The 48-hour Supervisory Authority deadline with an injected clock.

# REQ: OOS-13
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from jsonschema import Draft202012Validator
from sqlalchemy import select

from engine.bootstrap import Oospath
from engine.clock import FrozenClock
from engine.services import cases, evidence, instances
from engine.services.identity import Actor
from engine.services.scheduling import fire_due
from engine.store.models import OutboxMessage
from oospath.demo import scripted_step
from oospath.scenarios import EXCEPTIONAL_USE_REASON, PERSONAS, SCENARIOS
from tests.integration.conftest import ready_tasks
from workers.embedded import EmbeddedMessaging
from workers.inbound import CONTRACTS


def actor_for(role: str) -> Actor:
    return Actor(PERSONAS[role].user, frozenset({role}))


def process_data(app: Oospath, task: object) -> dict:
    with app.uow() as uow:
        return instances.instance_data(uow.session, app.runtime, task.instance_id)  # type: ignore[attr-defined]


def ready(app: Oospath, case_id: str, element_id: str) -> object:
    """The open task of ``element_id`` (after supply, the SA approval and the NCA question run in parallel)."""
    (task,) = [t for t in ready_tasks(app, case_id=case_id) if t.element_id == element_id]
    return task


def act(app: Oospath, task: object) -> None:
    """The scripted actor of the task's role reads the task's data and completes it."""
    scripted_step(app, task, "authorised")  # type: ignore[arg-type]


def drive_until(app: Oospath, messaging: EmbeddedMessaging, case_id: str, element_id: str) -> None:
    """Complete the scripted user tasks until ``element_id`` is the open task."""
    for _ in range(20):
        messaging.pump()
        (task, *_) = ready_tasks(app, case_id=case_id)
        if task.element_id == element_id:
            return
        act(app, task)
    raise AssertionError(f"{element_id} never became ready")


def open_authorised_case(app: Oospath) -> str:
    with app.uow() as uow:
        case = cases.open_case(uow.session, app.runtime, SCENARIOS["authorised"], EXCEPTIONAL_USE_REASON,
                               actor_for("qa"))
        uow.commit()
        return case.id


def notified(app: Oospath, case_id: str) -> list[tuple[str, str]]:
    with app.uow() as uow:
        return [(n.party, n.subject) for n in evidence.notifications_of_case(uow.session, case_id)]


def test_sa_deadline_escalates_before_expiry_and_is_flagged_overdue_after(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    case_id = open_authorised_case(app)
    drive_until(app, pathway, case_id, "approve_sa_notification")
    approval = ready(app, case_id, "approve_sa_notification")
    supplied = datetime.fromisoformat(process_data(app, approval)["supplied_at"])  # as recorded by QA
    with app.uow() as uow:
        case = cases.get_case(uow.session, case_id)
        deadlines = {t.element_id: t.due_at for t in instances.timers_of(uow.session, case.instance_id)}
    assert deadlines == {"sa_deadline_escalation": supplied + timedelta(hours=36),
                         "sa_deadline_overdue": supplied + timedelta(hours=48)}
    approval = ready(app, case_id, "approve_sa_notification")
    assert approval.due_at == supplied + timedelta(hours=48)  # the task list shows the legal deadline

    clock.set(supplied + timedelta(hours=35, minutes=59))
    assert fire_due(app) == 0
    clock.advance(timedelta(minutes=2))
    assert fire_due(app) == 1
    pathway.pump()
    assert [s.split("] ", 1)[1] for p, s in notified(app, case_id) if p == "qa_head"] == [
        "Supervisory Authority notification due within 12 hours"]

    clock.advance(timedelta(hours=12))
    assert fire_due(app) == 1
    pathway.pump()
    assert any("overdue" in subject for party, subject in notified(app, case_id) if party == "qa_head")

    # The late notification is still sent, after the deadline, and the approval task stayed open.
    task = ready(app, case_id, "approve_sa_notification")
    act(app, task)
    pathway.pump()
    with app.uow() as uow:
        sa = [n for n in evidence.notifications_of_case(uow.session, case_id)
              if n.party == "supervisory_authority" and n.requirement == "OOS-13"]
    assert len(sa) == 1 and sa[0].delivered_at > supplied + timedelta(hours=48)


def test_notification_within_48_hours_cancels_the_deadline_timers(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    case_id = open_authorised_case(app)
    drive_until(app, pathway, case_id, "approve_sa_notification")
    clock.advance(timedelta(hours=20))
    act(app, ready(app, case_id, "approve_sa_notification"))
    pathway.pump()
    clock.advance(timedelta(hours=100))
    assert fire_due(app) == 0
    with app.uow() as uow:
        case = cases.get_case(uow.session, case_id)
        statuses = {t.element_id: t.status for t in instances.timers_of(uow.session, case.instance_id)}
    assert statuses == {"sa_deadline_escalation": "cancelled", "sa_deadline_overdue": "cancelled"}
    assert not any(party == "qa_head" for party, _ in notified(app, case_id))


def test_domain_events_of_a_late_case_are_published_and_match_their_contract(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    # REQ: OOS-13 (deadline.escalated / deadline.missed are visible to other systems, never hidden)
    case_id = open_authorised_case(app)
    drive_until(app, pathway, case_id, "approve_sa_notification")
    clock.advance(timedelta(hours=49))
    fire_due(app)
    fire_due(app)
    for _ in range(10):
        pathway.pump()
        open_tasks = ready_tasks(app, case_id=case_id)
        if not open_tasks:
            break
        task = open_tasks[0]
        act(app, task)
    validator = Draft202012Validator(json.loads((CONTRACTS / "event.v1.schema.json").read_text()))
    with app.uow() as uow:
        events = [row.body for row in uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.routing_key.startswith("event.")).order_by(OutboxMessage.id))]
    for body in events:
        validator.validate(body)
    names = [body["event"] for body in events]
    assert names[0] == "case.opened" and names[-1] == "case.closed"
    assert {"physician.requested", "batch.supplied", "notification.sent", "deadline.escalated",
            "deadline.missed"} <= set(names)
    assert names.index("batch.supplied") < names.index("deadline.escalated") < names.index("deadline.missed")
