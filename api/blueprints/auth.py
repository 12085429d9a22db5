"""/api/v1/auth: log in (bearer token), log out (revoke), who am I (OOS-24, OOS-25).

Login attempts are rate-limited per user name and every attempt, success or refusal, is in
the audit trail (written in its own transaction, so a refused login is recorded too).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, request

from api.access import current_actor, current_body
from api.app import container
from api.declarations import ANY_USER, PUBLIC, declare
from engine.services import accounts
from engine.services.errors import ServiceError

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")
TOKEN = {"type": "object", "required": ["access_token", "token_type", "expires_at", "user", "organisation", "roles"],
         "properties": {"access_token": {"type": "string"}, "token_type": {"const": "Bearer"},
                        "expires_at": {"type": "string", "format": "date-time"}, "user": {"type": "string"},
                        "printed_name": {"type": "string"}, "organisation": {"type": "string"},
                        "roles": {"type": "array", "items": {"type": "string"}}}}
ME = {"type": "object", "required": ["user", "roles"],
      "properties": {"user": {"type": "string"}, "printed_name": {"type": ["string", "null"]},
                     "organisation": {"type": ["string", "null"]}, "via": {"type": "string"},
                     "roles": {"type": "array", "items": {"type": "string"}}}}


def _policy() -> accounts.LoginPolicy:
    settings = container().settings
    return accounts.LoginPolicy(timedelta(minutes=settings.token_lifetime_minutes), settings.login_max_failures,
                                timedelta(minutes=settings.login_window_minutes))


@bp.post("/token")
@declare("login", "auth", "Log in: a bearer token for one organisation", policy=PUBLIC,
         ok={"200": ("The token (shown once) with its expiry", TOKEN)}, errors=("400", "401", "422", "429"),
         body="Login",
         description="User name and password; `organisation` when the user works for several. Too many failed "
                     "attempts for a user name are refused (429) until the window passes; every attempt is audited.")
def login() -> dict[str, Any]:
    body = current_body()
    issued = log_in(body["username"], body["password"], body.get("organisation"))
    actor = issued.actor
    return {"access_token": issued.token, "token_type": "Bearer", "expires_at": issued.expires_at.isoformat(),
            "user": actor.user, "printed_name": actor.printed_name, "organisation": actor.organisation,
            "roles": sorted(actor.roles)}


def log_in(username: str, password: str, organisation: str | None) -> accounts.IssuedToken:
    """Check the password and issue a token; every attempt is audited, a refused one in its own transaction."""
    app = container()
    now = app.clock.now()
    with app.uow() as uow:
        try:
            user = accounts.check_login(uow.session, now, username, password, _policy())
            issued = accounts.issue_token(uow.session, now, user, organisation, _policy())
        except ServiceError as refused:
            uow.session.rollback()
            accounts.record_attempt(uow.session, now, username, False, request.remote_addr, refused.detail)
            uow.commit()
            raise
        accounts.record_attempt(uow.session, now, username, True, request.remote_addr)
        uow.commit()
    return issued


@bp.post("/logout")
@declare("logout", "auth", "Log out: the token is revoked at once", policy=ANY_USER,
         ok={"200": ("Revoked", {"type": "object", "properties": {"revoked": {"const": True}}})})
def logout() -> dict[str, Any]:
    app = container()
    with app.uow() as uow:
        accounts.revoke_token(uow.session, app.clock.now(), current_actor())
        uow.commit()
    return {"revoked": True}


@bp.get("/me")
@declare("whoAmI", "auth", "The caller: user, organisation and roles", policy=ANY_USER, ok={"200": ("The caller", ME)})
def me() -> dict[str, Any]:
    actor = current_actor()
    return {"user": actor.user, "printed_name": actor.printed_name, "organisation": actor.organisation,
            "via": actor.via, "roles": sorted(actor.roles)}
