"""Rendering of pages: the layout's context (who is logged in, CSRF token, navigation by role),
HTML answers for refusals, and the security headers every page carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, g, redirect, render_template, request

from api.declarations import declaration_of
from api.web.session import current_csrf_token

#: Navigation: label, path, the page's endpoint — shown to whoever that page's policy admits.
NAVIGATION = (
    ("Inbox", "/ui/inbox", "web.inbox"),
    ("Cases", "/ui/cases", "web_cases.case_list"),
    ("Periodic reviews", "/ui/reviews", "web_reviews.review_list"),
    ("Products", "/ui/products", "web_products.product_list"),
    ("Designer", "/ui/designer", "web_designer.definition_list"),
)
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
                           "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def install(app: Flask) -> None:
    @app.after_request
    def _page_headers(response: Response) -> Response:
        if is_page_request():
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.jinja_env.filters["when"] = when
    app.jinja_env.globals["quote"] = quote


def _admits(endpoint: str, roles: frozenset[str]) -> bool:
    from flask import current_app

    declaration = declaration_of(current_app.view_functions.get(endpoint))
    return declaration is not None and declaration.policy.allows_role(roles)


def is_page_request() -> bool:
    from flask import current_app

    view = current_app.view_functions.get(request.endpoint or "")
    declaration = declaration_of(view)
    return bool(declaration and declaration.page)


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    actor = g.get("actor")
    navigation = [(label, path) for label, path, endpoint in NAVIGATION
                  if actor is not None and _admits(endpoint, actor.roles)]
    return render_template(template, actor=actor, csrf_token=current_csrf_token(), navigation=navigation,
                           current_path=request.path, **context), status


def refusal_page(status: int, title: str, detail: str) -> Response:
    """A refused page: to the login page when no one is logged in, else the reason in words."""
    if status == 401 and request.method == "GET":
        return redirect(f"/ui/login?next={quote(request.full_path.rstrip('?'), safe='/?=&')}")
    body, code = render("error.html", status, title=title, detail=detail, code=status)
    return Response(body, status=code, mimetype="text/html")


def when(value: datetime | str | None) -> str:
    """A time as users read it in the audit trail: UTC, to the second."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")
