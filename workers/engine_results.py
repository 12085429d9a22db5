"""The engine's result consumer: worker results complete their waiting service tasks."""

from __future__ import annotations

from engine.bootstrap import Oospath
from engine.services.errors import Conflict
from engine.services.work import apply_work_result
from workers.transport.base import Message

CONFLICT_ATTEMPTS = 3


class ResultConsumer:
    kind = "results"

    def __init__(self, app: Oospath) -> None:
        self.app = app

    def handle(self, message: Message) -> None:
        """Apply a result; a concurrent change of the same instance (optimistic lock) is retried here a few
        times before the message goes back to the broker's retry path."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                with self.app.uow() as uow:
                    apply_work_result(uow.session, self.app.runtime, message.body)
                    uow.commit()
                return
            except Conflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
