"""Flat history: a looping instance's live task tree stays bounded, its past stays queryable (issue 10 item 3).

# REQ: OOS-24 (the audit trail records what the engine did, also for tasks that left the live tree)
# REQ: OOS-20 (review loops such as the periodic review's question rounds run as often as needed)
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.bootstrap import Oospath
from engine.bpmn import task_tree
from engine.clock import FrozenClock
from engine.services import audit_views, history, instances, tasks
from engine.services.identity import SYSTEM
from engine.services.scheduling import fire_due
from engine.store.models import AuditEntry, ProcessInstance
from tests.integration.conftest import complete, deploy, fixture_bundle, ready_tasks

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"
ROUNDS = 200
LIVE_TREE_BOUND = 20  # one round of the looping review is 6 tasks; its live tree holds 15


def looping_bundle() -> dict[str, bytes]:
    return {name: (FIXTURES / name).read_bytes() for name in ("looping_review.bpmn", "review_round.schema.json")}


def start_review(app: Oospath) -> str:
    deploy(app, looping_bundle())
    with app.uow() as uow:
        instance_id = instances.start_instance(uow.session, app.runtime, "looping_review", {"rounds": 0}, SYSTEM).id
        uow.commit()
    return instance_id


def review_round(app: Oospath, instance_id: str, another: bool = True) -> None:
    (task,) = ready_tasks(app, instance_id=instance_id)
    complete(app, task.id, {"another_round": another, "remark": f"round for {task.id}"})


def tree_and_state(app: Oospath, instance_id: str) -> tuple[int, int]:
    with app.uow() as uow:
        loaded = app.runtime.load(uow.session, instance_id)
        return loaded.process.live_tree_size(), len(loaded.row.state)


def instance(app: Oospath, instance_id: str) -> ProcessInstance:
    with app.uow() as uow:
        row = uow.session.get(ProcessInstance, instance_id)
        assert row is not None
        uow.session.expunge(row)
        return row


def test_two_hundred_rounds_keep_the_live_tree_bounded_and_every_round_queryable(app: Oospath) -> None:
    """200 rounds of a user task that loops back: the live task tree and the stored state stay the size of one
    round, the rounds' data carry on, every earlier round is still answerable as completed from the (intact)
    audit trail, and the first round's task still shows the data its reviewer decided on."""
    instance_id = start_review(app)
    (first_round,) = ready_tasks(app, instance_id=instance_id)
    sizes = {}
    for round_number in range(1, ROUNDS + 1):
        review_round(app, instance_id)
        if round_number in (10, 50, 100, ROUNDS):
            sizes[round_number] = tree_and_state(app, instance_id)
    assert max(tree for tree, _ in sizes.values()) <= LIVE_TREE_BOUND
    assert sizes[ROUNDS][1] <= sizes[10][1] * 1.1  # the state does not grow with the past
    review_round(app, instance_id, another=False)

    finished = instance(app, instance_id)
    assert finished.status == "completed" and finished.end_event == "done"
    assert json.loads(finished.state)["data"]["rounds"] == ROUNDS + 1
    with app.uow() as uow:
        reviews = history.archived_tasks(uow.session, instance_id, "review")
        counted = history.archived_tasks(uow.session, instance_id, "count_round")
        overdue = history.archived_tasks(uow.session, instance_id, "review_overdue")
        assert audit_views.chain_intact(uow.session, instance_id) == []
        first_round_data = tasks.task_data(uow.session, app.runtime, tasks.get_task(uow.session, first_round.id))
    assert first_round_data["remark"] == f"round for {first_round.id}" and first_round_data["rounds"] == 0
    assert len(reviews) >= ROUNDS - 1 and {task["state"] for task in reviews} == {"COMPLETED"}
    assert len({task["task_id"] for task in reviews}) == len(reviews)
    assert reviews[0]["data_delta"]["updates"]["another_round"] is True
    assert len(counted) >= ROUNDS - 1
    assert {task["state"] for task in overdue} == {"CANCELLED"}  # each round's boundary timer, cancelled


