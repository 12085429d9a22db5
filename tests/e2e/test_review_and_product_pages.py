"""The periodic review pages and the product pages in a browser session (issue 11 items 5-6).

REQ: OOS-20 (the six-monthly periodic review, its report files and the MAH's signed approval), OOS-24 (signed
decisions, their manifestation, CSRF on every browser write), OOS-25 (the pages' roles are the API's; the creator
of a specification version cannot approve it), OOS-01 (only an approved version judges batches).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from api import create_app
from engine.bootstrap import Oospath
from engine.clock import FrozenClock
from engine.domain import catalogue as cat
from engine.domain.specification_limits import AttributeLimit
from engine.domain.specifications import Specification
from engine.domain.trends import Period
from engine.services import catalog, instances, periodic_review, tasks
from engine.services.identity import Actor
from oospath.demo import put_agreement_in_force, seed_catalogue
from oospath.demo_people import DEMO_PASSWORD, credentials_of
from oospath.review_demo import review_form_data
from oospath.scenarios import PERSONAS

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

H1_2026 = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
QA = Actor("anna.keller", frozenset({"qa"}))
AUTHOR = Actor("ben.schmidt", frozenset({"qa"}))  # another QA user proposes the version the QA persona approves


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))


@pytest.fixture
def site(app: Oospath) -> tuple[FlaskClient, Callable[[], Any]]:
    flask_app = create_app({"OOSPATH": app, "TESTING": True})
    pump = flask_app.extensions["oospath.messaging"].pump
    seed_catalogue(app)
    put_agreement_in_force(app, pump)
    return flask_app.test_client(), pump


def log_in(client: FlaskClient, user: str) -> str:
    """The cookie login of the login page (choosing the first organisation offered); returns the CSRF token."""
    client.delete_cookie("oospath_session")
    form = {"username": user, "password": DEMO_PASSWORD,
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)}
    answered = client.post("/ui/login", data=form)
    if answered.status_code == 200:  # the user works for several organisations
        form["organisation"] = re.findall(r"<option>([^<]+)</option>", answered.text)[0]
        answered = client.post("/ui/login", data=form)
    assert answered.status_code == 302, answered.text
    return re.search(r'name="csrf-token" content="([0-9a-f]{64})"', client.get("/ui/inbox").text).group(1)


def review_awaiting_approval(app: Oospath, pump: Callable[[], Any]) -> str:
    """A review of CART19-AUTH for 2026-H1: report assembled, QA's review done, the MAH's approval open."""
    with app.uow() as uow:
        review = periodic_review.start_review(uow.session, app.runtime, cat.CART19_AUTH, H1_2026,
                                              Actor("sofia.lindqvist", frozenset({"mah_ra"})))
        uow.commit()
    pump()
    with app.uow() as uow:
        (task,) = tasks.list_tasks(uow.session, instance_id=review.instance_id)
        data = instances.instance_data(uow.session, app.runtime, review.instance_id)
        tasks.complete_task(uow.session, app.runtime, task.id, review_form_data(task.element_id, app.clock.now(),
                                                                                 data), QA,
                            signature=credentials_of(QA.user))
        uow.commit()
    pump()
    return review.id


def test_reviews_list_and_page_link_the_report_files_and_the_mah_signs_the_approval(
        app: Oospath, site: tuple[FlaskClient, Callable[[], Any]]) -> None:
    # REQ: OOS-20, OOS-24, OOS-25
    client, pump = site
    review_id = review_awaiting_approval(app, pump)
    log_in(client, "anna.keller")
    listed = client.get("/ui/reviews")
    assert listed.status_code == 200 and "CART19-AUTH" in listed.text and "2026-H1" in listed.text
    assert f'href="/ui/reviews/{review_id}"' in listed.text and "running" in listed.text
    shown = client.get(f"/ui/reviews/{review_id}")
    assert shown.status_code == 200 and "Awaiting the MAH" in shown.text
    downloads = re.findall(r'href="(/api/v1/reports/[^/"]+/(html|pdf|json|csv))"', shown.text)
    assert {fmt for _, fmt in downloads} == {"html", "pdf", "json", "csv"}
    for href, fmt in set(downloads):
        assert client.get(href).status_code == 200, fmt
    assert 'id="approval-link"' not in shown.text  # QA may not open the MAH's task

    csrf = log_in(client, "sofia.lindqvist")
    shown = client.get(f"/ui/reviews/{review_id}")
    task_id = re.search(r'href="/ui/tasks/([^"]+)" id="approval-link"', shown.text).group(1)
    form = {"csrf_token": csrf, "review_signatory_name": "Sofia Lindqvist, Head of Regulatory Affairs",
            "review_signature_meaning": "I approve this periodic review for submission to EMA as the Quality "
                                        "Defect Report", "review_approved": "true",
            "signer": "sofia.lindqvist", "password": DEMO_PASSWORD}
    signed = client.post(f"/ui/tasks/{task_id}/complete", data=form)
    assert signed.status_code == 302, signed.text
    pump()
    shown = client.get(f"/ui/reviews/{review_id}")
    assert "Awaiting the MAH" not in shown.text and "Sofia Lindqvist" in shown.text
    approval = shown.text.split('id="approval-h"')[1].split("</section>")[0]
    assert "approval" in approval and "I approve this periodic review for submission to EMA" in approval
    assert re.search(r"SHA-256 [0-9a-f]{64}", approval)


def test_a_physician_is_refused_the_review_pages_as_by_the_api(
        app: Oospath, site: tuple[FlaskClient, Callable[[], Any]]) -> None:
    # REQ: OOS-25
    client, pump = site
    review_id = review_awaiting_approval(app, pump)
    log_in(client, "dr.lucas.moreau")
    for path in ("/ui/reviews", f"/ui/reviews/{review_id}"):
        refused = client.get(path)
        assert refused.status_code == 403 and "OOS-25" in refused.text and refused.mimetype == "text/html"
    assert client.get("/api/v1/periodic-reviews").status_code == 403
    assert client.get("/ui/reviews/no-such-review").status_code == 403  # roles first, as the API


def propose(app: Oospath, author: Actor = AUTHOR) -> int:
    """A new CART19-AUTH specification version, awaiting approval; returns its number."""
    with app.uow() as uow:
        version = 1 + max(s.version for s in catalog.list_specifications(uow.session, cat.CART19_AUTH))
        catalog.add_specification(uow.session, app.clock, Specification(
            cat.CART19_AUTH, version, datetime(2027, 1, 1, tzinfo=UTC),
            (AttributeLimit("viability", "%", lower=Decimal("75")),)), author)
        uow.commit()
    return version


def status_of(app: Oospath, version: int) -> str:
    with app.uow() as uow:
        (row,) = [s for s in catalog.list_specifications(uow.session, cat.CART19_AUTH) if s.version == version]
        return row.status


def test_qa_approves_a_specification_version_with_the_password_on_the_product_page(
        app: Oospath, site: tuple[FlaskClient, Callable[[], Any]]) -> None:
    # REQ: OOS-01, OOS-24
    client, _ = site
    version = propose(app)
    csrf = log_in(client, "anna.keller")
    listed = client.get("/ui/products")
    assert listed.status_code == 200 and "1 awaiting approval" in listed.text
    assert "oospath catalog import FILE" in listed.text and "oospath import batches" in listed.text
    shown = client.get(f"/ui/products/{cat.CART19_AUTH}")
    section = shown.text.split(f'id="v{version}"')[1].split("</section>")[0]
    assert "awaiting approval" in section and "ben.schmidt" in section and "≥ 75" in section and "%" in section
    action = f"/ui/products/{cat.CART19_AUTH}/specifications/{version}/approval"
    assert f'action="{action}"' in section

    wrong = client.post(action, data={"csrf_token": csrf, "signer": "anna.keller", "password": "not-it"})
    assert wrong.status_code == 401 and 'id="form-errors"' in wrong.text and "OOS-24" in wrong.text
    assert "password is wrong" in wrong.text and status_of(app, version) == "awaiting_approval"
    forged = client.post(action, data={"signer": "anna.keller", "password": DEMO_PASSWORD})
    assert forged.status_code == 403 and "CSRF" in forged.text and status_of(app, version) == "awaiting_approval"

    approved = client.post(action, data={"csrf_token": csrf, "signer": "anna.keller", "password": DEMO_PASSWORD})
    assert approved.status_code == 302 and status_of(app, version) == "approved"
    shown = client.get(approved.headers["Location"])
    section = shown.text.split(f'id="v{version}"')[1].split("</section>")[0]
    assert f"v{version} approved and signed" in shown.text
    assert "Anna Keller" in section and "approval" in section and 'action="' not in section
    assert "I approve this specification version" in section


def test_the_creator_of_a_version_is_refused_as_its_approver_and_sees_why(
        app: Oospath, site: tuple[FlaskClient, Callable[[], Any]]) -> None:
    # REQ: OOS-25, OOS-24
    client, _ = site
    version = propose(app, QA)
    csrf = log_in(client, "anna.keller")
    refused = client.post(f"/ui/products/{cat.CART19_AUTH}/specifications/{version}/approval",
                          data={"csrf_token": csrf, "signer": "anna.keller", "password": DEMO_PASSWORD})
    assert refused.status_code == 403 and 'id="form-errors"' in refused.text
    assert "segregation of duties" in refused.text and status_of(app, version) == "awaiting_approval"
    rejected = client.post(f"/ui/products/{cat.CART19_AUTH}/specifications/{version}/rejection",
                           data={"csrf_token": csrf, "signer": "anna.keller", "password": DEMO_PASSWORD,
                                 "reason": "Wrong lower limit"})
    assert rejected.status_code == 302 and status_of(app, version) == "rejected"


def test_the_product_pages_answer_as_the_catalogue_api_does(
        app: Oospath, site: tuple[FlaskClient, Callable[[], Any]]) -> None:
    # REQ: OOS-25
    client, _ = site
    version = propose(app)
    log_in(client, "dr.lucas.moreau")
    assert client.get("/ui/products").status_code == 403 == client.get("/api/v1/products").status_code
    log_in(client, "otto.auditor")
    shown = client.get(f"/ui/products/{cat.CART19_AUTH}")
    assert shown.status_code == 200 and "awaiting approval" in shown.text
    assert f"/specifications/{version}/approval" not in shown.text  # only QA decides


def test_each_page_answers_as_the_api_does_for_every_demo_role(
        app: Oospath, site: tuple[FlaskClient, Callable[[], Any]]) -> None:
    # REQ: OOS-25 — a page never shows what the API would refuse, nor refuses what it would show
    client, pump = site
    review_id = review_awaiting_approval(app, pump)
    mirrors = {"/ui/reviews": "/api/v1/periodic-reviews", f"/ui/reviews/{review_id}": "/api/v1/periodic-reviews",
               "/ui/products": "/api/v1/products",
               f"/ui/products/{cat.CART19_AUTH}": f"/api/v1/specifications?product_code={cat.CART19_AUTH}"}
    users = [p.user for p in PERSONAS.values()] + ["marta.ruiz", "otto.auditor", "ines.designer"]
    shown = set()
    for user in users:
        log_in(client, user)
        for page_url, api_url in mirrors.items():
            expected = client.get(api_url).status_code
            assert client.get(page_url).status_code == expected, f"{page_url} as {user}"
            shown |= {(user, page_url)} if expected == 200 else set()
    assert ("marta.ruiz", "/ui/reviews") in shown and ("jan.devries", "/ui/products") in shown
    assert ("dr.lucas.moreau", "/ui/products") not in shown and ("jan.devries", "/ui/reviews") not in shown
