"""Errors raised by the service layer; the API maps each to an HTTP problem."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base class: ``title`` is short and stable, ``detail`` says what to do about it."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class InvalidData(ServiceError):
    """Well-formed input that the domain refuses (e.g. a unit mismatch, a malformed limit)."""

    status = 422
    title = "Invalid data"


class ValidationFailed(ServiceError):
    """Submitted data does not match its form: ``errors`` lists each field's problem."""

    status = 422
    title = "Validation failed"

    def __init__(self, detail: str, errors: list[dict[str, str]]) -> None:
        super().__init__(detail, errors=errors)
        self.errors = errors


class RuleViolation(ServiceError):
    """A regulatory rule refuses the action; ``requirement`` names it (e.g. OOS-02)."""

    status = 422
    title = "Refused by a pathway rule"

    def __init__(self, requirement: str, detail: str) -> None:
        super().__init__(f"{requirement}: {detail}", requirement=requirement)
        self.requirement = requirement
