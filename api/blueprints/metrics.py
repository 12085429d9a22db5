"""/metrics: the operational figures in the Prometheus text format (counts only, no case data).

Prometheus scrapes without an interactive login: the route accepts the configured scrape token
(``OOSPATH_METRICS_TOKEN``) as its bearer token, or the token of a user holding ``admin`` or
``auditor`` (least privilege, OOS-25). See :mod:`engine.services.metrics` for the figures.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app
from prometheus_client import CollectorRegistry, generate_latest

from api.app import container
from api.declarations import Policy, declare
from engine.services.metrics import scrape_registry

bp = Blueprint("metrics", __name__)
METRICS_POLICY = Policy(frozenset({"admin", "auditor"}), service_token="metrics_token")
REGISTRY = "oospath.metrics"
#: The Prometheus text exposition format every Prometheus version reads (the names used need no escaping).
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def _registry(app: Flask) -> CollectorRegistry:
    """Built once per application (the instruments of its container), never the global registry."""
    registry = app.extensions.get(REGISTRY)
    if registry is None:
        registry = app.extensions[REGISTRY] = scrape_registry(container())
    return registry


@bp.get("/metrics")
@declare("metrics", "operations", "Operational figures for Prometheus", policy=METRICS_POLICY,
         ok={"200": ("Prometheus text exposition format 0.0.4", {"type": "string"})}, media_type="text/plain",
         description="Open cases by state, open tasks by role, deadlines escalated and missed (OOS-13), outbox "
                     "backlog, incidents, step latency, message retries and dead letters. Counts only, every "
                     "label from a fixed set. Bearer token: the configured scrape token (OOSPATH_METRICS_TOKEN) "
                     "or a user's token with role admin or auditor (OOS-25).")
def metrics() -> Response:
    return Response(generate_latest(_registry(current_app)), content_type=TEXT_FORMAT)
