"""`oospath demo`: one OOS case from the failed result to closure on embedded defaults.

Drives the same service layer the HTTP API uses, with scripted actors, in-process
messaging and workers, and a simulated clock so the timeline shows real durations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from engine.bootstrap import Oospath
from engine.domain import catalogue
from engine.domain import pathway_elements as pe
from engine.services import cases, catalog, definitions, evidence, instances, tasks
from engine.services.errors import Conflict
from engine.services.identity import SYSTEM, Actor
from engine.services.scheduling import fire_due
from engine.store.models import AuditEntry, CaseRow, OutboxMessage, TaskRow
from oospath.demo_people import credentials_of, seed_people
from oospath.scenarios import (
    AGREEMENT_FORMS,
    EXCEPTIONAL_USE_REASON,
    PERSONAS,
    SCENARIOS,
    STEP_DURATION,
    UPLOADS_BEFORE,
    form_data,
)

ADMIN = SYSTEM  # the installation: deploys the release's processes and seeds demo data


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
    """Demo products, specifications, batches, organisations and people; already present ones are left alone."""
    seed_people(app)
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


def put_agreement_in_force(app: Oospath, settle: Callable[[], object] = lambda: None) -> str:
    """Run the ``written_agreement`` process with scripted signatories (OOS-15); returns its instance id."""
    starter = Actor(PERSONAS["qa"].user, frozenset({"qa"}))
    with app.uow() as uow:
        instance = instances.start_instance(uow.session, app.runtime, pe.WRITTEN_AGREEMENT, {}, starter)
        uow.commit()
        instance_id = instance.id
    settle()
    while True:
        with app.uow() as uow:
            ready = tasks.list_tasks(uow.session, instance_id=instance_id)
        if not ready:
            return instance_id
        task = ready[0]
        persona = PERSONAS[task.role or "qa"]
        with app.uow() as uow:
            tasks.complete_task(uow.session, app.runtime, task.id, AGREEMENT_FORMS[task.element_id],
                                Actor(persona.user, frozenset({persona.role})),
                                signature=credentials_of(persona.user))
            uow.commit()
        settle()


def run_scenario(
    app: Oospath, settle: Callable[[], object], scenario: str, advance: Callable[[timedelta], object]
) -> DemoResult:
    """Open the case of the scenario's batch and let the scripted actors work until it closes.

    ``settle`` returns when the messages of the last step are handled (in-process pump,
    or waiting for the RabbitMQ workers); ``advance`` moves the simulated clock.
    """
    opener = Actor(PERSONAS["qa"].user, frozenset({"qa"}))
    with app.uow() as uow:
        case = cases.open_case(uow.session, app.runtime, SCENARIOS[scenario], EXCEPTIONAL_USE_REASON, opener)
        uow.commit()
        case_id = case.id
    settle()
    steps = 0
    while True:
        with app.uow() as uow:
            ready = tasks.list_tasks(uow.session, case_id=case_id)
        if not ready:
            break
        task = ready[0]
        advance(STEP_DURATION.get(task.element_id, timedelta(hours=1)))
        scripted_step(app, task, scenario)
        settle()
        if fire_due(app):  # the scheduler runs in-process in the demo
            settle()
        steps += 1
    with app.uow() as uow:
        case = cases.get_case(uow.session, case_id)
        rows = uow.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.case_id == case_id))
    return DemoResult(case, rows or 0, steps)


def scripted_step(app: Oospath, task: TaskRow, scenario: str, *, upload: bool = True) -> None:
    """The persona of the task's role reads the task's data and completes it (QA uploads records first)."""
    if upload and task.case_id:
        upload_scripted_records(app, task.case_id, task.element_id)
    persona = PERSONAS[task.role or "qa"]
    with app.uow() as uow:
        seen = tasks.task_data(uow.session, app.runtime, task)
        tasks.complete_task(uow.session, app.runtime, task.id, form_data(task.element_id, scenario, app.clock.now(),
                                                                         seen),
                            Actor(persona.user, frozenset({persona.role})), signature=credentials_of(persona.user))
        uow.commit()


def upload_scripted_records(app: Oospath, case_id: str, element_id: str) -> None:
    """QA uploads the documents the task needs (OOS-16) before working on it."""
    uploads = UPLOADS_BEFORE.get(element_id, ())
    if not uploads:
        return
    qa = Actor(PERSONAS["qa"].user, frozenset({"qa"}))
    with app.uow() as uow:
        case = cases.get_case(uow.session, case_id)
        assert app.settings.record_store is not None
        for upload in uploads:
            evidence.capture_document(uow.session, app.clock.now(), qa, app.settings.record_store, case,
                                      record_type=upload.record_type, filename=upload.filename,
                                      media_type=upload.media_type, content=upload.content)
        uow.commit()


def wait_until_settled(app: Oospath, timeout: float = 60.0) -> None:
    """Wait for out-of-process workers: every outbox row published and no task waiting for a worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.uow() as uow:
            unpublished = uow.session.scalar(select(func.count()).select_from(OutboxMessage)
                                             .where(OutboxMessage.published_at.is_(None)))
            waiting = uow.session.scalar(select(func.count()).select_from(TaskRow).where(TaskRow.state == "waiting"))
        if not unpublished and not waiting:
            return
        time.sleep(0.05)
    raise TimeoutError(f"workers did not finish within {timeout:.0f} s: {unpublished} unpublished outbox "
                       f"message(s), {waiting} task(s) waiting for a worker")
