"""Small request helpers shared by the blueprints."""

from __future__ import annotations

from typing import Any

from flask import request

from api.errors import BadRequest
from engine.services.validation import validate_against


def json_body(schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object of the request, validated against ``schema`` (422 with per-field errors)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object (Content-Type: application/json)")
    validate_against(schema, data, f"the {schema.get('title', 'request')} schema" if schema else None)
    return data


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
