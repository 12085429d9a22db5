"""Generic process instances: start any deployed process by key, list, inspect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import access, definitions
from engine.services.cases import PATHWAY_KEY
from engine.services.errors import RuleViolation
from engine.services.identity import Actor
from engine.services.pages import PageRequest, in_order, keyset
from engine.services.runtime import Runtime, json_clean
from engine.store.models import ProcessDefinition, ProcessInstance, Timer


def start_instance(
    session: Session, runtime: Runtime, key: str, data: dict[str, Any], actor: Actor, version: int | None = None
) -> ProcessInstance:
    if key == PATHWAY_KEY:
        raise RuleViolation("OOS-01", "an OOS case starts from its batch: use POST /api/v1/cases, which checks that "
                                      "the batch is out of specification (OOS-01) and cell/tissue-based (OOS-02)")
    definition = definitions.startable_definition(session, key, version)  # approved only (OOS-24)
    return runtime.start(session, definition, data, actor).row


INSTANCE_ORDER = (ProcessInstance.started_at, ProcessInstance.id)


def list_instances(session: Session, key: str | None = None, status: str | None = None, *,
                   actor: Actor | None = None, page: PageRequest | None = None) -> Any:
    """Instances by key and status, newest first; with ``actor``, only case-less ones and those of cases the
    actor's organisation is party to (OOS-25). A list, or with ``page`` one page of them."""
    query = select(ProcessInstance)
    if key:
        query = query.where(ProcessInstance.process_key == key)
    if status:
        query = query.where(ProcessInstance.status == status)
    if actor is not None and not access.unrestricted(actor):
        query = access.only_shared(query, actor, ProcessInstance.case_id)
    if page is not None:
        return keyset(session, query, INSTANCE_ORDER, ("time", "text"), page, descending=True)
    return list(session.scalars(in_order(query, INSTANCE_ORDER, descending=True)))


def definition_of(session: Session, instance: ProcessInstance) -> ProcessDefinition:
    definition = session.get(ProcessDefinition, instance.definition_id)
    assert definition is not None
    return definition


def instance_data(session: Session, runtime: Runtime, instance_id: str) -> dict[str, Any]:
    """The process data as of the last completed task (deserializes: single-instance views only)."""
    with runtime.reading(session, instance_id) as process:
        return json_clean(process.process_data())


def timers_of(session: Session, instance_id: str) -> list[Timer]:
    return list(session.scalars(select(Timer).where(Timer.instance_id == instance_id).order_by(Timer.due_at)))
