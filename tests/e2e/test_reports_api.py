"""/api/v1/reports and /api/v1/periodic-reviews over HTTP: generate, list, download, start; problem+json errors.

REQ: OOS-20 (the six-monthly review and its files), OOS-21 (what it states), OOS-23 (signals), OOS-25 (roles).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.bootstrap import Oospath
from engine.clock import FrozenClock
from engine.reporting import software_version
from tests.e2e.conftest import Api
from tests.e2e.test_api_contract import assert_matches, documented, response_schema
from tests.integration.test_periodic_review_data import dataset, import_bytes, lims_csv

PERIOD = {"product_code": "CART19-AUTH", "from": "2026-01-01", "to": "2026-06-30"}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))


@pytest.fixture
def history(app: Oospath, api: Api) -> list[Any]:
    """Two years of CART19-AUTH batches imported as from a LIMS (the catalogue is seeded by ``api``)."""
    batches = dataset()
    import_bytes(app, lims_csv(batches))
    return batches


def test_generate_list_and_download_every_format(api: Api, history: list[Any]) -> None:
    # REQ: OOS-20, OOS-21, OOS-23
    doc = documented(api)
    created = api.post("/api/v1/reports", PERIOD, api.persona("mah_ra"))
    assert created.status_code == 201, created.json
    assert_matches(doc, response_schema(doc, "/api/v1/reports", "post", 201), created.json, "POST /api/v1/reports")
    report = created.json
    assert (report["period_label"], report["dataset_rows"]) == ("2026-H1", len(history))
    assert report["software_version"] == software_version() and report["signals_count"] > 0
    assert {s["kind"] for s in report["signals"]} >= {"control_rule", "low_capability"}
    listed = api.get("/api/v1/reports?product_code=CART19-AUTH")
    assert [r["id"] for r in listed.json["items"]] == [report["id"]]
    assert_matches(doc, response_schema(doc, "/api/v1/reports", "get", 200), listed.json, "GET /api/v1/reports")
    assert api.get("/api/v1/reports?product_code=OTHER").json["items"] == []
    one = api.get(report["links"]["self"])
    assert one.status_code == 200 and one.json == report
    expected = {"html": "text/html", "pdf": "application/pdf", "json": "application/json", "csv": "text/csv"}
    for fmt, mimetype in expected.items():
        response = api.get(report["links"][fmt])
        assert response.status_code == 200 and response.mimetype == mimetype, fmt
        assert hashlib.sha256(response.data).hexdigest() == report["files"][fmt]["sha256"], fmt
        assert report["files"][fmt]["filename"] in response.headers["Content-Disposition"]
    html = api.get(report["links"]["html"]).data.decode()
    assert report["dataset_sha256"] in html and "2026-H1" in html and "Comparators are all" in html
    assert api.get(report["links"]["json"]).json["report"]["dataset_sha256"] == report["dataset_sha256"]
    assert api.get(report["links"]["pdf"]).data.startswith(b"%PDF")
    assert len(api.get(report["links"]["csv"]).data.decode().splitlines()) == len(history) + 1


@pytest.mark.parametrize(("path", "body", "roles", "status", "detail"), [
    ("/api/v1/reports", PERIOD, ("physician",), 403, "OOS-25"),
    ("/api/v1/reports", {"product_code": "CART19-AUTH", "from": "2026-01-01"}, ("qa",), 422, "do not match"),
    ("/api/v1/reports", {**PERIOD, "from": "2026-02-30"}, ("qa",), 400, "from/to"),
    ("/api/v1/reports", {**PERIOD, "to": "2026-12-31"}, ("qa",), 422, "has not ended yet"),
    ("/api/v1/reports", {**PERIOD, "product_code": "NOPE"}, ("qa",), 404, "NOPE"),
    ("/api/v1/reports", {**PERIOD, "from": "2026-07-01"}, ("qa",), 422, "before it starts"),
    ("/api/v1/periodic-reviews", PERIOD, ("sponsor",), 403, "OOS-25"),
    ("/api/v1/periodic-reviews", {**PERIOD, "to": "2027-06-30"}, ("mah_ra",), 422, "has not ended yet"),
])
def test_refusals_are_problem_json(api: Api, path: str, body: dict[str, Any], roles: tuple[str, ...],
                                   status: int, detail: str) -> None:
    # REQ: OOS-20, OOS-25
    doc = documented(api)
    response = api.post(path, body, api.as_("someone", *roles))
    assert response.status_code == status and response.mimetype == "application/problem+json", response.json
    assert detail in response.json["detail"]
    assert_matches(doc, response_schema(doc, path, "post", status), response.json, f"POST {path} {status}")


@pytest.mark.parametrize("path", ["/api/v1/reports/no-such-report", "/api/v1/reports/no-such-report/pdf"])
def test_unknown_reports_are_404_problems(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_an_unknown_format_of_a_report_is_a_404_problem(api: Api) -> None:
    # REQ: OOS-20 (a period without batches still gives a complete report)
    report = api.post("/api/v1/reports", PERIOD, api.persona("qa")).json
    assert report["dataset_rows"] == 0 and report["signals_count"] == 0
    response = api.get(f"/api/v1/reports/{report['id']}/docx")
    assert response.status_code == 404 and "html, json, pdf" in response.json["detail"].replace("csv, ", "")


def test_a_review_started_over_http_assembles_its_report_and_waits_for_qa(api: Api, history: list[Any]) -> None:
    # REQ: OOS-20, OOS-21, OOS-22
    doc = documented(api)
    started = api.post("/api/v1/periodic-reviews", PERIOD, api.persona("mah_ra"))
    assert started.status_code == 201, started.json
    assert_matches(doc, response_schema(doc, "/api/v1/periodic-reviews", "post", 201), started.json, "start review")
    assert started.json["trigger"] == "manual"
    again = api.post("/api/v1/periodic-reviews", PERIOD, api.persona("mah_ra"))
    assert again.status_code == 409 and "already running" in again.json["detail"]
    reviews = api.get("/api/v1/periodic-reviews").json
    assert_matches(doc, response_schema(doc, "/api/v1/periodic-reviews", "get", 200), reviews, "list reviews")
    (qa_task,) = [t for t in api.get("/api/v1/tasks?role=qa", api.persona("qa")).json["items"]
                  if t["instance_id"] == started.json["instance_id"]]
    assert qa_task["element_id"] == "qa_review"
    detail = api.get(f"/api/v1/tasks/{qa_task['id']}", api.persona("qa")).json
    assert detail["data"]["review_report"]["dataset_rows"] == len(history)
    reports = api.get("/api/v1/reports").json["items"]
    assert [r["instance_id"] for r in reports] == [started.json["instance_id"]]
