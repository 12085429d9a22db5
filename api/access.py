"""Enforcement of each route's declaration before its view runs (OOS-24, OOS-25).

Order: the declaration (none: refused), identity (bearer token, OIDC token, or the
development headers when ``OOSPATH_AUTH=dev-headers``), role, the organisation's access to the
resource named in the path, then query parameters and JSON body. Every refusal (401, 403,
404 for a resource of another organisation, 422 naming a requirement) is written to the
audit trail in its own transaction with actor, route and reason.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Flask, g, request
from jsonschema import Draft202012Validator

from api.declarations import Declaration, declaration_of
from api.errors import BadRequest
from api.request_body import parse_object, text_problems
from api.web import session as browser_session
from engine.services import access, accounts, audit, signatures
from engine.services.accounts import Unauthenticated
from engine.services.audit import AuditEvent
from engine.services.errors import Forbidden, ServiceError, ValidationFailed
from engine.services.identity import Actor
from engine.services.validation import validate_against

log = logging.getLogger(__name__)
USER_HEADER, ROLES_HEADER, ORG_HEADER = "X-Oospath-User", "X-Oospath-Roles", "X-Oospath-Org"
DEV_HEADERS = "dev-headers"


class UndeclaredRoute(ServiceError):
    status = 403
    title = "Forbidden"


def install(app: Flask) -> None:
    app.before_request(_enforce)


def current_actor() -> Actor:
    actor = g.get("actor")
    if actor is None:
        raise Unauthenticated("this route needs an identity")
    return actor


def current_body() -> dict[str, Any]:
    return g.get("body") or {}


def signing_credentials(given: dict[str, Any] | None) -> signatures.Credentials | None:
    """What the signer re-entered in the body's ``signature`` (OOS-24): password, or a fresh OIDC ID token."""
    if not given:
        return None
    return signatures.Credentials(given.get("username"), given.get("password"), given.get("id_token"),
                                  settings=_container().settings)


def _enforce() -> None:
    view = request.endpoint and _view_function()
    if not view:
        return  # 404/405 answered by Flask
    declaration = declaration_of(view)
    if declaration is None:
        raise UndeclaredRoute(f"route {request.method} {request.path} declares no policy: refused")
    if declaration.size_limit:
        request.max_content_length = getattr(_container().settings, declaration.size_limit)
    _check_parameter_text()
    if declaration.policy.public:
        _validate_input(declaration)
        return
    if _service_token_given(declaration):
        _validate_input(declaration)
        return
    g.actor = actor = _authenticate()
    if g.get("session_token"):
        browser_session.check_csrf(g.session_token)
    _check_role(declaration, actor)
    if declaration.policy.scope:
        _check_scope(declaration, actor)
    _validate_input(declaration)


def _service_token_given(declaration: Declaration) -> bool:
    """The bearer token is the route's configured service token (compared in constant time): no user identity."""
    setting = declaration.policy.service_token
    expected = getattr(_container().settings, setting) if setting else None
    header = request.headers.get("Authorization", "")
    if not expected or not header.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), str(expected).encode())


def _check_role(declaration: Declaration, actor: Actor) -> None:
    if not declaration.policy.allows_role(actor.roles):
        raise Forbidden(f"OOS-25: {request.method} {request.url_rule} needs one of the roles "
                        f"{', '.join(sorted(declaration.policy.roles))}; user '{actor.user}' holds "
                        f"{', '.join(sorted(actor.roles)) or 'no roles'}"
                        + (f" at '{actor.organisation}'" if actor.organisation else ""), requirement="OOS-25")


def _validate_input(declaration: Declaration) -> None:
    _validate_query(declaration)
    if declaration.body and (request.is_json or not declaration.body_alternatives):
        g.body = _json_body(declaration)


def _view_function() -> Any:
    from flask import current_app

    return current_app.view_functions.get(request.endpoint or "")


def _container() -> Any:
    from api.app import container

    return container()


