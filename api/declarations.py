"""One declaration per route: its policy, input schemas and responses (OOS-25).

Every view is decorated with :func:`declare`; ``api.access`` enforces the declaration
before the view runs (authentication, role, organisation party to the resource, query and
body validation) and ``api.openapi`` generates the OpenAPI document from the same
declarations, so the published contract and the enforced one cannot drift apart. A route
without a declaration is refused (deny by default) and fails the matrix test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.services.identity import ROLES

F = TypeVar("F", bound=Callable[..., Any])

#: Scopes: the resource named in the path must concern a case (or batch) the caller's organisation is party to.
SCOPES = ("case", "task", "instance", "batch")


@dataclass(frozen=True)
class Policy:
    """Who may call a route: ``roles`` (any one of them) and, with ``scope``, only for resources their
    organisation is party to. ``public`` routes need no identity at all. ``service_token`` names a
    ``Settings`` field whose value is also accepted as the bearer token, by a service that cannot log in
    (Prometheus scraping ``/metrics``); unset in the settings, only the roles are accepted."""

    roles: frozenset[str] = frozenset()
    scope: str | None = None
    public: bool = False
    service_token: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.roles) - set(ROLES)
        if unknown:
            raise ValueError(f"policy names unknown roles {sorted(unknown)}")
        if self.scope is not None and self.scope not in SCOPES:
            raise ValueError(f"policy scope {self.scope!r} is not one of {SCOPES}")
        if not self.public and not self.roles:
            raise ValueError("a non-public policy names at least one role")

    def allows_role(self, roles: frozenset[str]) -> bool:
        return self.public or bool(self.roles & roles)


def roles(*names: str, scope: str | None = None) -> Policy:
    return Policy(frozenset(names), scope)


PUBLIC = Policy(public=True)
#: Everyone with an account (own data only, e.g. logout, one's own task list).
ANY_USER = Policy(frozenset(ROLES))
#: Who works on OOS cases or inspects them.
CASE_ROLES = ("qa", "physician", "qp", "mah_ra", "sponsor", "importer_qa", "auditor")


@dataclass(frozen=True)
class Param:
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string", "maxLength": 200})


@dataclass(frozen=True)
class Declaration:
    operation_id: str
    tag: str
    summary: str
    policy: Policy
    ok: dict[str, tuple[str, str | dict[str, Any]]]
    errors: tuple[str, ...] = ()
    body: str | None = None
    body_alternatives: dict[str, str] = field(default_factory=dict)
    query: dict[str, Param] = field(default_factory=dict)
    path: dict[str, Param] = field(default_factory=dict)
    description: str | None = None
    media_type: str = "application/json"
    #: the Settings field bounding this route's request body instead of ``max_request_bytes``
    size_limit: str | None = None
    #: a browser page (api/web): same policy enforcement, HTML answers, not in the OpenAPI document
    page: bool = False


def declare(operation_id: str, tag: str, summary: str, *, policy: Policy,
            ok: dict[str, tuple[str, str | dict[str, Any]]], **options: Any) -> Callable[[F], F]:
    """Attach the route's declaration to its view function (put it below ``@bp.get``/``@bp.post``)."""
    declaration = Declaration(operation_id, tag, summary, policy, ok, **options)

    def attach(view: F) -> F:
        view.declaration = declaration  # type: ignore[attr-defined]
        return view

    return attach


def page(summary: str, *, policy: Policy, **options: Any) -> Callable[[F], F]:
    """Declare a browser page (``api.web``): enforced like an API route, answered in HTML, not published."""

    def attach(view: F) -> F:
        view.declaration = Declaration(view.__name__, "pages", summary, policy, {}, page=True,  # type: ignore[attr-defined]
                                       **options)
        return view

    return attach


def declaration_of(view: Callable[..., Any] | None) -> Declaration | None:
    return getattr(view, "declaration", None)
