"""Cheap steps stay trustworthy: chain heads, one insert per step, and the per-process workflow cache.

The audit chain is appended from a head table (0010) instead of the last audit row; the heads must
always equal the chain's real ends, a rolled-back step must leave no trace in them, and concurrent
writers of one stream must never fork it. A process's cache of deserialized workflows must never
serve a workflow another process has stepped past.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.bootstrap import Oospath, bootstrap
from engine.services import audit, instances
from engine.services.audit import AuditEvent
from engine.services.audit_anchors import verify_audit_trail
from engine.services.errors import Conflict
from engine.services.identity import SYSTEM
from engine.store.models import AuditChainHead, AuditEntry, ProcessInstance, TaskRow
from tests.conftest import PG_URL
from tests.integration.conftest import FIXTURES, QA, complete, deploy, fixture_bundle

TWO_REVIEWS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="two_reviews_definitions"
  targetNamespace="http://oospath.example/test">
<bpmn:process id="two_reviews" name="Two reviews (test process)" isExecutable="true">
<bpmn:laneSet id="lanes"><bpmn:lane id="lane_qa" name="QA"><bpmn:flowNodeRef>first</bpmn:flowNodeRef>
<bpmn:flowNodeRef>second</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
<bpmn:userTask id="first" name="First review">{form}<bpmn:incoming>f1</bpmn:incoming>
<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
<bpmn:userTask id="second" name="Second review">{form}<bpmn:incoming>f2</bpmn:incoming>
<bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
<bpmn:endEvent id="done"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
<bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="second"/>
<bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="done"/>
</bpmn:process></bpmn:definitions>
""".replace("{form}", '<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property '
                      'name="formJsonSchemaFilename" value="approve.schema.json"/></spiffworkflow:properties>'
                      '</bpmn:extensionElements>')


def heads_and_ends(app: Oospath) -> tuple[dict[str, tuple[int, str]], dict[str, tuple[int, str]]]:
    """The head table, and each stream's real last row (id, row hash) in audit_log."""
    with app.uow() as uow:
        heads = {h.stream: (h.last_id, h.last_hash) for h in uow.session.scalars(select(AuditChainHead))}
        last = select(AuditEntry.stream, func.max(AuditEntry.id).label("id")).group_by(AuditEntry.stream).subquery()
        ends = {stream: (row_id, row_hash) for stream, row_id, row_hash in uow.session.execute(
            select(last.c.stream, last.c.id, AuditEntry.row_hash).join(AuditEntry, AuditEntry.id == last.c.id))}
    return heads, ends


def start(app: Oospath, key: str, data: dict[str, Any] | None = None) -> str:
    with app.uow() as uow:
        row = instances.start_instance(uow.session, app.runtime, key, data or {}, QA)
        uow.commit()
        return row.id


def ready_task(app: Oospath, instance_id: str) -> TaskRow:
    with app.uow() as uow:
        return uow.session.scalars(select(TaskRow).where(TaskRow.instance_id == instance_id,
                                                         TaskRow.state == "ready")).one()


def test_heads_match_the_chain_after_steps(app: Oospath) -> None:
    """# REQ: OOS-24 — every stream's head is its last row; the whole trail verifies intact."""
    deploy(app, fixture_bundle())
    instance_id = start(app, "approval", {"note": "heads"})
    complete(app, ready_task(app, instance_id).id, {"approved": True})
    heads, ends = heads_and_ends(app)
    assert instance_id in heads and heads == ends
    with app.uow() as uow:
        rows = uow.session.scalars(select(AuditEntry).where(AuditEntry.stream == instance_id)).all()
        assert [r.action for r in rows][:1] == ["instance.started"] and rows[-1].action == "instance.completed"
        result = verify_audit_trail(uow.session, app.settings.audit_anchor_log, stream=instance_id)
    assert result.intact and result.rows == len(rows)


def test_a_rolled_back_step_leaves_the_head_where_it_was(app: Oospath) -> None:
    """# REQ: OOS-24 — appended rows of a transaction that is not committed are neither stored nor chained to."""
    with app.uow() as uow:
        audit.append(uow.session, app.clock.now(), SYSTEM, AuditEvent("bench.kept"))
        uow.commit()
    before, _ = heads_and_ends(app)
    with app.uow() as uow:
        audit.append(uow.session, app.clock.now(), SYSTEM, AuditEvent("bench.abandoned"))
        uow.session.flush()
        uow.session.rollback()
        audit.append(uow.session, app.clock.now(), SYSTEM, AuditEvent("bench.after_rollback"))
        assert uow.session.scalars(select(AuditEntry.action).where(AuditEntry.stream == "system")).all()[-1] \
            == "bench.after_rollback"  # a query in the transaction sees the rows appended before it
        uow.commit()
    heads, ends = heads_and_ends(app)
    assert heads == ends and heads["system"] != before["system"]
    with app.uow() as uow:
        actions = uow.session.scalars(select(AuditEntry.action).where(AuditEntry.stream == "system")).all()
        assert "bench.abandoned" not in actions
        assert verify_audit_trail(uow.session, app.settings.audit_anchor_log, stream="system").intact