def test_the_boundary_timer_of_a_late_round_still_fires(app: Oospath, clock: FrozenClock) -> None:
    """Archiving earlier rounds leaves the current round's boundary timer in place: after 48 h it fires once
    and ends the review at its overdue end event."""
    instance_id = start_review(app)
    for _ in range(12):
        review_round(app, instance_id)
    clock.advance(timedelta(hours=47))
    assert fire_due(app) == 0
    clock.advance(timedelta(hours=2))
    assert fire_due(app) == 1
    assert fire_due(app) == 0
    finished = instance(app, instance_id)
    assert finished.status == "completed" and finished.end_event == "overdue"
    assert ready_tasks(app, instance_id=instance_id) == []


def test_an_instance_saved_before_flat_history_loads_and_is_flattened_at_its_next_step(
    app: Oospath, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state written before flat history existed (every round still in the tree) loads as it is; the next
    step archives its past rounds and the instance carries on to its end."""
    monkeypatch.setattr(task_tree, "archive_earlier_iterations", lambda workflow, at_least=1: [])
    instance_id = start_review(app)
    for _ in range(15):
        review_round(app, instance_id)
    old_tree, old_state = tree_and_state(app, instance_id)
    assert old_tree > 15 * 6
    monkeypatch.undo()

    review_round(app, instance_id)
    tree, state = tree_and_state(app, instance_id)
    assert tree <= LIVE_TREE_BOUND and state < old_state / 4
    with app.uow() as uow:
        assert len(history.archived_tasks(uow.session, instance_id, "review")) >= 15
    review_round(app, instance_id, another=False)
    finished = instance(app, instance_id)
    assert finished.status == "completed" and json.loads(finished.state)["data"]["rounds"] == 17


def test_a_process_without_loops_archives_nothing(app: Oospath) -> None:
    """A process that never loops keeps its whole task tree, as before: no history.archived entries."""
    deploy(app, fixture_bundle(1))
    with app.uow() as uow:
        instance_id = instances.start_instance(uow.session, app.runtime, "approval", {}, SYSTEM).id
        uow.commit()
    (task,) = ready_tasks(app, instance_id=instance_id)
    complete(app, task.id, {"approved": True})
    assert instance(app, instance_id).status == "completed"
    with app.uow() as uow:
        actions = set(uow.session.scalars(select(AuditEntry.action).where(AuditEntry.stream == instance_id)))
    assert history.ARCHIVED not in actions and "instance.completed" in actions


def test_parallel_branches_inside_a_loop_join_in_every_round(app: Oospath) -> None:
    """Two parallel checks per round, joined, then another round or the end: every round waits for both
    checks, its data reaches the next round, and the instance ends after the last round. (With every earlier
    round kept in the tree, SpiffWorkflow 3.2's parallel join also looks at the previous rounds' join tasks:
    checked, this test then fails in its second round.)"""
    deploy(app, {"parallel_rounds.bpmn": (FIXTURES / "parallel_rounds.bpmn").read_bytes(),
                 "review_round.schema.json": (FIXTURES / "review_round.schema.json").read_bytes()})
    with app.uow() as uow:
        instance_id = instances.start_instance(uow.session, app.runtime, "parallel_rounds", {"rounds": 0}, SYSTEM).id
        uow.commit()
    rounds = 8
    for round_number in range(1, rounds + 1):
        first, second = sorted(ready_tasks(app, instance_id=instance_id), key=lambda t: t.element_id,
                               reverse=round_number % 2 == 0)
        complete(app, first.id, {"another_round": True, "remark": f"{first.element_id} {round_number}"})
        (waiting,) = ready_tasks(app, instance_id=instance_id)  # the join waits for the other check
        assert waiting.id == second.id
        complete(app, second.id, {"another_round": round_number < rounds,
                                  "remark": f"{second.element_id} {round_number}"})
        assert tree_and_state(app, instance_id)[0] <= 2 * LIVE_TREE_BOUND
    finished = instance(app, instance_id)
    assert finished.status == "completed" and finished.end_event == "done"
    data = json.loads(finished.state)["data"]
    assert data["rounds"] == rounds and data["remark"].endswith(f" {rounds}")
