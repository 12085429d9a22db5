"""Who is acting: a user, the organisation (legal entity) they act for in this login, and the
roles they hold there (OOS-25). Built by the API from a bearer token, an OIDC token or, on
development machines only, from headers; built directly by the CLI, workers and the demo."""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("qa", "physician", "qp", "mah_ra", "sponsor", "importer_qa", "management", "process_designer",
         "auditor", "admin")


@dataclass(frozen=True)
class Actor:
    user: str
    roles: frozenset[str] = field(default_factory=frozenset)
    organisation: str | None = None
    printed_name: str | None = None
    token_id: str | None = None  # the login this request belongs to (first-signature rule, 21 CFR 11.200)
    via: str = "service"  # token | oidc | dev-headers | service

    def has_role(self, role: str | None) -> bool:
        """A task or action with no role is open to nobody (OOS-25)."""
        return role is not None and role in self.roles

    @property
    def primary_role(self) -> str | None:
        return sorted(self.roles)[0] if self.roles else None

    @property
    def is_system(self) -> bool:
        return "system" in self.roles


SYSTEM = Actor("oospath", frozenset({"system"}))
