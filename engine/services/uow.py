"""Unit of work: one database transaction per use case (cosmicpython, chapter 6).

Everything a step produces (instance state, task projection, timers, outbox
messages, audit rows) is written in the same transaction, so nothing half-written
stays in the database. A lost optimistic-lock race becomes :class:`Conflict`.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine.services.errors import Conflict
from engine.services.runtime import CONCURRENT_CHANGE


class UnitOfWork:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._sessions()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # close() rolls back anything uncommitted; unlike rollback() it leaves loaded rows readable.
        self.session.close()

    def commit(self) -> None:
        try:
            self.session.commit()
        except StaleDataError as exc:
            self.session.rollback()
            raise Conflict(CONCURRENT_CHANGE) from exc
