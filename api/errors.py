"""Every error is application/problem+json (RFC 9457) with a useful ``detail``."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from engine.bpmn.errors import BpmnLoadError
from engine.services.errors import ServiceError

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
            "instance": quote(request.path, safe="/-._~"), **extra}
    return Response(json.dumps(body), status=status, mimetype=PROBLEM)


class BadRequest(ServiceError):
    """Malformed request (not JSON, missing parameter)."""


def _is_refusal(exc: ServiceError) -> bool:
    """Refusals are audited (OOS-24): no identity, no permission, another organisation's resource, or a rule."""
    from engine.services.access import NotShared

    return exc.status in (401, 403, 429) or isinstance(exc, NotShared) or "requirement" in exc.extra


def _is_page() -> bool:
    from api.web.pages import is_page_request

    return is_page_request()


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> Response:
        if _is_refusal(exc):
            from api.access import audit_refusal

            audit_refusal(exc.status, exc.detail, exc.extra.get("requirement"))
        if _is_page():
            from api.web.pages import refusal_page

            return refusal_page(exc.status, exc.title, exc.detail)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        response = problem(exc.status, exc.title, exc.detail, **exc.extra)
        response.headers.update(headers)
        return response

    @app.errorhandler(BpmnLoadError)
    def _bpmn_error(exc: BpmnLoadError) -> Response:
        problems = [{"file": p.file, "line": p.line, "element_id": p.element_id, "reason": p.reason}
                    for p in exc.problems]
        return problem(422, "Invalid process definition", str(exc), problems=problems)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if _is_page():
            from api.web.pages import refusal_page

            return refusal_page(exc.code or 500, exc.name, exc.description or exc.name)
        return problem(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "Internal server error",
                       f"{type(exc).__name__}: the request was not applied; see the server log")
