"""A task's form rendered from its JSON Schema, and the submitted form read back into JSON.

Input names are the JSON paths the validator reports (``hazards/0/severity``), so each
refusal is shown inline beside the field it names, with the requirement the field cites.
Times are entered in UTC (``datetime-local``) and sent as RFC 3339 with ``Z``; booleans are
Yes/No radio buttons, so "not answered" stays distinguishable from "No".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from engine.services.validation import REQUIREMENT_ID

LONG_TEXT = 200  # strings without maxLength or above this get a textarea


@dataclass
class Field:
    name: str
    label: str
    description: str
    kind: str  # text | textarea | const | boolean | datetime | date | enum | integer | number | group | rows
    required: bool
    value: Any = None
    options: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    children: list[Field] = field(default_factory=list)
    rows: list[list[Field]] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return "f-" + self.name.replace("/", "-")


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if "const" in schema and kind == "string":
        return "const"  # a fixed statement the form carries (e.g. a signature's meaning)
    if "enum" in schema:
        return "enum"
    if kind == "string":
        fmt = schema.get("format")
        if fmt in ("date-time", "date"):
            return {"date-time": "datetime", "date": "date"}[fmt]
        return "text" if schema.get("maxLength", LONG_TEXT + 1) <= LONG_TEXT else "textarea"
    return {"boolean": "boolean", "integer": "integer", "number": "number", "object": "group",
            "array": "rows"}.get(str(kind), "text")


def fields_of(schema: dict[str, Any], data: dict[str, Any], errors: dict[str, list[str]], prefix: str = "",
              extra_rows: int = 1) -> list[Field]:
    """The fields of an object schema, filled with ``data`` and the validator's ``errors`` by path."""
    required = set(schema.get("required", []))
    shown = []
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        kind = _kind(sub)
        item = Field(path, sub.get("title", name), sub.get("description", ""), kind, name in required,
                     data.get(name), [str(o) for o in sub.get("enum", []) if o is not None],
                     errors.get(path, []))
        if kind == "const":
            item.value = sub["const"]
        elif kind == "group":
            item.children = fields_of(sub, data.get(name) or {}, errors, f"{path}/", extra_rows)
        elif kind == "rows":
            given = [r for r in (data.get(name) or []) if isinstance(r, dict)]
            count = max(len(given) + extra_rows, sub.get("minItems", 0), 1)
            row_schema = sub.get("items", {})
            item.rows = [fields_of(row_schema, given[i] if i < len(given) else {}, errors, f"{path}/{i}/",
                                   extra_rows) for i in range(count)]
        shown.append(item)
    return shown


def data_from(schema: dict[str, Any], form: MultiDict[str, str], prefix: str = "") -> dict[str, Any]:
    """The submitted form as the JSON the task's schema validates; unanswered fields are left out."""
    data: dict[str, Any] = {}
    for name, sub in schema.get("properties", {}).items():
        path, kind = f"{prefix}{name}", _kind(sub)
        if kind == "group":
            nested = data_from(sub, form, f"{path}/")
            if nested:
                data[name] = nested
        elif kind == "rows":
            rows = []
            index = 0
            while any(key.startswith(f"{path}/{index}/") for key in form):
                row = data_from(sub.get("items", {}), form, f"{path}/{index}/")
                if row:
                    rows.append(row)
                index += 1
            if rows:
                data[name] = rows
        else:
            value = _scalar(kind, form.get(path, "").strip())
            if value is not None:
                data[name] = value
    return data


def _scalar(kind: str, text: str) -> Any:
    if text == "":
        return None
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    if kind in ("integer", "number"):
        try:
            return int(text) if kind == "integer" else float(text)
        except ValueError:
            return text  # refused by the schema, shown beside the field
    if kind == "datetime" and len(text) in (16, 19) and "T" in text:
        return (text if len(text) == 19 else text + ":00") + "Z"
    return text


def errors_by_field(problems: list[dict[str, Any]]) -> tuple[dict[str, list[str]], list[str]]:
    """Inline messages per field path, and those that name no field (the form as a whole)."""
    by_field: dict[str, list[str]] = {}
    general = []
    for problem in problems:
        message = problem.get("message", "")
        if problem.get("requirement") and problem["requirement"] not in message:
            message = f"{problem['requirement']}: {message}"
        if problem.get("field"):
            by_field.setdefault(problem["field"], []).append(message)
        else:
            general.append(message)
    return by_field, general


def requirements_cited(schema: dict[str, Any]) -> list[str]:
    return sorted(set(REQUIREMENT_ID.findall(f"{schema.get('title', '')} {schema.get('description', '')}")))
