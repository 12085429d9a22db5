"""Paged lists: tasks, cases, instances, incidents and the case audit trail, walked through their `next` links."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from engine.clock import FrozenClock
from engine.domain import catalogue
from oospath.scenarios import EXCEPTIONAL_USE_REASON
from tests.e2e.conftest import Api

BATCHES = (catalogue.BATCH_VIABILITY_OOS, catalogue.BATCH_STERILITY_FAILURE, catalogue.BATCH_IMP_TRANSDUCTION_OOS)
QA = {"X-Oospath-User": "anna.keller", "X-Oospath-Roles": "qa"}


def as_qa_of(organisation: str) -> dict[str, str]:
    return QA | {"X-Oospath-Org": organisation}


@pytest.fixture
def opened(api: Api, clock: FrozenClock) -> dict[str, str]:
    """Three open cases, an hour apart: batch id -> case id."""
    cases = {}
    for batch_id in BATCHES:
        clock.advance(timedelta(hours=1))
        response = api.post("/api/v1/cases", {"batch_id": batch_id, "exceptional_use_reason": EXCEPTIONAL_USE_REASON},
                            QA)
        assert response.status_code == 201, response.json
        cases[batch_id] = response.json["id"]
    return cases


def walk(api: Api, path: str, headers: dict[str, str]) -> list[list[dict[str, Any]]]:
    """Every page of a list, following `next` (and checking `links.next` says the same)."""
    pages, following = [], path
    while following is not None:
        response = api.get(following, headers)
        assert response.status_code == 200, response.json
        pages.append(response.json["items"])
        following = response.json["next"]
        assert response.json["links"]["next"] == following
    return pages


def task_order(task: dict[str, Any]) -> tuple[Any, ...]:
    return (task["due_at"] is None, task["due_at"] or "", task["created_at"], task["id"])


def test_walking_the_task_pages_returns_each_task_once_soonest_due_first(api: Api, opened: dict[str, str]) -> None:
    # REQ: OOS-13, OOS-25 — a role's work list, deadlines first, readable at any size
    pages = walk(api, "/api/v1/tasks?limit=2", QA)
    walked = [t for page in pages for t in page]
    assert len(walked) >= 4 and all(len(page) <= 2 for page in pages) and len(pages) >= 2
    assert len({t["id"] for t in walked}) == len(walked)
    assert walked == sorted(walked, key=task_order)
    whole = api.get("/api/v1/tasks?limit=200", QA).json
    assert [t["id"] for t in whole["items"]] == [t["id"] for t in walked] and whole["next"] is None


def test_filters_still_apply_on_every_page(api: Api, opened: dict[str, str]) -> None:
    # REQ: OOS-25
    case_id = opened[catalogue.BATCH_STERILITY_FAILURE]
    pages = walk(api, f"/api/v1/tasks?case_id={case_id}&limit=1", QA)
    assert len(pages) >= 2 and all(t["case_id"] == case_id for page in pages for t in page)
    closed = walk(api, "/api/v1/cases?status=closed&limit=1", QA)
    assert closed == [[]]


def test_limit_over_the_maximum_is_422_naming_limit(api: Api) -> None:
    # REQ: OOS-25 — a refusal names the field
    for path in ("/api/v1/tasks?limit=201", "/api/v1/cases?limit=0", "/api/v1/process-instances?limit=x"):
        response = api.get(path, QA)
        assert response.status_code == 422, path
        assert [e["field"] for e in response.json["errors"]] == ["limit"]


def cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize("after", [
    "not a cursor!", "%%%", cursor({"id": 1}), cursor(["2026-01-01T00:00:00+00:00", 5]),
    cursor([None, "yesterday", "x"]), cursor([None, "2026-01-01T00:00:00", "x"]), cursor([1, 2, 3]),
    cursor([None, "0001-01-01T00:00:00+05:00", "x"]), cursor([None, "2026-01-01T00:00:00+00:00", "a\u0000b"]),
    cursor([2**70]), cursor([True]),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_a_garbled_or_forged_cursor_is_422_naming_after(api: Api, opened: dict[str, str], after: str) -> None:
    # REQ: OOS-25 — refusals are 4xx naming the parameter, never a server error
    for path in ("/api/v1/tasks", "/api/v1/cases", "/api/v1/process-instances", "/api/v1/incidents",
                 f"/api/v1/cases/{opened[BATCHES[0]]}/audit"):
        response = api.client.get(path, query_string={"after": after}, headers=QA)
        assert response.status_code == 422, (path, after, response.json)
        assert [e["field"] for e in response.json["errors"]] == ["after"]


def test_another_organisations_items_never_appear_on_any_page(api: Api, opened: dict[str, str]) -> None:
    # REQ: OOS-25
    cascadia = as_qa_of(catalogue.CASCADIA)  # manufacturer of the viability batch only
    own = opened[catalogue.BATCH_VIABILITY_OOS]
    for path in ("/api/v1/tasks?limit=1", "/api/v1/cases?limit=1", "/api/v1/process-instances?limit=1"):
        seen = [item for page in walk(api, path, cascadia) for item in page]
        assert {item.get("case_id", item.get("id")) for item in seen} - {None} == {own}, path  # None: case-less
    helix = as_qa_of(catalogue.HELIX)
    for path in ("/api/v1/tasks?limit=1", "/api/v1/cases?limit=1", "/api/v1/incidents?limit=1"):
        seen = [item for page in walk(api, path, helix) for item in page]
        assert own not in {item.get("case_id", item.get("id")) for item in seen}, path


def test_cases_and_instances_are_paged_newest_first(api: Api, opened: dict[str, str]) -> None:
    # REQ: OOS-25
    cases = [c for page in walk(api, "/api/v1/cases?limit=2", QA) for c in page]
    assert [c["id"] for c in cases] == [opened[b] for b in reversed(BATCHES)]
    auditor = {"X-Oospath-User": "auditor", "X-Oospath-Roles": "auditor"}
    instances = [i for page in walk(api, "/api/v1/process-instances?limit=1", auditor) for i in page]
    started = [i["started_at"] for i in instances]
    assert started == sorted(started, reverse=True) and len({i["id"] for i in instances}) == len(instances)
    assert {c["id"] for c in cases} <= {i["case_id"] for i in instances}


def test_the_case_audit_trail_is_paged_by_sequence_and_still_checks_the_whole_chain(
        api: Api, opened: dict[str, str]) -> None:
    # REQ: OOS-24
    path = f"/api/v1/cases/{opened[BATCHES[0]]}/audit"
    pages = walk(api, f"{path}?limit=3", QA)
    walked = [e["id"] for page in pages for e in page]
    assert len(pages) >= 2 and walked == sorted(set(walked))
    assert walked == [e["id"] for e in api.get(f"{path}?limit=200", QA).json["items"]]
    assert api.get(f"{path}?limit=1", QA).json["chain_intact"] is True
