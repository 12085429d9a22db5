"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, LargeBinary
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: oospath stores UTC-aware times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CompressedText(TypeDecorator[str]):
    """Text stored zlib-compressed (a process instance's state: JSON in which every task repeats its data,
    ~6 KB that compress to ~1 KB). Python code reads and writes ``str``; the column holds the bytes."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        return None if value is None else zlib.compress(value.encode(), STATE_COMPRESSION_LEVEL)

    def process_result_value(self, value: bytes | None, dialect: Any) -> str | None:
        return None if value is None else zlib.decompress(value).decode()


#: zlib's level for stored states: 6 (its default) compresses this JSON as well as 9 at half the time.
STATE_COMPRESSION_LEVEL = 6
