"""Who is acting. Development-only identity: the API builds an Actor from request headers;
real authentication (and OOS-24 re-authentication for signatures) is a later issue."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Actor:
    user: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, role: str | None) -> bool:
        return role is None or role in self.roles

    @property
    def primary_role(self) -> str | None:
        return sorted(self.roles)[0] if self.roles else None


SYSTEM = Actor("oospath", frozenset({"system"}))
