"""Engine-level fixtures: deploy bundles and drive tasks through the service layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.bootstrap import Oospath
from engine.services import definitions, tasks
from engine.services.identity import SYSTEM, Actor
from oospath.demo import deploy_processes, put_agreement_in_force, seed_catalogue
from oospath.demo_people import credentials_of
from workers.embedded import EmbeddedMessaging

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
ADMIN = Actor("designer", frozenset({"admin"}))
QA = Actor("anna.keller", frozenset({"qa"}))


def fixture_bundle(script_value: int = 1) -> dict[str, bytes]:
    bpmn = (FIXTURES / "approval.bpmn").read_text().replace(
        "stamped_by_version = 1", f"stamped_by_version = {script_value}")
    return {"approval.bpmn": bpmn.encode(), "approve.schema.json": (FIXTURES / "approve.schema.json").read_bytes()}


def deploy(app: Oospath, files: dict[str, bytes]) -> list[definitions.DeployOutcome]:
    """The installation deploy (approved at once); tests/integration/test_change_control.py deploys as users."""
    with app.uow() as uow:
        outcomes = definitions.deploy(uow.session, app.runtime, files, SYSTEM)
        uow.commit()
    return outcomes


def complete(app: Oospath, task_id: str, data: dict[str, Any], actor: Actor = QA) -> None:
    with app.uow() as uow:
        tasks.complete_task(uow.session, app.runtime, task_id, data, actor, signature=credentials_of(actor.user))
        uow.commit()


def ready_tasks(app: Oospath, **filters: Any) -> list[Any]:
    with app.uow() as uow:
        return tasks.list_tasks(uow.session, **filters)


@pytest.fixture
def pathway(app: Oospath) -> EmbeddedMessaging:
    """The shipped processes deployed, the demo catalogue seeded, the demo parties' written agreement in
    force (OOS-15), embedded workers ready."""
    deploy_processes(app)
    seed_catalogue(app)
    messaging = EmbeddedMessaging(app)
    put_agreement_in_force(app, messaging.pump)
    return messaging
