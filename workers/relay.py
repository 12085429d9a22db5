"""The outbox relay: publishes committed outbox rows, then marks them sent.

At-least-once: a crash between the broker's confirmation and the commit republishes
the batch; consumers are idempotent by message id. Rows are locked with SKIP LOCKED
on PostgreSQL so several relays can run. The transport declares the exchanges and
queues before its first publish, so a relay started on a fresh broker does not depend
on a worker having declared them.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import select

from engine.bootstrap import Oospath
from engine.store.models import OutboxMessage
from workers.transport.base import Message, PublishError, Transport

log = logging.getLogger(__name__)


def relay_pending(app: Oospath, transport: Transport, batch_size: int = 500) -> int:
    with app.uow() as uow:
        rows = list(uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.published_at.is_(None))
            .order_by(OutboxMessage.id).limit(batch_size).with_for_update(skip_locked=True)
        ))
        if not rows:
            return 0
        transport.publish_batch([Message(r.message_id, r.routing_key, r.body) for r in rows])
        now = app.clock.now()
        for row in rows:
            row.published_at = now
        uow.commit()
        return len(rows)


def run_relay(app: Oospath, transport: Transport, interval: float) -> None:
    """The relay process: publish, and back off (up to 30 s) while the broker refuses or is away."""
    backoff = interval
    while True:
        try:
            published = relay_pending(app, transport)
            backoff = interval
        except PublishError as exc:
            log.warning("publishing failed (%s); retrying in %.1f s", exc, backoff)
            published = 0
            backoff = min(max(backoff * 2, 0.5), 30.0)
        if not published:
            time.sleep(backoff)
