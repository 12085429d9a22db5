"""/api/v1/openapi.json: the OpenAPI 3.1 description of this API, generated from the route declarations."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from api.declarations import PUBLIC, declare
from api.openapi import build_document

bp = Blueprint("openapi", __name__)


@bp.get("/api/v1/openapi.json")
@declare("openapi", "operations", "This OpenAPI 3.1 document", policy=PUBLIC,
         ok={"200": ("The document", {"type": "object"})})
def openapi_json() -> dict[str, Any]:
    return build_document(current_app)
