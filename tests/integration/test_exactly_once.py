"""Exactly once under concurrency: a task is completed or claimed once, a worker result is applied once,
case references never collide and a batch never has two open cases (issue 9 item 1).

Every race releases its requests together (a barrier), each on its own session and connection, on SQLite
and on PostgreSQL; a relay on a broker nobody has declared anything on publishes at its first attempt.

# REQ: OOS-24 (one attributable completion per decision) OOS-01 (one open case per OOS batch) OOS-13
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select

from engine.bootstrap import Oospath
from engine.domain import catalogue
from engine.services import cases, catalog, instances, tasks
from engine.services.errors import Conflict
from engine.services.work import apply_work_result
from engine.store.db import alembic_config, make_engine, upgrade
from engine.store.models import AuditEntry, CaseRow, OutboxMessage, TaskRow
from oospath.demo import ADMIN, deploy_processes
from oospath.scenarios import EXCEPTIONAL_USE_REASON, form_data
from tests.conftest import AMQP_OFF, AMQP_URL
from tests.integration.conftest import QA

ROUNDS = 50
OTHER_QA = replace(QA, user="ben.schmidt")


@pytest.fixture
def deployed(app: Oospath) -> None:
    """The shipped processes and the viability-OOS batch's product and specifications: all the races need (no
    messaging, no demo people, whose password hashing would take most of the test's time)."""
    deploy_processes(app)
    product_code = catalogue.sample_batch(catalogue.BATCH_VIABILITY_OOS).product_code
    with app.uow() as uow:
        catalog.add_product(uow.session, app.clock, next(p for p in catalogue.products() if p.code == product_code),
                            ADMIN)
        uow.session.flush()
        for specification in catalogue.specifications_for(product_code):
            catalog.add_specification(uow.session, app.clock, specification, ADMIN)
        uow.commit()


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; each outcome is its return value or the exception raised."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            outcomes[index] = call()
        except Exception as exc:  # the outcome under test
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)  # liveness bound: a deadlock fails the test instead of hanging it
        assert not thread.is_alive(), "a concurrent request did not finish within 60 s"
    return outcomes


def one_success_one_conflict(outcomes: list[Any]) -> int:
    """The index of the single success; the other outcome must be a 409 Conflict (never a 500 or a crash)."""
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    successes = [i for i, o in enumerate(outcomes) if not isinstance(o, Exception)]
    assert len(successes) == 1 and len(conflicts) == len(outcomes) - 1, outcomes
    assert all(c.status == 409 for c in conflicts)
    return successes[0]


def register_oos_batches(app: Oospath, count: int) -> list[str]:
    """Copies of the demo's viability-OOS batch, each a batch of its own (OOS-01 entry condition met)."""
    run = uuid.uuid4().hex[:6].upper()
    template = catalogue.sample_batch(catalogue.BATCH_VIABILITY_OOS)
    ids = [f"RACE-{run}-{n:03d}" for n in range(count)]
    with app.uow() as uow:
        for batch_id in ids:
            catalog.register_batch(uow.session, app.clock, replace(template, batch_id=batch_id), ADMIN)
        uow.commit()
    return ids


def open_case(app: Oospath, batch_id: str) -> CaseRow:
    with app.uow() as uow:
        case = cases.open_case(uow.session, app.runtime, batch_id, EXCEPTIONAL_USE_REASON, QA)
        uow.commit()
        return case


def case_task(app: Oospath, case_id: str, element_id: str, state: str = "ready", kind: str = "user") -> TaskRow:
    with app.uow() as uow:
        rows = tasks.list_tasks(uow.session, case_id=case_id, state=state, kind=kind)
    return next(r for r in rows if r.element_id == element_id)


def audit_rows(app: Oospath, action: str, task_id: str) -> list[AuditEntry]:
    with app.uow() as uow:
        return list(uow.session.scalars(select(AuditEntry).where(AuditEntry.action == action,
                                                                 AuditEntry.task_id == task_id)))


def complete(app: Oospath, task_id: str, data: dict[str, Any], actor: Any) -> str:
    with app.uow() as uow:
        tasks.complete_task(uow.session, app.runtime, task_id, data, actor)
        uow.commit()
    return "completed"


def claim(app: Oospath, task_id: str, actor: Any) -> str:
    with app.uow() as uow:
        tasks.claim_task(uow.session, app.runtime, task_id, actor)
        uow.commit()
    return "claimed"


def apply_result(app: Oospath, message: dict[str, Any]) -> str:
    with app.uow() as uow:
        outcome = apply_work_result(uow.session, app.runtime, message)
        uow.commit()
    return outcome


