"""JSON Schema validation with per-field errors (forms and API request bodies).

A form cites the requirements it implements in its descriptions (the form's own, e.g.
"OOS-16: ...", and each field's, e.g. "Must be true (OOS-18)"), as the task's BPMN element
does in its documentation. A refused form names them: each field error carries the
requirement its field cites, and the problem carries ``requirement`` (the first field's, else
the form's), so a missing attestation is refused as OOS-03, ``records_complete: false`` as OOS-16.
"""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator

from engine.services.errors import ValidationFailed

REQUIREMENT_ID = re.compile(r"OOS-\d{2}")


def validate_against(schema: dict[str, Any] | None, data: Any, what: str | None = None,
                     requirements: list[str] | None = None) -> None:
    """Raise ValidationFailed listing every field that does not match ``schema``.

    ``requirements``: the ids the task's element cites (used when neither the field nor the form cites one).
    """
    if schema is None:
        return
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if not errors:
        return
    problems = []
    for error in errors:
        field = _field_of(error)
        problem = {"field": field, "message": error.message}
        if cited := _cited(schema.get("properties", {}).get(field.split("/")[0])):
            problem["requirement"] = cited[0]
        problems.append(problem)
    label = what or schema.get("title", "the form")
    failure = ValidationFailed(f"{len(problems)} field(s) do not match {label}", problems)
    requirement = next((p["requirement"] for p in problems if "requirement" in p), None)
    requirement = requirement or next(iter(_cited(schema) or requirements or []), None)
    if requirement is not None:
        failure.extra["requirement"] = requirement
        failure.detail = f"{requirement}: {failure.detail}"
    raise failure


def _cited(schema: Any) -> list[str]:
    """The requirement ids a (sub)schema's title and description cite, in order."""
    if not isinstance(schema, dict):
        return []
    return REQUIREMENT_ID.findall(f"{schema.get('title', '')} {schema.get('description', '')}")


def _field_of(error: Any) -> str:
    """The JSON path of the offending field; for a missing field, the field's name."""
    if error.path:
        return "/".join(str(p) for p in error.path)
    if error.validator == "required":
        return str(error.message).split("'")[1]
    return ""
