"""`oospath demo`: one OOS case from the failed result to closure on embedded defaults.

Drives the same service layer the HTTP API uses, with scripted actors, in-process
messaging and workers, and a simulated clock so the timeline shows real durations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from engine.bootstrap import Oospath
from engine.domain import catalogue
from engine.services import cases, catalog, definitions, tasks
from engine.services.errors import Conflict
from engine.services.identity import Actor
from engine.services.scheduling import fire_due
from engine.store.models import AuditEntry, CaseRow
from oospath.scenarios import EXCEPTIONAL_USE_REASON, PERSONAS, SCENARIOS, STEP_DURATION, form_data
from workers.embedded import EmbeddedMessaging

ADMIN = Actor("process.admin", frozenset({"admin"}))


@dataclass(frozen=True)
class DemoResult:
    case: CaseRow
    audit_rows: int
    steps: int


def deploy_processes(app: Oospath, actor: Actor = ADMIN) -> None:
    with app.uow() as uow:
        definitions.deploy(uow.session, app.runtime, definitions.bundle_from_directory(app.settings.processes_dir),
                           actor)
        uow.commit()


def seed_catalogue(app: Oospath, actor: Actor = ADMIN) -> None:
    """Demo products, specifications and batches; already present ones are left alone."""
    with app.uow() as uow:
        session = uow.session
        for product in catalogue.products():
            try:
                catalog.add_product(session, app.clock, product, actor)
                session.flush()
            except Conflict:
                continue
        known = {(r.product_code, r.version) for r in catalog.list_specifications(session)}
        for spec in catalogue.specifications():
            if (spec.product_code, spec.version) not in known:
                catalog.add_specification(session, app.clock, spec, actor)
        session.flush()
        known_batches = {b.batch_id for b in catalog.list_batches(session)}
        for batch in catalogue.sample_batches():
            if batch.batch_id not in known_batches:
                catalog.register_batch(session, app.clock, batch, actor)
        uow.commit()


def run_scenario(app: Oospath, messaging: EmbeddedMessaging, scenario: str, advance: object) -> DemoResult:
    """Open the case of the scenario's batch and let the scripted actors work until it closes."""
    opener = Actor(PERSONAS["qa"].user, frozenset({"qa"}))
    with app.uow() as uow:
        case = cases.open_case(uow.session, app.runtime, SCENARIOS[scenario], EXCEPTIONAL_USE_REASON, opener)
        uow.commit()
        case_id = case.id
    messaging.pump()
    steps = 0
    while True:
        with app.uow() as uow:
            ready = tasks.list_tasks(uow.session, case_id=case_id)
        if not ready:
            break
        task = ready[0]
        persona = PERSONAS[task.role or "qa"]
        advance(STEP_DURATION.get(task.element_id, timedelta(hours=1)))  # type: ignore[operator]
        with app.uow() as uow:
            tasks.complete_task(uow.session, app.runtime, task.id,
                                form_data(task.element_id, scenario, app.clock.now()),
                                Actor(persona.user, frozenset({persona.role})))
            uow.commit()
        messaging.pump()
        fire_due(app)  # the scheduler runs in-process in the demo
        messaging.pump()
        steps += 1
    with app.uow() as uow:
        case = cases.get_case(uow.session, case_id)
        rows = uow.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.case_id == case_id))
    return DemoResult(case, rows or 0, steps)