def _authenticate() -> Actor:
    app = _container()
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    if token is None and (token := browser_session.cookie_token()):
        g.session_token = token  # a browser session: its writes must carry the CSRF token
    if token is not None:
        with app.uow() as uow:
            if app.settings.oidc_issuer:
                from engine.services import oidc

                if oidc.looks_like_jwt(token):
                    return oidc.actor_from_oidc(uow.session, app.settings, token, app.clock.now())
            return accounts.resolve_token(uow.session, app.clock.now(), token)
    if _auth_mode() == DEV_HEADERS and request.headers.get(USER_HEADER):
        return _development_actor()
    if _auth_mode() == DEV_HEADERS:
        raise Unauthenticated(f"send Authorization: Bearer <token> or the {USER_HEADER} header "
                              "(development identity)")
    raise Unauthenticated("send Authorization: Bearer <token>; get one from POST /api/v1/auth/token")


def _auth_mode() -> str:
    from flask import current_app

    return current_app.config["AUTH"]  # set and checked by create_app


def _development_actor() -> Actor:
    user = request.headers.get(USER_HEADER, "").strip()
    if not user or len(user) > 200 or list(text_problems(user, USER_HEADER)):
        raise Unauthenticated(f"{USER_HEADER}: a user name of 1 to 200 characters of valid text")
    claimed = {r.strip() for r in request.headers.get(ROLES_HEADER, "").split(",") if r.strip()}
    organisation = request.headers.get(ORG_HEADER, "").strip() or None
    return Actor(user, frozenset(claimed), organisation, user, None, DEV_HEADERS)


def _check_parameter_text() -> None:
    """Path and query values must be text every database can store: no NUL characters, no lone surrogates."""
    given = [(f"path/{k}", str(v)) for k, v in (request.view_args or {}).items()]
    given += [(f"query/{k}", v) for k, values in request.args.lists() for v in values]
    problems = [{"field": field, "message": problem["message"]} for field, value in given
                for problem in text_problems(value, field)]
    if problems:
        raise ValidationFailed(f"{len(problems)} parameter(s) are not valid text", problems)


def _validate_query(declaration: Declaration) -> None:
    problems = []
    for name, param in declaration.query.items():
        if name in request.args:
            for value in request.args.getlist(name):
                for error in Draft202012Validator(param.schema).iter_errors(_typed(value, param.schema)):
                    problems.append({"field": name, "message": f"{value!r}: {error.message}"})
    if problems:
        raise ValidationFailed(f"{len(problems)} query parameter(s) are not valid", problems)


def _typed(value: str, schema: dict[str, Any]) -> Any:
    if schema.get("type") == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    return value


def _json_body(declaration: Declaration) -> dict[str, Any]:
    from api.schemas import ALL

    if not request.is_json:
        raise BadRequest("the request body must be a JSON object (Content-Type: application/json)")
    data = parse_object(request.get_data(cache=True))
    schema = ALL.get(declaration.body or "")
    validate_against(schema, data, f"the {schema.get('title', 'request')} schema" if schema else None)
    return data


def _check_scope(declaration: Declaration, actor: Actor) -> None:
    scope = declaration.policy.scope
    key = {"case": "case_id", "task": "task_id", "instance": "instance_id", "batch": "batch_id"}[scope or ""]
    ident = (request.view_args or {}).get(key)
    if ident is None:
        return
    with _container().uow() as uow:
        access.SCOPE_CHECKS[scope or ""](uow.session, actor, str(ident))


def audit_refusal(status: int, detail: str, requirement: str | None) -> None:
    """Write the refused attempt to the system audit stream in its own transaction."""
    try:
        app = _container()
        actor = g.get("actor") or Actor(_claimed_user(), frozenset(), via="anonymous")
        with app.uow() as uow:
            audit.append(uow.session, app.clock.now(), actor, AuditEvent(
                "access.refused", reason=detail[:2000],
                data_after={"method": request.method, "route": str(request.url_rule or request.path)[:300],
                            "path": request.path[:300], "status": status, "requirement": requirement,
                            "organisation": actor.organisation}))
            uow.commit()
    except Exception:  # the refusal itself must still be answered
        log.exception("could not audit a refused request")


def _claimed_user() -> str:
    user = request.headers.get(USER_HEADER, "").strip()
    return f"unauthenticated:{user[:150]}" if user else "unauthenticated"
