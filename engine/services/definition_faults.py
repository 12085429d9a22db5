"""Faults of a process definition met while running it: an expression stopped by its budget, a value
that cannot be stored, a construct refused at run time.

They are not errors in the request's data, so besides refusing the step (nothing of it is saved) they
open an incident on the instance (or, when the instance never started, on the process), naming the
element and the reason, committed on its own. The API keeps answering: the budget
(:mod:`engine.bpmn.expression_budget`) stops the expression long before it could hold the server.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import object_session

from engine.bpmn.expression_budget import BudgetExceeded
from engine.bpmn.safe_expressions import UnsafeExpressionError
from engine.bpmn.storable import NotStorable
from engine.services import incidents
from engine.services.errors import InvalidData
from engine.store.models import ProcessInstance

if TYPE_CHECKING:
    from engine.services.runtime import LoadedInstance

log = logging.getLogger(__name__)


class ExpressionStopped(InvalidData):
    """An expression of the process definition was stopped by its budget or produced a value that cannot be
    stored: the diagram must be corrected. ``element_id`` and ``incident_id`` go into the problem."""

    title = "Process expression stopped"


def definition_fault(exc: BaseException) -> str | None:
    """The reason, when ``exc`` comes from an expression budget, a non-storable value or a refused construct."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, BudgetExceeded | NotStorable | UnsafeExpressionError):
            return error.reason
        pending.extend([error.__cause__, error.__context__])
    return None


def open_expression_incident(loaded: LoadedInstance, element: str, reason: str) -> str:
    """Roll the step back, then commit an incident on the instance (on the process, if it never started)."""
    session = object_session(loaded.row)
    assert session is not None
    instance_id, case_id = loaded.row.id, loaded.row.case_id
    process = f"{loaded.definition.key} v{loaded.definition.version}"
    session.rollback()
    started = session.get(ProcessInstance, instance_id) is not None
    at = loaded.clock.now() if loaded.clock is not None else datetime.now(UTC)
    incident = incidents.record_expression_incident(
        session, at, instance_id=instance_id if started else None, case_id=case_id if started else None,
        process=process, element_id=element, reason=reason)
    incident_id = incident.id
    session.commit()
    log.warning("instance %s: %s stopped at element %s: %s", instance_id, process, element, reason)
    return incident_id
