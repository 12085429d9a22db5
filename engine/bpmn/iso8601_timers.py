"""Timer values as BPMN writes them (ISO 8601), translated for the engine.

BPMN 2.0 gives a timer's ``timeDuration``, ``timeDate`` or ``timeCycle`` as an ISO 8601
value: ``P7D``, ``PT36H``, ``2026-01-01T00:00:00Z``, ``R3/PT10S``,
``R/2026-01-01T00:00:00Z/P6M``. SpiffWorkflow evaluates a timer's text as a Python
expression, so a value written bare is translated on load into the string literal
``"P7D"``. Text that is already Python (``"P7D"``, ``add_hours(...)``, a variable) is left
alone. The strict patterns below decide: a variable that happens to be called ``P7D`` is
not worth a misread timer.
"""

from __future__ import annotations

import ast
import re
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

_NUMBER = r"\d+(?:[.,]\d+)?"
DURATION = (
    rf"P(?=[\dT])(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?"
)
DATE_TIME = r"\d{4}-\d\d-\d\d(?:T\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d(?::?\d\d)?)?)?"
_BARE = {
    "duration": re.compile(rf"{DURATION}"),
    "date": re.compile(rf"{DATE_TIME}"),
    "cycle": re.compile(rf"R\d*/(?:{DURATION}|{DATE_TIME})(?:/(?:{DURATION}|{DATE_TIME}))?"),
}
# Something meant as ISO 8601 that is not one (e.g. "PT48", "2026-1-1"): refused, not run as Python.
LOOKS_ISO8601 = re.compile(r"^(R\d*/)?(P[\dYMWDTHS.,]*|\d{4}-\d\d?-\d\d?[\dT:.,+\-Z]*)(/\S+)?$")
EXAMPLES = {
    "duration": "a duration such as P7D or PT36H",
    "date": "a date and time such as 2026-01-01T00:00:00Z",
    "cycle": "a cycle such as R3/PT10S or R/2026-01-01T00:00:00Z/P6M",
}


def timer_kind(definition: TimerEventDefinition) -> str:
    """``duration``, ``date`` or ``cycle``: which ISO 8601 form the timer's element asks for."""
    if isinstance(definition, DurationTimerEventDefinition):
        return "duration"
    if isinstance(definition, TimeDateEventDefinition):
        return "date"
    return "cycle" if isinstance(definition, CycleTimerEventDefinition) else "duration"


def as_expression(text: str | None, kind: str) -> str | None:
    """The Python expression for a timer's text: a bare ISO 8601 value of ``kind`` becomes a literal."""
    if text is None:
        return None
    value = text.strip()
    return repr(value) if _BARE[kind].fullmatch(value) else text


def literal_value(expression: str) -> str | None:
    """The string a timer expression is, when it is a plain string literal; else None."""
    try:
        value = ast.literal_eval(expression.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def value_problem(value: str, kind: str) -> str | None:
    """Why the literal timer ``value`` cannot be scheduled, or None."""
    if not _BARE[kind].fullmatch(value.strip()):
        return f"'{value}' is not {EXAMPLES[kind]} (ISO 8601)"
    try:
        if kind == "date":
            TimerEventDefinition.get_datetime(value.strip())
        elif kind == "duration":
            TimerEventDefinition.get_timedelta_from_start(
                TimerEventDefinition.parse_iso_duration(value.strip()), datetime(2000, 1, 1)
            )
    except (ValueError, OverflowError):
        return f"'{value}' is not a real {kind}: write {EXAMPLES[kind]}"
    return None