@pytest.mark.parametrize("database_url", ["postgresql"] if PG_URL else [], indirect=True)  # real concurrency
def test_concurrent_writers_of_one_stream_never_fork_it(app: Oospath) -> None:
    """# REQ: OOS-24 — two threads append to one stream at the same time; one chain, no row links twice."""
    failures: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for number in range(25):
                with app.uow() as uow:
                    for part in range(2):
                        audit.append(uow.session, app.clock.now(), SYSTEM,
                                     AuditEvent(f"{name}.{number}.{part}", instance_id="shared-stream"))
                    uow.commit()
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    with app.uow() as uow:
        rows = uow.session.scalars(select(AuditEntry).where(AuditEntry.stream == "shared-stream")
                                   .order_by(AuditEntry.id)).all()
        result = verify_audit_trail(uow.session, app.settings.audit_anchor_log, stream="shared-stream")
    assert len(rows) == 100 and len({r.prev_hash for r in rows}) == 100 and result.intact
    heads, ends = heads_and_ends(app)
    assert heads["shared-stream"] == ends["shared-stream"] == (rows[-1].id, rows[-1].row_hash)


def test_a_process_never_steps_from_a_workflow_another_process_moved_past(app: Oospath) -> None:
    """# REQ: OOS-24 — two containers on one database: each step starts from the committed state."""
    schema = (FIXTURES / "approve.schema.json").read_bytes()
    deploy(app, {"two_reviews.bpmn": TWO_REVIEWS.encode(), "approve.schema.json": schema})
    other = bootstrap(app.settings, app.clock, migrate=False)
    try:
        instance_id = start(app, "two_reviews")  # this process keeps the started workflow
        first = ready_task(app, instance_id)
        complete(other, first.id, {"approved": False})  # the other process steps the instance
        with pytest.raises(Conflict):
            complete(app, first.id, {"approved": True})  # not from the stale workflow: the task is done
        second = ready_task(app, instance_id)
        assert second.element_id == "second"
        complete(app, second.id, {"approved": True})
        with app.uow() as uow:
            data = instances.instance_data(uow.session, app.runtime, instance_id)
            status = uow.session.get(ProcessInstance, instance_id).status  # type: ignore[union-attr]
    finally:
        other.db.dispose()
    assert status == "completed" and data["approved"] is True
    heads, ends = heads_and_ends(app)
    assert heads == ends


def test_reading_a_task_keeps_the_cached_workflow_and_never_revives_a_stale_one(
        app: Oospath, monkeypatch: pytest.MonkeyPatch) -> None:
    """# REQ: OOS-24 — reading a task's data between steps gives the workflow back to the cache (the next step
    restores nothing), and a workflow given back by a read is never used once another process stepped past it."""
    from engine.services import tasks

    schema = (FIXTURES / "approve.schema.json").read_bytes()
    deploy(app, {"two_reviews.bpmn": TWO_REVIEWS.encode(), "approve.schema.json": schema})
    restores: list[str] = []
    original = app.runtime.processes.restore
    monkeypatch.setattr(app.runtime.processes, "restore",
                        lambda *args: restores.append("restored") or original(*args))
    instance_id = start(app, "two_reviews")
    first = ready_task(app, instance_id)
    with app.uow() as uow:
        tasks.task_data(uow.session, app.runtime, first)
        tasks.task_data(uow.session, app.runtime, first)
    complete(app, first.id, {"approved": False})
    assert restores == [], "the reads and the step used the workflow this process kept"
    second = ready_task(app, instance_id)
    with app.uow() as uow:
        tasks.task_data(uow.session, app.runtime, second)  # given back at the version it read
    other = bootstrap(app.settings, app.clock, migrate=False)
    try:
        complete(other, second.id, {"approved": True})  # another process completes the instance
    finally:
        other.db.dispose()
    with pytest.raises(Conflict):
        complete(app, second.id, {"approved": True})  # not from the workflow the read gave back
    with app.uow() as uow:
        assert instances.instance_data(uow.session, app.runtime, instance_id)["approved"] is True
