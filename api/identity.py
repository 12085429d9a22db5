"""DEVELOPMENT-ONLY identity: the user and roles are taken from request headers.

``X-Oospath-User: anna.keller`` and ``X-Oospath-Roles: qa,qp``. Anyone can claim any
role this way: real authentication (and re-authentication for signatures, OOS-24) is
a later issue. Never expose this API beyond a development machine until then.
"""

from __future__ import annotations

from flask import request

from engine.services.errors import ServiceError
from engine.services.identity import Actor

USER_HEADER = "X-Oospath-User"
ROLES_HEADER = "X-Oospath-Roles"


class Unauthenticated(ServiceError):
    status = 401
    title = "Unauthenticated"


def current_actor() -> Actor:
    user = (request.headers.get(USER_HEADER) or "").strip()
    if not user:
        raise Unauthenticated(f"send the {USER_HEADER} header (development-only identity) naming the user")
    roles = frozenset(r.strip() for r in (request.headers.get(ROLES_HEADER) or "").split(",") if r.strip())
    return Actor(user, roles)
