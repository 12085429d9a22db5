"""Pages of the API's lists: the ``limit`` and ``after`` query parameters and the ``next`` link.

Every list route declares :data:`PAGE_QUERY` (so the maximum is published in the OpenAPI document and
``limit`` beyond it is refused with a 422 naming ``limit`` before the view runs) and answers with
:func:`page_body`: ``items``, ``next`` (the path and query of the next page, or null on the last page)
and ``links.next``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import request

from api.declarations import Param
from engine.services.pages import DEFAULT_LIMIT, MAX_LIMIT, Page, PageRequest

PAGE_QUERY = {
    "limit": Param(f"rows per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
                   {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
    "after": Param("opaque cursor: the `next` link of the previous page carries it; a cursor this list did not "
                   "give out is refused with 422", {"type": "string", "maxLength": 400}),
}


def page_request() -> PageRequest:
    """The page the query asks for (``limit`` was validated against :data:`PAGE_QUERY` already)."""
    return PageRequest(int(request.args.get("limit", DEFAULT_LIMIT)), request.args.get("after") or None)


def next_link(after: str | None) -> str | None:
    """This request's path and query with ``after`` set to the next page's cursor."""
    if after is None:
        return None
    query = [(k, v) for k, values in request.args.lists() if k != "after" for v in values] + [("after", after)]
    return f"{request.path}?{urlencode(query)}"


def page_body(page: Page[Any], view: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    following = next_link(page.after)
    return {"items": [view(row) for row in page.items], "next": following,
            "links": {"self": request.full_path.rstrip("?"), "next": following}}