def test_two_simultaneous_completions_of_a_task_give_one_success_and_one_409_oos24(
    app: Oospath, deployed: None
) -> None:
    """OOS-24: of two QA users completing the same investigation at the same moment, exactly one decision
    counts: the other gets 409, the audit trail holds one task.completed row and the process keeps the
    winner's data (50 races)."""
    for batch_id in register_oos_batches(app, ROUNDS):
        case = open_case(app, batch_id)
        task = case_task(app, case.id, "investigate_oos")
        forms = [form_data("investigate_oos", "authorised", app.clock.now()) | {"root_cause": f"root cause {who}"}
                 for who in ("A", "B")]
        outcomes = race(partial(complete, app, task.id, forms[0], QA),
                        partial(complete, app, task.id, forms[1], OTHER_QA))
        winner = one_success_one_conflict(outcomes)
        completed = audit_rows(app, "task.completed", task.id)
        assert len(completed) == 1
        assert completed[0].actor == (QA, OTHER_QA)[winner].user
        assert completed[0].data_after["root_cause"] == forms[winner]["root_cause"]
        with app.uow() as uow:
            kept = instances.instance_data(uow.session, app.runtime, case.instance_id)
            row = uow.session.get(TaskRow, task.id)
            assert row is not None and (row.state, row.completed_by) == ("completed", (QA, OTHER_QA)[winner].user)
        assert kept["root_cause"] == forms[winner]["root_cause"]


def test_a_step_on_an_instance_changed_since_it_was_read_is_a_409_not_a_duplicate_key_error_oos24(
    app: Oospath, deployed: None
) -> None:
    """OOS-24: a writer that read the instance without its lock (e.g. a timer firing) while a user's completion
    committed is refused with 409 before it writes anything; the completion stands alone in the audit trail."""
    case = open_case(app, register_oos_batches(app, 1)[0])
    task = case_task(app, case.id, "investigate_oos")
    form = form_data("investigate_oos", "authorised", app.clock.now())
    with app.uow() as stale:
        loaded = app.runtime.load(stale.session, case.instance_id)
        complete(app, task.id, form, QA)  # commits meanwhile
        loaded.process.complete_user_task(task.id, form | {"root_cause": "late"})
        with pytest.raises(Conflict, match="changed by another request"):
            app.runtime.advance(stale.session, loaded, OTHER_QA)
    assert [e.actor for e in audit_rows(app, "task.completed", task.id)] == [QA.user]


def test_two_simultaneous_claims_of_a_task_give_one_assignee_and_one_409_oos25(
    app: Oospath, deployed: None
) -> None:
    """OOS-25: two users claiming the same task at once: one becomes the assignee, the other gets 409."""
    for batch_id in register_oos_batches(app, 10):
        task = case_task(app, open_case(app, batch_id).id, "investigate_oos")
        outcomes = race(partial(claim, app, task.id, QA), partial(claim, app, task.id, OTHER_QA))
        winner = one_success_one_conflict(outcomes)
        assert [e.actor for e in audit_rows(app, "task.claimed", task.id)] == [(QA, OTHER_QA)[winner].user]
        assert case_task(app, task.case_id or "", "investigate_oos").assignee == (QA, OTHER_QA)[winner].user


def test_a_worker_result_delivered_twice_at_once_completes_its_task_once_oos13(
    app: Oospath, deployed: None
) -> None:
    """OOS-13: the notification worker's result arriving twice at the same moment (a redelivery reported under a
    new message id, or the same message twice) completes the waiting task once: one work.completed row."""
    for index, batch_id in enumerate(register_oos_batches(app, 10)):
        case = open_case(app, batch_id)
        task = case_task(app, case.id, "inform_treating_physician", state="waiting", kind="service")
        body = {"worker": "worker:notifications", "instance_id": task.instance_id, "task_id": task.id,
                "case_id": case.id, "result": {"delivered": False, "party": "treating_physician"}}
        first_id = str(uuid.uuid4())
        second_id = first_id if index % 2 else str(uuid.uuid4())
        outcomes = race(partial(apply_result, app, body | {"message_id": first_id}),
                        partial(apply_result, app, body | {"message_id": second_id}))
        assert sorted(outcomes, key=str) == ["applied", "duplicate" if first_id == second_id else "ignored"], outcomes
        assert len(audit_rows(app, "work.completed", task.id)) == 1


