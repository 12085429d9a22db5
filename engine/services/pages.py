"""Pages of a list: keyset (cursor) pagination of task lists, cases, instances, incidents and audit trails.

A page is read by its position in a stable order (``WHERE (sort key, id) > (last row's) ORDER BY ...
LIMIT n``), never by offset, so the hundredth page costs what the first does when an index serves the
order, and rows written meanwhile never make a row appear twice or be skipped. The cursor (the ``after``
query parameter) is opaque to callers: the URL-safe base64 of the last row's sort key and id, checked
when read back; a garbled or forged cursor is refused as invalid data naming ``after`` (a 422), never
an error of the server.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, bindparam, tuple_
from sqlalchemy.orm import Session

from engine.services.errors import ValidationFailed

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: the kinds of value a cursor may carry, one per sort column: text, integer, time, or time or null
KINDS = ("text", "integer", "time", "time?")


@dataclass(frozen=True)
class PageRequest:
    """Which page: at most ``limit`` rows after the row named by the cursor ``after`` (None: the first)."""

    limit: int = DEFAULT_LIMIT
    after: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValidationFailed(f"limit must be 1 to {MAX_LIMIT}", [
                {"field": "limit", "message": f"{self.limit} is not between 1 and {MAX_LIMIT}"}])


@dataclass(frozen=True)
class Page(Generic[T]):
    """The rows of one page and the cursor of the next page (None on the last page)."""

    items: list[T]
    after: str | None


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def _refused(cursor: str, why: str) -> ValidationFailed:
    shown = cursor if len(cursor) <= 40 else f"{cursor[:40]}…"
    return ValidationFailed("the cursor `after` is not one this list gave out",
                            [{"field": "after", "message": f"{shown!r}: {why}; use the `next` link of a page"}])


def _typed(value: Any, kind: str, cursor: str) -> Any:
    if kind == "time?" and value is None:
        return None
    if kind in ("time", "time?"):
        moment = _utc_time(value)
        if moment is None:
            raise _refused(cursor, "a sort time is not an ISO 8601 time with its zone")
        return moment
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    if kind == "text" and isinstance(value, str) and len(value) <= 200 and _storable(value):
        return value
    raise _refused(cursor, f"a sort value is not {kind}")


def _utc_time(value: Any) -> datetime | None:
    """An ISO 8601 time with its zone, in UTC; None for anything else (or a time UTC cannot hold)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _storable(value: str) -> bool:
    """Text every database can compare: no NUL character, no lone surrogate."""
    return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


def decode_cursor(cursor: str, kinds: Sequence[str]) -> tuple[Any, ...]:
    """The sort key a cursor carries, each value checked against its column's kind."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise _refused(cursor, "not URL-safe base64 of a sort key") from exc
    if not isinstance(values, list) or len(values) != len(kinds):
        raise _refused(cursor, f"a sort key has {len(kinds)} values")
    return tuple(_typed(v, k, cursor) for v, k in zip(values, kinds, strict=True))


def after_key(columns: Sequence[Any], values: Sequence[Any], *, descending: bool = False) -> Any:
    """``(columns) > (values)`` (``<`` when descending): one range condition an index on the columns serves."""
    bound = tuple_(*[bindparam(None, v, type_=c.type) for c, v in zip(columns, values, strict=True)])
    return tuple_(*columns) < bound if descending else tuple_(*columns) > bound


def in_order(query: Select[Any], columns: Sequence[Any], descending: bool = False) -> Select[Any]:
    return query.order_by(*[c.desc() if descending else c.asc() for c in columns])


def keyset(session: Session, query: Select[Any], columns: Sequence[Any], kinds: Sequence[str],
           page: PageRequest, *, descending: bool = False,
           key: Callable[[Any], Sequence[Any]] | None = None) -> Page[Any]:
    """One page of ``query`` ordered by ``columns`` (which end with a unique column, e.g. the id).

    ``key`` gives a row's sort values (default: the row's attributes named like the columns)."""
    if page.after is not None:
        query = query.where(after_key(columns, decode_cursor(page.after, kinds), descending=descending))
    rows = list(session.scalars(in_order(query, columns, descending).limit(page.limit + 1)))
    return page_of(rows, page.limit, key or (lambda row: [getattr(row, c.key) for c in columns]))


def page_of(rows: list[T], limit: int, key: Callable[[T], Sequence[Any]]) -> Page[T]:
    """The first ``limit`` of ``rows`` (read with one more to know whether a next page exists)."""
    if len(rows) <= limit:
        return Page(rows, None)
    shown = rows[:limit]
    return Page(shown, encode_cursor(key(shown[-1])))
