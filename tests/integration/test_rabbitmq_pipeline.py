"""The engine and workers through the real RabbitMQ at 127.0.0.1:5672 (CI runs it; missing = failure).

# REQ: OOS-04 OOS-13 (notifications reach their party exactly once, or become a visible incident)
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid

import pytest
from sqlalchemy import func, select

from engine.bootstrap import Oospath
from engine.services import cases, incidents
from engine.store.evidence_models import NotificationRow
from engine.store.models import Incident, TaskRow
from oospath.scenarios import EXCEPTIONAL_USE_REASON, SCENARIOS
from tests.conftest import AMQP_OFF, AMQP_URL, rabbitmq_transport
from tests.integration.conftest import QA
from workers.channels import SmtpChannel
from workers.dead_letters import incident_recorder
from workers.embedded import consumers
from workers.engine_results import ResultConsumer
from workers.notifications import NotificationWorker
from workers.relay import relay_pending
from workers.transport.base import Message
from workers.transport.topology import RetryPolicy

pytestmark = pytest.mark.skipif(AMQP_OFF, reason="OOSPATH_TEST_AMQP_URL=off")


@pytest.fixture
def broker(app: Oospath, pathway: object):  # type: ignore[no-untyped-def]
    transport = rabbitmq_transport("classic", retry=RetryPolicy(3, 50), on_dead_letter=incident_recorder(app))
    yield transport
    transport.close()


def open_case(app: Oospath) -> str:
    with app.uow() as uow:
        case = cases.open_case(uow.session, app.runtime, SCENARIOS["authorised"], EXCEPTIONAL_USE_REASON, QA)
        uow.commit()
        return case.id


def count(app: Oospath, query: object) -> int:
    with app.uow() as uow:
        return uow.session.scalar(query) or 0  # type: ignore[call-overload]


def test_round_trip_outbox_broker_worker_result_task_completed(app: Oospath, broker) -> None:  # type: ignore[no-untyped-def]
    case_id = open_case(app)
    handlers = consumers(app, broker)
    handled = 0
    while relay_pending(app, broker):
        handled += broker.consume("notifications", handlers["notifications"], idle_timeout=0.3)
        handled += broker.consume("results", handlers["results"], idle_timeout=0.3)
    assert handled == 6  # three notifications (physician, MAH, then SA) and their three results
    parties = {p for (p,) in _rows(app, select(NotificationRow.party).where(NotificationRow.case_id == case_id))}
    assert parties == {"treating_physician", "mah", "supervisory_authority"}
    waiting = count(app, select(func.count()).select_from(TaskRow).where(TaskRow.case_id == case_id,
                                                                          TaskRow.state == "waiting"))
    assert waiting == 0


def _rows(app: Oospath, query: object) -> list:
    with app.uow() as uow:
        return list(uow.session.execute(query))  # type: ignore[call-overload]


def test_a_message_is_redelivered_when_its_consumer_dies_before_acking(app: Oospath, broker) -> None:  # type: ignore[no-untyped-def]
    sent = Message(str(uuid.uuid4()), "work.notify", {"probe": True})
    broker.publish_batch([sent])
    dying_consumer = textwrap.dedent(f"""
        import os, signal
        from workers.transport.rabbitmq import RabbitMqTransport
        from workers.transport.topology import Topology
        t = RabbitMqTransport({AMQP_URL!r}, topology=Topology({broker.topology.namespace!r}), queue_type="classic")
        t.consume("notifications", lambda m: os.kill(os.getpid(), signal.SIGKILL), idle_timeout=5)
    """)
    died = subprocess.run([sys.executable, "-c", dying_consumer], capture_output=True, timeout=60)
    assert died.returncode == -9, died.stderr.decode()
    received: list[Message] = []
    broker.consume("notifications", received.append, idle_timeout=1.0)
    assert [m.message_id for m in received] == [sent.message_id]


def test_undeliverable_notification_is_dead_lettered_as_an_incident_and_can_be_retried(app: Oospath, broker) -> None:  # type: ignore[no-untyped-def]
    case_id = open_case(app)
    relay_pending(app, broker)
    broken = NotificationWorker(app, broker, channel=SmtpChannel("smtp://127.0.0.1:9", timeout=1))
    broker.consume("notifications", broken.handle, idle_timeout=0.5)
    with app.uow() as uow:
        opened = incidents.list_incidents(uow.session, case_id=case_id, status="open")
    assert len(opened) == 2 and all(i.attempts == 3 for i in opened)  # physician and MAH
    assert all("ConnectionRefusedError" in i.error for i in opened)
    assert len(broker.dead_letters()) == 2
    with app.uow() as uow:
        for incident in opened:
            incidents.retry_incident(uow.session, app.clock.now(), incident.id, QA)
        uow.commit()
    handlers = consumers(app, broker)
    while relay_pending(app, broker):
        broker.consume("notifications", handlers["notifications"], idle_timeout=0.3)
        broker.consume("results", handlers["results"], idle_timeout=0.3)
    # the retried two were delivered, and the SA notification that followed the MAH's too
    assert count(app, select(func.count()).select_from(NotificationRow).where(NotificationRow.case_id == case_id)) == 3
    assert count(app, select(func.count()).select_from(Incident).where(Incident.status == "retried")) == 2


def test_a_result_for_an_unknown_task_is_acknowledged_and_logged_not_a_crash(app: Oospath, broker) -> None:  # type: ignore[no-untyped-def]
    unknown = {"message_id": str(uuid.uuid4()), "instance_id": "no-such-instance", "task_id": "no-such-task",
               "result": {"delivered": True}}
    broker.publish_batch([Message(unknown["message_id"], "results", unknown)])
    assert broker.consume("results", ResultConsumer(app).handle, idle_timeout=0.5) == 1
    assert broker.dead_letters() == []
    assert broker.consume("results", ResultConsumer(app).handle, idle_timeout=0.3) == 0  # acked: gone
    assert count(app, select(func.count()).select_from(Incident)) == 0


def test_an_inbound_lims_result_that_fails_its_schema_is_dead_lettered_with_the_error(app: Oospath, broker) -> None:  # type: ignore[no-untyped-def]
    bad = {"message_id": str(uuid.uuid4()), "version": 1, "batch": {"batch_id": "X-1"}}
    broker.publish_batch([Message(bad["message_id"], "inbound.batch_results", bad)])
    broker.consume("inbound", consumers(app, broker)["inbound"], idle_timeout=0.5)
    (dead,) = broker.dead_letters()
    assert "'product_code' is a required property" in dead.error
    assert json.dumps(dead.message.body) == json.dumps(bad)