def test_cases_opened_at_the_same_moment_get_distinct_references_and_one_open_case_per_batch_oos01(
    app: Oospath, deployed: None
) -> None:
    """OOS-01: eight cases opened at once for eight batches all open, with eight distinct references; three
    openings of one batch at once give one case and two 409s naming the batch."""
    batch_ids = register_oos_batches(app, 9)
    opened = race(*(partial(open_case, app, batch_id) for batch_id in batch_ids[:8]))
    assert all(isinstance(case, CaseRow) for case in opened), opened
    references = [case.reference for case in opened]
    assert len(set(references)) == 8 and all(r.startswith(f"OOS-{app.clock.now().year}-") for r in references)

    same = race(*(partial(open_case, app, batch_ids[8]) for _ in range(3)))
    one_success_one_conflict(same)
    assert all(batch_ids[8] in str(o) for o in same if isinstance(o, Conflict))
    with app.uow() as uow:
        open_per_batch = dict(uow.session.execute(
            select(CaseRow.batch_id, func.count()).where(CaseRow.status == "open").group_by(CaseRow.batch_id)).all())
        all_references = list(uow.session.scalars(select(CaseRow.reference)))
    assert all(count == 1 for count in open_per_batch.values()) and open_per_batch[batch_ids[8]] == 1
    assert len(all_references) == len(set(all_references)) == 9


def test_the_database_itself_refuses_a_second_open_case_for_a_batch_oos01(
    app: Oospath, deployed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OOS-01: even past the service's check (as when two openings check at the same moment), the database keeps
    one open case per batch and the refusal is a 409 naming the batch, with nothing of the refused opening kept."""
    batch_id = register_oos_batches(app, 1)[0]
    first = open_case(app, batch_id)
    monkeypatch.setattr(cases, "_check_no_open_case", lambda _session, _batch_id: None)
    with pytest.raises(Conflict, match=f"batch {batch_id} already has an open OOS case"):
        open_case(app, batch_id)
    with app.uow() as uow:
        assert list(uow.session.scalars(select(CaseRow.id).where(CaseRow.batch_id == batch_id))) == [first.id]
        assert uow.session.scalar(select(func.count()).select_from(AuditEntry)
                                  .where(AuditEntry.action == "case.opened")) == 1


def test_an_upgraded_installation_continues_its_case_numbering_oos01(
    app: Oospath, deployed: None, database_owner_url: str
) -> None:
    """OOS-01: an installation that already has cases when the reference counter arrives (migration 0007)
    continues after its highest reference instead of giving a number out twice."""
    batch_ids = register_oos_batches(app, 2)
    first = open_case(app, batch_ids[0])
    owner = make_engine(database_owner_url)
    try:
        config = alembic_config(owner)
        with owner.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")  # as before the counter existed, with the case already there
        upgrade(owner)
    finally:
        owner.dispose()
    second = open_case(app, batch_ids[1])
    assert int(second.reference.rsplit("-", 1)[1]) == int(first.reference.rsplit("-", 1)[1]) + 1


@pytest.mark.skipif(AMQP_OFF, reason="OOSPATH_TEST_AMQP_URL=off")
def test_the_relay_publishes_on_a_broker_where_nothing_is_declared_yet_oos13(app: Oospath) -> None:
    """OOS-13: the relay's first publish on a fresh broker reaches the worker's queue (it declares the
    exchanges and queues itself instead of failing until a worker has declared them)."""
    import pika

    from workers.relay import relay_pending
    from workers.transport.rabbitmq import RabbitMqTransport
    from workers.transport.topology import BINDINGS, Topology

    topology = Topology(f"oospath-test-fresh-{uuid.uuid4().hex[:8]}")
    relay = RabbitMqTransport(AMQP_URL, topology=topology, queue_type="classic")
    message_id = str(uuid.uuid4())
    with app.uow() as uow:
        uow.session.add(OutboxMessage(message_id=message_id, routing_key="work.notify",
                                      body={"message_id": message_id}, created_at=app.clock.now()))
        uow.commit()
    try:
        assert relay_pending(app, relay) == 1
        received: list[str] = []
        relay.consume("notifications", lambda m: received.append(m.message_id), idle_timeout=1.0)
        assert received == [message_id]
    finally:
        relay.close()
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        channel = connection.channel()
        for kind in BINDINGS:
            channel.queue_delete(topology.queue(kind))
            channel.queue_delete(f"{topology.queue(kind)}.retry")
        channel.queue_delete(topology.dead_letter_queue)
        for exchange in (topology.exchange, topology.retry_exchange, topology.dead_letter_exchange):
            channel.exchange_delete(exchange)
        connection.close()
