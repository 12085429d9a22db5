"""Browser sessions: the bearer token of the trust issue, carried in a cookie, and CSRF (OOS-24, OOS-25).

A browser login issues the same opaque token as ``POST /api/v1/auth/token`` and keeps it in an
HttpOnly, SameSite=Strict cookie, so page scripts never see it. Every state-changing request
authenticated by that cookie must carry the CSRF token (form field ``csrf_token`` or header
``X-CSRF-Token``): an HMAC of the session token, which another site can neither read nor compute.
Before login, a random cookie paired with a hidden form field guards the login form itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from flask import Response, g, request

from engine.services.errors import ServiceError

SESSION_COOKIE = "oospath_session"
LOGIN_COOKIE = "oospath_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(ServiceError):
    status = 403
    title = "Forbidden"


def csrf_token_of(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"oospath-csrf", hashlib.sha256).hexdigest()


def cookie_token() -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def current_csrf_token() -> str:
    token = g.get("session_token")
    return csrf_token_of(token) if token else ""


def check_csrf(session_token: str) -> None:
    """A write authenticated by the session cookie must prove it comes from our own page."""
    if request.method in SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER) or (request.form.get(CSRF_FIELD) if request.form else None) or ""
    if not hmac.compare_digest(given, csrf_token_of(session_token)):
        raise CsrfRefused("OOS-24: this form or request lacks its CSRF token (reload the page and try again); "
                          "nothing was changed", requirement="OOS-24")


def set_session_cookie(response: Response, token: str, expires_at: datetime, secure: bool) -> None:
    response.set_cookie(SESSION_COOKIE, token, expires=expires_at, httponly=True, samesite="Strict",
                        secure=secure, path="/")


def clear_session_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Strict", secure=secure)


def login_csrf_pair() -> str:
    """The login form's CSRF value: the one already in the browser's cookie, else a new one."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)


def check_login_csrf() -> None:
    cookie, field = request.cookies.get(LOGIN_COOKIE, ""), request.form.get(CSRF_FIELD, "")
    if not cookie or not hmac.compare_digest(cookie, field):
        raise CsrfRefused("the login form expired or came from another site: reload the login page",
                          requirement="OOS-24")
