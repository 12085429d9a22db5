"""/api/v1/openapi.json (placeholder until the document is written)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("openapi", __name__)
