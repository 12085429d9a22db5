"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from api.app import container
from api.declarations import PUBLIC, declare

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@declare("health", "operations", "Liveness and database readiness", policy=PUBLIC,
         ok={"200": ("Healthy", "Health")})
def healthz() -> dict[str, str]:
    with container().uow() as uow:
        uow.session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}
