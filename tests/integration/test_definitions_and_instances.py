"""Deployments, version pinning, spec-free state, optimistic locking.

# REQ: OOS-24 (attributable, consistent records of every change)
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from engine.bootstrap import Oospath
from engine.services import instances
from engine.services.errors import Conflict
from engine.store.models import ProcessDefinition, ProcessInstance
from tests.integration.conftest import ADMIN, QA, complete, deploy, fixture_bundle, ready_tasks


def start(app: Oospath, key: str = "approval") -> str:
    with app.uow() as uow:
        row = instances.start_instance(uow.session, app.runtime, key, {"case_id": None}, ADMIN)
        uow.commit()
        return row.id


def data_of(app: Oospath, instance_id: str) -> dict:
    with app.uow() as uow:
        return instances.instance_data(uow.session, app.runtime, instance_id)


def test_identical_redeploy_is_a_no_op_and_changed_content_gets_next_version(app: Oospath) -> None:
    first = deploy(app, fixture_bundle(1))
    again = deploy(app, fixture_bundle(1))
    changed = deploy(app, fixture_bundle(2))
    assert [(o.definition.version, o.created) for o in first] == [(1, True)]
    assert [(o.definition.version, o.created) for o in again] == [(1, False)]
    assert [(o.definition.version, o.created) for o in changed] == [(2, True)]
    with app.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ProcessDefinition)) == 2


def test_running_instance_stays_pinned_to_the_version_it_started_on(app: Oospath) -> None:
    deploy(app, fixture_bundle(1))
    old = start(app)
    deploy(app, fixture_bundle(2))
    new = start(app)
    for instance_id in (old, new):
        (task,) = ready_tasks(app, instance_id=instance_id)
        complete(app, task.id, {"approved": True})
    assert data_of(app, old)["stamped_by_version"] == 1
    assert data_of(app, new)["stamped_by_version"] == 2


def test_instance_state_is_stored_without_the_spec(app: Oospath) -> None:
    deploy(app, fixture_bundle(1))
    instance_id = start(app)
    with app.uow() as uow:
        state = json.loads(uow.session.get(ProcessInstance, instance_id).state)
        definition = uow.session.scalars(select(ProcessDefinition)).one()
        assert "approve" in definition.spec  # the spec lives once, on the definition (read when asked for)
    assert "spec" not in state and "subprocess_specs" not in state


def test_two_concurrent_completions_of_one_task_cannot_both_succeed(app: Oospath) -> None:
    deploy(app, fixture_bundle(1))
    instance_id = start(app)
    (task,) = ready_tasks(app, instance_id=instance_id)
    # Request A has loaded the instance when request B completes the same task and commits.
    with app.uow() as slow:
        loaded = app.runtime.load(slow.session, instance_id)
        complete(app, task.id, {"approved": True})
        loaded.process.complete_user_task(task.id, {"approved": False})
        with pytest.raises(Conflict, match="changed by another request"):
            app.runtime.advance(slow.session, loaded, QA)
            slow.commit()
    assert data_of(app, instance_id)["approved"] is True


def test_completing_a_completed_task_is_a_conflict(app: Oospath) -> None:
    deploy(app, fixture_bundle(1))
    instance_id = start(app)
    (task,) = ready_tasks(app, instance_id=instance_id)
    complete(app, task.id, {"approved": True})
    with pytest.raises(Conflict, match="completed"):
        complete(app, task.id, {"approved": True})
