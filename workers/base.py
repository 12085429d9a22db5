"""What every worker does around its own effect: idempotence, commit, then report back.

The effect and the processed-message id are committed together; the result goes back
to the engine only after that commit. A redelivered message (the worker died before
acking) is recognised and its recorded result is reported again, never performed twice.
"""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy.orm import Session

from engine.bootstrap import Oospath
from engine.services.identity import Actor
from engine.services.inbox import already_processed, mark_processed
from workers.transport.base import RESULTS, Message, Transport

log = logging.getLogger(__name__)


class Worker(ABC):
    kind: str  # notifications | records | reporting: the queue of workers/transport/topology.py

    def __init__(self, app: Oospath, transport: Transport) -> None:
        self.app = app
        self.transport = transport
        self.actor = Actor(f"worker:{self.kind}", frozenset({"system"}))

    def handle(self, message: Message) -> None:
        work = message.body
        with self.app.uow() as uow:
            if already_processed(uow.session, self.kind, message.message_id):
                result = self.previous_result(uow.session, work)
            else:
                result = self.perform(uow.session, work)
                mark_processed(uow.session, self.kind, message.message_id, self.app.clock.now())
                uow.commit()
        if result is None:
            log.warning("no recorded result for redelivered %s; nothing to report", message.message_id)
            return
        reply_id = str(uuid.uuid4())
        self.transport.publish_batch([Message(reply_id, RESULTS, {
            "message_id": reply_id, "in_reply_to": message.message_id, "worker": self.actor.user,
            "instance_id": work["instance_id"], "task_id": work["task_id"], "case_id": work.get("case_id"),
            "result": result,
        })])

    @abstractmethod
    def perform(self, session: Session, work: dict[str, Any]) -> dict[str, Any]:
        """Do the work and record its evidence in ``session`` (committed by the caller)."""

    @abstractmethod
    def previous_result(self, session: Session, work: dict[str, Any]) -> dict[str, Any] | None:
        """The result recorded when this work was first performed."""
