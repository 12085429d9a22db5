"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from api.app import container

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    with container().uow() as uow:
        uow.session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}
