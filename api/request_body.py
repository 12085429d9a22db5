"""Reading a JSON request body safely: bounded nesting, no NaN/Infinity, no NUL bytes or lone
surrogates, integers within the range every database column and JSON peer can hold.

Anything else is a 400/422 problem naming the field; nothing reaches a service, a column or the
engine's state that PostgreSQL or SQLite would refuse later with a 500.
"""

from __future__ import annotations

import json
from typing import Any

from api.errors import BadRequest
from engine.services.errors import ValidationFailed

MAX_DEPTH = 32
MAX_INTEGER = 2**53 - 1  # exact in every JSON peer (IEEE double), fits BIGINT


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_object(raw: bytes) -> dict[str, Any]:
    """The request's JSON object, or a problem saying what is wrong with it."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError as exc:  # the C decoder's own bound, far beyond MAX_DEPTH
        raise BadRequest(f"the JSON body is nested deeper than {MAX_DEPTH} levels") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body must be a JSON object (Content-Type: application/json): {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object (Content-Type: application/json)")
    problems = list(_problems(data, "", 1))
    if problems:
        raise ValidationFailed(f"{len(problems)} field(s) hold values that cannot be stored", problems)
    return data


def _problems(value: Any, path: str, depth: int) -> Any:
    if isinstance(value, dict | list) and depth > MAX_DEPTH:
        raise BadRequest(f"the JSON body is nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            yield from text_problems(key, f"{path}/{key}" if path else str(key), "a field name")
            yield from _problems(item, f"{path}/{key}" if path else str(key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _problems(item, f"{path}/{index}", depth + 1)
    elif isinstance(value, str):
        yield from text_problems(value, path, "text")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        yield {"field": path, "message": f"integer beyond ±{MAX_INTEGER}"}


def text_problems(text: str, path: str, what: str = "text") -> Any:
    if "\x00" in text:
        yield {"field": path, "message": f"{what} contains a NUL character"}
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        yield {"field": path, "message": f"{what} contains a lone surrogate (not valid Unicode)"}
