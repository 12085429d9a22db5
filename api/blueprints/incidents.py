"""/api/v1/incidents: messages dead-lettered after their retries; list and retry (re-publish)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api.access import current_actor
from api.app import container
from api.declarations import Param, declare, roles
from api.paging import PAGE_QUERY, page_body, page_request
from api.views import iso
from engine.services import incidents
from engine.store.models import Incident

bp = Blueprint("incidents", __name__, url_prefix="/api/v1/incidents")


def incident_view(i: Incident) -> dict[str, Any]:
    return {"id": i.id, "case_id": i.case_id, "queue": i.queue, "message_id": i.message_id,
            "routing_key": i.routing_key, "error": i.error, "attempts": i.attempts, "status": i.status,
            "created_at": iso(i.created_at), "retried_at": iso(i.retried_at), "retried_by": i.retried_by,
            "body": i.body, "links": {"retry": f"/api/v1/incidents/{i.id}/retry"}}


@bp.get("")
@declare("listIncidents", "incidents", "Dead-lettered messages, one page at a time", policy=roles("qa", "auditor"),
         ok={"200": ("Incidents, newest first (of cases the caller's organisation is party to)", "IncidentList")},
         query={"case_id": Param("only this case's incidents"),
                "status": Param("open or retried", {"enum": ["open", "retried"]}), **PAGE_QUERY})
def list_incidents() -> dict[str, Any]:
    actor = current_actor()
    with container().uow() as uow:
        found = incidents.list_incidents(uow.session, request.args.get("case_id"), request.args.get("status"),
                                         actor=actor, page=page_request())
        return page_body(found, incident_view)


@bp.post("/<incident_id>/retry")
@declare("retryIncident", "incidents", "Re-publish a dead-lettered message", policy=roles("qa"),
         ok={"200": ("Re-published through the outbox under a new message id", "Incident")}, errors=("404", "409"),
         path={"incident_id": Param("incident id")})
def retry(incident_id: str) -> dict[str, Any]:
    app, actor = container(), current_actor()
    with app.uow() as uow:
        incident = incidents.retry_incident(uow.session, app.clock.now(), incident_id, actor)
        uow.commit()
        return incident_view(incident)
