"""/api/v1/openapi.json: the OpenAPI 3.1 description of this API (no identity needed)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from api.openapi_document import build_document

bp = Blueprint("openapi", __name__)


@bp.get("/api/v1/openapi.json")
def openapi_json() -> dict[str, Any]:
    return build_document()
