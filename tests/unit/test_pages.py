"""Cursors of paged lists: what a page gives out reads back exactly; anything else is refused naming `after`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.services.errors import ValidationFailed
from engine.services.pages import MAX_LIMIT, PageRequest, decode_cursor, encode_cursor, page_of

KINDS = ("time?", "time", "text")


def test_a_cursor_reads_back_the_sort_key_it_was_made_from() -> None:
    # REQ: OOS-25 — the next page starts exactly after the last row shown
    due = datetime(2026, 3, 1, 8, 30, tzinfo=timezone(timedelta(hours=1)))
    created = datetime(2026, 2, 1, tzinfo=UTC)
    assert decode_cursor(encode_cursor([due, created, "t-1"]), KINDS) == (due, created, "t-1")
    assert decode_cursor(encode_cursor([None, created, "t-2"]), KINDS) == (None, created, "t-2")


def test_a_page_has_a_next_cursor_only_when_more_rows_follow() -> None:
    # REQ: OOS-25
    rows = [(datetime(2026, 1, 1, tzinfo=UTC), n) for n in range(3)]
    assert page_of(rows[:2], 2, lambda r: r).after is None
    page = page_of(rows, 2, lambda r: r)
    assert page.items == rows[:2] and decode_cursor(page.after or "", ("time", "integer"))[1] == 1


@pytest.mark.parametrize("limit", [0, MAX_LIMIT + 1])
def test_a_limit_outside_1_to_the_maximum_is_refused_naming_limit(limit: int) -> None:
    # REQ: OOS-25
    with pytest.raises(ValidationFailed) as refused:
        PageRequest(limit)
    assert [e["field"] for e in refused.value.errors] == ["limit"]


def test_a_cursor_of_another_list_is_refused_naming_after() -> None:
    # REQ: OOS-25
    with pytest.raises(ValidationFailed) as refused:
        decode_cursor(encode_cursor([17]), KINDS)
    assert [e["field"] for e in refused.value.errors] == ["after"]
