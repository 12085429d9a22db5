"""The ``periodic_review`` process: starting it for a product and ended period, and its runs (OOS-20, OOS-22).

:func:`start_review` is the start for a period given: the manual start (API,
CLI) and each start of the six-monthly timer
(:func:`engine.services.periodic_review.start_due_reviews`). The process's start
event is a timer on the period's end, fired at once because the period has ended.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.domain import pathway_elements as pe
from engine.domain.trends import Period
from engine.services import audit, definitions
from engine.services.audit import AuditEvent
from engine.services.catalog import get_product
from engine.services.errors import Conflict, InvalidData
from engine.services.identity import Actor
from engine.services.runtime import Runtime
from engine.services.timers import fire_timer
from engine.store.models import ProcessInstance, ProductRow, Timer
from engine.store.review_models import PeriodicReviewRow

PROCESS_KEY = pe.PERIODIC_REVIEW


def start_review(session: Session, runtime: Runtime, product_code: str, period: Period, actor: Actor,
                 trigger: str = "manual") -> PeriodicReviewRow:
    """Start ``periodic_review`` for one product and ended period (OOS-20); 409 while one is running for it."""
    product = get_product(session, product_code)
    now = runtime.clock.now()
    if period.end > now:
        raise InvalidData(f"OOS-20: the period {period.label} has not ended yet (it ends {period.end.isoformat()})")
    running = session.scalar(select(PeriodicReviewRow.id).join(
        ProcessInstance, ProcessInstance.id == PeriodicReviewRow.instance_id).where(
        PeriodicReviewRow.product_code == product_code, PeriodicReviewRow.period_start == period.start,
        PeriodicReviewRow.period_end == period.end, ProcessInstance.status == "running"))
    if running is not None:
        raise Conflict(f"a periodic review of {product_code} for {period.label} is already running ({running})")
    data = {"product_code": product_code, "product_name": product.name, "period_start": period.start.isoformat(),
            "period_end": period.end.isoformat(), "period_label": period.label, "review_trigger": trigger}
    definition = definitions.get_definition(session, PROCESS_KEY)
    loaded = runtime.start(session, definition, data, actor)
    session.flush()
    # The start event waits for the period's end; it has passed by oospath's clock, so it fires now.
    for timer_id in session.scalars(select(Timer.id).where(Timer.instance_id == loaded.row.id,
                                                           Timer.status == "waiting", Timer.due_at <= now)):
        fire_timer(session, runtime, timer_id)
    row = PeriodicReviewRow(id=str(uuid.uuid4()), product_code=product_code, period_start=period.start,
                            period_end=period.end, instance_id=loaded.row.id, trigger=trigger, started_at=now,
                            started_by=actor.user)
    session.add(row)
    audit.append(session, now, actor, AuditEvent(
        "periodic_review.started", instance_id=loaded.row.id,
        data_after={"review_id": row.id, "product_code": product_code, "period": period.label, "trigger": trigger,
                    "requirement": "OOS-20"}))
    session.flush()
    return row


def reviewed_products(session: Session) -> list[str]:
    """Products the MAH reviews: authorised and cell/tissue-based (the pathway's scope, OOS-02, OOS-20)."""
    return list(session.scalars(select(ProductRow.code).where(ProductRow.kind == "authorised",
                                                              ProductRow.cell_tissue_based.is_(True))
                                .order_by(ProductRow.code)))


def list_reviews(session: Session, product_code: str | None = None) -> list[tuple[PeriodicReviewRow, str]]:
    """Reviews, newest first, with their instance's status."""
    query = (select(PeriodicReviewRow, ProcessInstance.status)
             .join(ProcessInstance, ProcessInstance.id == PeriodicReviewRow.instance_id)
             .order_by(PeriodicReviewRow.started_at.desc(), PeriodicReviewRow.id))
    if product_code:
        query = query.where(PeriodicReviewRow.product_code == product_code)
    return [(row, status) for row, status in session.execute(query)]


__all__ = ["PROCESS_KEY", "list_reviews", "reviewed_products", "start_review"]
