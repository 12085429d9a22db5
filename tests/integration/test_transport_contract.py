"""One contract, every transport: the in-process default and RabbitMQ (classic and quorum queues).

# REQ: OOS-13 (a lost notification is a missed legal deadline: nothing may be lost or doubled)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import TRANSPORTS, rabbitmq_transport
from workers.transport.base import DeadLetter, Message, PublishError, RejectMessage, Transport
from workers.transport.inprocess import InProcessTransport
from workers.transport.topology import ATTEMPTS_HEADER, RetryPolicy

RETRY = RetryPolicy(max_attempts=3, delay_ms=50)


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Iterator[tuple[Transport, list[DeadLetter]]]:
    dead: list[DeadLetter] = []
    if request.param == "inprocess":
        chosen: Transport = InProcessTransport(RETRY, on_dead_letter=dead.append)
        chosen.declare()
    else:
        chosen = rabbitmq_transport(request.param.removeprefix("rabbitmq-"), retry=RETRY,  # type: ignore[assignment]
                                    on_dead_letter=dead.append)
    yield chosen, dead
    chosen.close()


def message(routing_key: str, **body: object) -> Message:
    message_id = str(uuid.uuid4())
    return Message(message_id, routing_key, {"message_id": message_id, **body})


def drain(transport: Transport, kind: str, handler: object) -> int:
    return transport.consume(kind, handler, idle_timeout=0.5)  # type: ignore[arg-type]


def test_published_messages_arrive_in_order_with_id_and_body(transport: tuple[Transport, list]) -> None:
    chosen, _ = transport
    sent = [message("work.notify", index=i) for i in range(50)]
    chosen.publish_batch(sent)
    received: list[Message] = []
    assert drain(chosen, "notifications", received.append) == 50
    assert [m.message_id for m in received] == [m.message_id for m in sent]
    assert received[7].body == {"message_id": sent[7].message_id, "index": 7}
    assert received[7].routing_key == "work.notify"


def test_topic_bindings_route_each_kind_to_its_own_queue(transport: tuple[Transport, list]) -> None:
    chosen, _ = transport
    chosen.publish_batch([message("inbound.batch_results"), message("work.capture_record"), message("results")])
    kinds = {kind: [] for kind in ("inbound", "records", "results", "notifications")}
    for kind, seen in kinds.items():
        drain(chosen, kind, seen.append)
    assert {kind: [m.routing_key for m in seen] for kind, seen in kinds.items()} == {
        "inbound": ["inbound.batch_results"], "records": ["work.capture_record"], "results": ["results"],
        "notifications": []}


def test_unroutable_work_is_refused_but_events_need_no_subscriber(transport: tuple[Transport, list]) -> None:
    chosen, _ = transport
    with pytest.raises(PublishError, match=r"work\.unknown_operation"):
        chosen.publish_batch([message("work.unknown_operation")])
    chosen.publish_batch([message("event.case.opened", case_id="c1")])


def test_a_failing_message_is_retried_then_dead_lettered_with_its_error(transport: tuple[Transport, list]) -> None:
    chosen, dead = transport
    poison = message("work.notify", party="nobody")
    attempts: list[int] = []

    def fail(m: Message) -> None:
        attempts.append(int(m.headers.get(ATTEMPTS_HEADER, 1)))
        raise ValueError("recipient address unknown")

    chosen.publish_batch([poison])
    drain(chosen, "notifications", fail)
    assert attempts == [1, 2, 3]
    assert len(dead) == 1 and dead[0].message.message_id == poison.message_id
    assert dead[0].error == "ValueError: recipient address unknown" and dead[0].attempts == 3
    assert [d.message.message_id for d in chosen.dead_letters()] == [poison.message_id]
    assert "recipient address unknown" in chosen.dead_letters()[0].error


def test_a_rejected_message_is_dead_lettered_at_once(transport: tuple[Transport, list]) -> None:
    chosen, dead = transport
    calls: list[Message] = []

    def reject(m: Message) -> None:
        calls.append(m)
        raise RejectMessage("inbound.batch_results v1 schema: batch: 'batch_id' is a required property")

    chosen.publish_batch([message("inbound.batch_results")])
    drain(chosen, "inbound", reject)
    assert len(calls) == 1 and len(dead) == 1
    assert "required property" in dead[0].error


def test_a_transient_failure_is_retried_and_then_handled_once(transport: tuple[Transport, list]) -> None:
    chosen, dead = transport
    seen: list[str] = []

    def flaky(m: Message) -> None:
        seen.append(m.message_id)
        if len(seen) == 1:
            raise ConnectionError("SMTP server busy")

    sent = message("work.notify")
    chosen.publish_batch([sent])
    drain(chosen, "notifications", flaky)
    assert seen == [sent.message_id, sent.message_id] and dead == []
