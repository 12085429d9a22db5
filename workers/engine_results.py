"""The engine's result consumer: worker results complete their waiting service tasks."""

from __future__ import annotations

from engine.bootstrap import Oospath
from engine.services.work import apply_work_result
from workers.transport.base import Message


class ResultConsumer:
    kind = "results"

    def __init__(self, app: Oospath) -> None:
        self.app = app

    def handle(self, message: Message) -> None:
        with self.app.uow() as uow:
            apply_work_result(uow.session, self.app.runtime, message.body)
            uow.commit()
