"""JSON Schema validation with per-field errors (forms and API request bodies)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from engine.services.errors import ValidationFailed


def validate_against(schema: dict[str, Any] | None, data: Any, what: str | None = None) -> None:
    """Raise ValidationFailed listing every field that does not match ``schema``."""
    if schema is None:
        return
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        problems = [{"field": _field_of(error), "message": error.message} for error in errors]
        label = what or schema.get("title", "the form")
        raise ValidationFailed(f"{len(problems)} field(s) do not match {label}", problems)


def _field_of(error: Any) -> str:
    """The JSON path of the offending field; for a missing field, the field's name."""
    if error.path:
        return "/".join(str(p) for p in error.path)
    if error.validator == "required":
        return str(error.message).split("'")[1]
    return ""
