"""The API's embedded relay after a write: it relays what the write added at once, skips the outbox query
when the process added nothing, and still relays rows another process left (issue 10: cheap steps).

# REQ: OOS-13
"""

from __future__ import annotations

from sqlalchemy import event, func, insert, select

from engine.bootstrap import Oospath
from engine.services import events
from engine.store.models import OutboxMessage
from workers import embedded
from workers.embedded import EmbeddedMessaging


def unpublished(app: Oospath) -> int:
    with app.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.published_at.is_(None))) or 0


def statements_during(app: Oospath, run) -> int:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def note(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(app.db, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(app.db, "before_cursor_execute", note)
    return len(seen)


def test_a_write_that_adds_a_message_is_relayed_at_once_and_one_that_adds_none_costs_no_query(
        app: Oospath) -> None:
    messaging = EmbeddedMessaging(app)
    messaging.pump_after_write()  # the first write after start looks once, whatever this process did
    with app.uow() as uow:
        events.publish_event(uow.session, app.clock.now(), "case.opened", {"case_id": None})
        uow.commit()
    assert unpublished(app) == 1
    messaging.pump_after_write()
    assert unpublished(app) == 0, "the message the write added left with that write"
    assert statements_during(app, messaging.pump_after_write) == 0, "nothing added: no outbox query"


def test_rows_another_process_left_are_relayed_after_the_recheck_interval(app: Oospath, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    messaging = EmbeddedMessaging(app)
    messaging.pump_after_write()
    with app.db.begin() as connection:  # as another process would: not through this process's session
        connection.execute(insert(OutboxMessage).values(
            message_id="left-by-another-process", routing_key="event.case.opened", body={"case_id": None},
            created_at=app.clock.now()))
    messaging.pump_after_write()
    assert unpublished(app) == 1, "within the recheck interval this process does not look"
    monkeypatch.setattr(embedded, "RECHECK_SECONDS", 0.0)
    messaging.pump_after_write()
    assert unpublished(app) == 0
