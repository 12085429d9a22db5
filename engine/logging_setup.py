"""Log lines an operator can follow a case by: structured JSON or plain text (``Settings.log_format``).

Each line names the case, process instance, task and HTTP request it concerns when they are
known. Those ids travel in a context variable: the API sets the request id and the ids of its
path for the duration of a request, a runtime step opens its own scope and adds the instance and
case it works on, a worker does the same for each message it handles. A scope ends by restoring
what was there before, so ids never leak from one request, step or message into the next.

JSON lines carry ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, then ``case_id``,
``instance_id``, ``task_id``, ``request_id``, ``message_id`` when known, and ``exception``. Only
ids are carried, never case content or personal data.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from engine.settings import Settings

#: The ids a log line may carry, in the order they are written.
CONTEXT_IDS = ("case_id", "instance_id", "task_id", "request_id", "message_id")
#: Terminal colours some libraries put in their messages (werkzeug's request lines): not part of a JSON line.
_TERMINAL_STYLE = re.compile(r"\x1b\[[0-9;]*m")
_context: ContextVar[dict[str, str]] = ContextVar("oospath_log_context")


def current_log_context() -> dict[str, str]:
    return dict(_context.get({}))


def _known(ids: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in ids.items() if k in CONTEXT_IDS and v not in (None, "")}


def enter_log_context(**ids: Any) -> Token[dict[str, str]]:
    """Open a scope with these ids added; pass the token to :func:`leave_log_context` when it ends."""
    return _context.set({**_context.get({}), **_known(ids)})


def leave_log_context(token: Token[dict[str, str]]) -> None:
    _context.reset(token)


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """A scope (a step, a message) whose log lines carry these ids in addition to the enclosing ones."""
    token = enter_log_context(**ids)
    try:
        yield
    finally:
        leave_log_context(token)


def annotate_log_context(**ids: Any) -> None:
    """Add ids learnt during the current scope (e.g. the instance a task belongs to); they end with the scope.
    Outside any scope (a request, a step, a message) nothing is added: no scope would remove them."""
    known = _known(ids)
    current = _context.get(None)
    if known and current is not None:
        _context.set({**current, **known})


def _ids_of(record: logging.LogRecord) -> dict[str, str]:
    ids = dict(_context.get({}))
    ids.update(_known({k: getattr(record, k, None) for k in CONTEXT_IDS}))  # ``extra={"case_id": ...}``
    return ids


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "message": _TERMINAL_STYLE.sub("", record.getMessage()),
        }
        line.update(_ids_of(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextLineFormatter(logging.Formatter):
    """Human-readable lines for development, with the ids in brackets at the end."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = _ids_of(record)
        if not ids:
            return text
        first, _, rest = text.partition("\n")
        suffix = " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]"
        return first + suffix + ("\n" + rest if rest else "")


LOG_FORMATS = {"json": JsonLineFormatter, "text": TextLineFormatter}


def configure_logging(settings: Settings, level: int = logging.INFO) -> None:
    """Root logging of a long-running process (serve, relay, workers, scheduler): one handler on stderr."""
    formatter = LOG_FORMATS.get(settings.log_format)
    if formatter is None:
        raise ValueError(f"OOSPATH_LOG_FORMAT={settings.log_format!r}: use one of {sorted(LOG_FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
