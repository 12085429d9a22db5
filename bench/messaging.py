"""Messages per second through the local RabbitMQ: raw pika vs oospath's relay vs the whole pipeline.

(a) raw pika: one BlockingConnection, ``confirm_delivery()``, N persistent messages published one by
    one (each waits for its confirm), then consumed with manual acks;
(b) oospath's relay: N outbox rows committed in one transaction, published by
    ``workers.relay.relay_pending`` with the RabbitMQ transport (one confirm round trip per batch
    of 500), then consumed and acked with ``transport.consume``;
(c) the whole pipeline: K OOS cases opened, their notification work messages go outbox -> relay ->
    broker -> NotificationWorker (file channel) -> result -> ResultConsumer -> task completed.
    Single process, one consumer of each kind, run one after the other (no parallelism).

Everything runs in the AMQP namespace ``oospath-bench`` (purged before and after) on a SQLite file in
a temporary directory, or on ``--database-url`` (a database of your own: rows are added, nothing is
dropped). Prints figures and ratios; never asserts timings.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
from sqlalchemy import func, select

from engine.bootstrap import Oospath, bootstrap
from engine.clock import FrozenClock
from engine.domain import catalogue
from engine.services import cases, catalog
from engine.services.identity import Actor
from engine.settings import Settings
from engine.store.models import OutboxMessage, TaskRow
from oospath.demo import ADMIN, deploy_processes, seed_catalogue
from oospath.scenarios import EXCEPTIONAL_USE_REASON, PERSONAS
from workers.channels import FileOutboxChannel
from workers.engine_results import ResultConsumer
from workers.notifications import NotificationWorker
from workers.relay import relay_pending
from workers.transport.base import RESULTS, Message
from workers.transport.rabbitmq import RabbitMqTransport, amqp_url
from workers.transport.topology import Topology

NAMESPACE = "oospath-bench"
WORK_KEY = "work.notify"
PREFETCH = 20  # the transport's default (OOSPATH_AMQP_PREFETCH); the raw loop uses the same window


def work_body(number: int) -> dict[str, Any]:
    """A notification work message of realistic size (~1 KB of JSON), as the engine writes them."""
    message_id = str(uuid.uuid4())
    return {
        "message_id": message_id, "instance_id": str(uuid.uuid4()), "task_id": str(uuid.uuid4()),
        "element_id": "inform_treating_physician", "element_name": "Inform the treating physician",
        "case_id": str(uuid.uuid4()), "batch_id": f"BENCH-{number:06d}", "operation": "notify",
        "params": {"party": "treating_physician", "subject": "OOS batch: information of the treating physician",
                   "requirement": "OOS-04"},
        "context": {"case_reference": f"OOS-2026-{number:06d}", "product_code": catalogue.CART19_AUTH,
                    "product_kind": "authorised", "treating_country": "FR", "imported": True,
                    "oos_findings": [{"attribute": "viability", "measured": "74.0 %", "limit": "≥ 80 %"}],
                    "exceptional_use_reason": EXCEPTIONAL_USE_REASON},
        "requested_at": datetime.now(UTC).isoformat(),
    }


@dataclass
class Figures:
    messages: int
    publish_s: float
    consume_s: float

    @property
    def total_s(self) -> float:
        return self.publish_s + self.consume_s

    def rate(self, seconds: float) -> float:
        return self.messages / seconds if seconds > 0 else float("inf")


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = action()
    return value, time.perf_counter() - started


# ---- (a) raw pika ---------------------------------------------------------------------------------
def raw_pika(url: str, topology: Topology, bodies: list[dict[str, Any]]) -> Figures:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        queue = topology.queue("notifications")

        def publish() -> None:
            for body in bodies:  # each basic_publish returns only when the broker confirmed it
                channel.basic_publish(topology.exchange, WORK_KEY, json.dumps(body, separators=(",", ":")).encode(),
                                      pika.BasicProperties(message_id=body["message_id"], delivery_mode=2,
                                                           content_type="application/json", type=WORK_KEY),
                                      mandatory=True)

        def consume() -> int:
            channel.basic_qos(prefetch_count=PREFETCH)
            received = 0
            for method, _props, body in channel.consume(queue, inactivity_timeout=5.0):
                if method is None:
                    break
                json.loads(body)
                channel.basic_ack(method.delivery_tag)
                received += 1
                if received == len(bodies):
                    break
            channel.cancel()
            return received

        _, publish_s = timed(publish)
        received, consume_s = timed(consume)
        if received != len(bodies):
            print(f"  (raw pika consumed {received} of {len(bodies)} messages)")
        return Figures(received, publish_s, consume_s)
    finally:
        connection.close()


# ---- (b) the relay --------------------------------------------------------------------------------
def relay_run(app: Oospath, transport: RabbitMqTransport, bodies: list[dict[str, Any]]) -> tuple[Figures, float]:
    now = app.clock.now()
    with app.uow() as uow:  # what Runtime._dispatch_work writes: one outbox row per work request
        uow.session.add_all([OutboxMessage(message_id=b["message_id"], routing_key=WORK_KEY, body=b, created_at=now)
                             for b in bodies])
        uow.commit()

    def relay_all() -> int:
        published = 0
        while batch := relay_pending(app, transport):
            published += batch
        return published

    published, publish_s = timed(relay_all)
    consumed, consume_s = timed(lambda: transport.consume("notifications", lambda _m: None, idle_timeout=5.0,
                                                          max_messages=published))
    if consumed != len(bodies):
        print(f"  (relay: published {published}, consumed {consumed} of {len(bodies)} messages)")
    # The transport's batched confirms alone, without the database (same batch size as the relay).
    messages = [Message(b["message_id"], WORK_KEY, b) for b in bodies]
    _, batch_only_s = timed(lambda: [transport.publish_batch(messages[i:i + 500])
                                     for i in range(0, len(messages), 500)])
    transport.consume("notifications", lambda _m: None, idle_timeout=5.0, max_messages=len(messages))
    return Figures(consumed, publish_s, consume_s), batch_only_s


# ---- (c) the whole pipeline -----------------------------------------------------------------------
RUN = uuid.uuid4().hex[:6].upper()
BATCH_NUMBERS = itertools.count(1)


def open_cases(app: Oospath, count: int) -> list[str]:
    """K cases, each on its own copy of the viability-OOS batch (as bench/engine.py does)."""
    opener = PERSONAS["qa"]
    case_ids = []
    for _ in range(count):
        batch = replace(catalogue.sample_batch(catalogue.BATCH_VIABILITY_OOS),
                        batch_id=f"MSG-{RUN}-{next(BATCH_NUMBERS):05d}")
        with app.uow() as uow:
            catalog.register_batch(uow.session, app.clock, batch, ADMIN)
            case = cases.open_case(uow.session, app.runtime, batch.batch_id, EXCEPTIONAL_USE_REASON,
                                   Actor(opener.user, frozenset({opener.role})))
            uow.commit()
            case_ids.append(case.id)
    return case_ids


def unpublished_work(app: Oospath) -> int:
    with app.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.published_at.is_(None), OutboxMessage.routing_key.like("work.%"))) or 0


def pipeline(
    app: Oospath, transport: RabbitMqTransport, mail: Path, case_ids: list[str], phases: dict[str, float]
) -> tuple[int, float, int]:
    """Relay, notifications, results, repeated until nothing is waiting; returns (work done, seconds, rounds).

    ``phases`` receives the seconds spent in each consumer and in the relay."""
    worker = NotificationWorker(app, transport, channel=FileOutboxChannel(mail))
    results = ResultConsumer(app)
    completed, rounds = 0, 0
    phases.update(notifications=0.0, results=0.0)
    started = time.perf_counter()
    while True:
        expected = unpublished_work(app)
        while relay_pending(app, transport):
            pass
        if not expected:
            break
        rounds += 1
        # Only notification work exists before the first user task; one result comes back per message.
        handled, seconds = timed(lambda: transport.consume("notifications", worker.handle, idle_timeout=5.0,
                                                           max_messages=expected))  # noqa: B023 - called at once
        phases["notifications"] += seconds
        _, seconds = timed(lambda: transport.consume(RESULTS, results.handle, idle_timeout=5.0,
                                                     max_messages=handled))  # noqa: B023 - called at once
        phases["results"] += seconds
        completed += handled
    elapsed = time.perf_counter() - started
    phases["relay and bookkeeping"] = elapsed - phases["notifications"] - phases["results"]
    with app.uow() as uow:
        waiting = uow.session.scalar(select(func.count()).select_from(TaskRow).where(
            TaskRow.case_id.in_(case_ids), TaskRow.kind == "service", TaskRow.state != "completed")) or 0
        done = uow.session.scalar(select(func.count()).select_from(TaskRow).where(
            TaskRow.case_id.in_(case_ids), TaskRow.kind == "service", TaskRow.state == "completed")) or 0
    if waiting or done != completed:
        print(f"  (pipeline: {done} service tasks completed, {waiting} not completed, {completed} handled)")
    return done, elapsed, rounds


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench messaging")
    parser.add_argument("--messages", type=int, default=5000, help="messages for (a) and (b)")
    parser.add_argument("--cases", type=int, default=50, help="OOS cases for (c)")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL of a database of your own (default: SQLite in a temporary directory)")
    parser.add_argument("--amqp-url", default=None, help="default: OOSPATH_AMQP_URL or the local broker")
    args = parser.parse_args(argv)
    url = args.amqp_url or amqp_url()
    topology = Topology(NAMESPACE)
    bodies = [work_body(n) for n in range(args.messages)]

    with tempfile.TemporaryDirectory(prefix="oospath-bench-messaging-") as directory:
        var = Path(directory)
        database_url = args.database_url or f"sqlite:///{var / 'bench.db'}"
        settings = Settings(var_dir=var, database_url=database_url, smtp_url=None, mail_outbox=var / "mail")
        app = bootstrap(settings, FrozenClock())
        deploy_processes(app)
        seed_catalogue(app)
        transport = RabbitMqTransport(url, topology=topology, queue_type="classic", prefetch=PREFETCH)
        transport.declare()
        transport.purge()
        try:
            raw = raw_pika(url, topology, bodies)
            relay, batch_only_s = relay_run(app, transport, [work_body(n) for n in range(args.messages)])
            case_ids, opening_s = timed(lambda: open_cases(app, args.cases))
            phases: dict[str, float] = {}
            work, pipeline_s, rounds = pipeline(app, transport, var / "mail", case_ids, phases)
        finally:
            transport.purge()
            transport.close()
            app.db.dispose()

    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    pipe_rate = work / pipeline_s if pipeline_s > 0 else float("inf")
    print(f"messaging through RabbitMQ at {pika.URLParameters(url).host}:{pika.URLParameters(url).port} "
          f"(namespace {NAMESPACE}, classic durable queues, persistent messages, prefetch {PREFETCH}); "
          f"database: {backend}")
    print(f"(a) raw pika, {raw.messages} messages, confirm per message, manual acks")
    print(f"    publish (confirm each)               : {raw.rate(raw.publish_s):9.0f} msg/s")
    print(f"    consume + ack                        : {raw.rate(raw.consume_s):9.0f} msg/s")
    print(f"    publish + consume                    : {raw.rate(raw.total_s):9.0f} msg/s")
    print(f"(b) oospath relay, {relay.messages} outbox rows, batches of 500 with batched confirms")
    print(f"    relay publish (select, publish, mark): {relay.rate(relay.publish_s):9.0f} msg/s")
    print(f"    transport.publish_batch alone (no DB): {len(bodies) / batch_only_s:9.0f} msg/s")
    print(f"    transport.consume + ack              : {relay.rate(relay.consume_s):9.0f} msg/s")
    print(f"    relay publish + consume              : {relay.rate(relay.total_s):9.0f} msg/s")
    print(f"(c) whole pipeline, {args.cases} authorised cases, {work} notification work messages in {rounds} round(s)")
    print("    outbox -> relay -> broker -> NotificationWorker (file channel) -> result -> ResultConsumer -> task")
    print("    completed; single process, one consumer of each kind, sequential")
    print(f"    work messages completed end to end   : {pipe_rate:9.1f} msg/s  ({pipeline_s * 1000 / max(work, 1):.1f} "
          "ms each)")
    for phase, seconds in phases.items():
        print(f"      {phase:35s}: {seconds * 1000 / max(work, 1):9.2f} ms per work message")
    print(f"    (opening a case, not timed above     : {opening_s * 1000 / max(args.cases, 1):9.1f} ms/case)")
    print("ratios")
    print(f"    relay publish / raw pika publish     : {relay.rate(relay.publish_s) / raw.rate(raw.publish_s):9.1f} x")
    print(f"    relay publish+consume / raw          : {relay.rate(relay.total_s) / raw.rate(raw.total_s):9.1f} x")
    print(f"    pipeline / raw pika publish+consume  : {pipe_rate / raw.rate(raw.total_s):9.3f} x")
    print(f"    pipeline / relay publish+consume     : {pipe_rate / relay.rate(relay.total_s):9.3f} x")
