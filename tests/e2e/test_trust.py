"""Trust (issue 8): real token authentication, organisations, signatures (OOS-24, OOS-25).

These tests run the API with its default identity (bearer tokens from POST /api/v1/auth/token),
never the development headers, and log in as the demo's people.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from api import create_app
from api.app import UnsafeConfiguration
from engine.bootstrap import Oospath
from engine.clock import FrozenClock
from engine.domain import catalogue
from engine.services import accounts
from engine.settings import Settings
from engine.store.models import AuditEntry, BatchRow
from oospath.demo import put_agreement_in_force, seed_catalogue
from oospath.demo_people import DEMO_PASSWORD
from oospath.scenarios import EXCEPTIONAL_USE_REASON, form_data

CASE_BATCH = catalogue.BATCH_VIABILITY_OOS


class Session:
    """A logged-in user of the API."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client, self.token = client, token

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, **extra: str) -> Any:
        return self.client.get(path, headers=self.headers(extra))

    def post(self, path: str, body: Any = None, **extra: str) -> Any:
        return self.client.post(path, json=body, headers=self.headers(extra))


@pytest.fixture
def client(app: Oospath) -> FlaskClient:
    flask_app = create_app({"OOSPATH": app, "TESTING": True})
    seed_catalogue(app)
    put_agreement_in_force(app, flask_app.extensions["oospath.messaging"].pump)
    return flask_app.test_client()


def batch_parties(app: Oospath, batch_id: str = CASE_BATCH) -> BatchRow:
    with app.uow() as uow:
        batch = uow.session.get(BatchRow, batch_id)
        assert batch is not None
        return batch


def login(client: FlaskClient, user: str, organisation: str, password: str = DEMO_PASSWORD) -> Session:
    response = client.post("/api/v1/auth/token", json={"username": user, "password": password,
                                                       "organisation": organisation})
    assert response.status_code == 200, response.json
    return Session(client, response.json["access_token"])


def open_case(app: Oospath, client: FlaskClient) -> tuple[Session, str]:
    qa = login(client, "anna.keller", batch_parties(app).manufacturer)
    response = qa.post("/api/v1/cases", {"batch_id": CASE_BATCH, "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
    assert response.status_code == 201, response.json
    return qa, response.json["id"]


def test_without_a_token_the_api_answers_401_and_the_development_headers_are_ignored(client: FlaskClient) -> None:
    # REQ: OOS-24, OOS-25 — token authentication is the default
    response = client.get("/api/v1/cases", headers={"X-Oospath-User": "anna.keller", "X-Oospath-Roles": "qa"})
    assert response.status_code == 401
    assert "Bearer" in response.json["detail"] and response.headers["WWW-Authenticate"] == "Bearer"


def test_development_headers_are_refused_in_production(app: Oospath, tmp_path: Any) -> None:
    # REQ: OOS-25
    settings = Settings(var_dir=tmp_path, database_url=app.settings.database_url, auth_mode="dev-headers",
                        environment="production")
    production = Oospath(settings, app.clock, app.db, app.sessions, app.runtime)
    with pytest.raises(UnsafeConfiguration, match="refused with OOSPATH_ENV=production"):
        create_app({"OOSPATH": production, "DEPLOY_PROCESSES": False})


def test_a_token_replayed_after_logout_is_401(app: Oospath, client: FlaskClient) -> None:
    # REQ: OOS-24
    qa = login(client, "anna.keller", batch_parties(app).manufacturer)
    assert qa.get("/api/v1/auth/me").json["roles"] == ["qa"]
    assert qa.post("/api/v1/auth/logout").status_code == 200
    replay = qa.get("/api/v1/cases")
    assert replay.status_code == 401 and "revoked" in replay.json["detail"]


def test_an_expired_token_is_401(app: Oospath, client: FlaskClient, clock: FrozenClock) -> None:
    # REQ: OOS-24
    qa = login(client, "anna.keller", batch_parties(app).manufacturer)
    clock.advance(timedelta(minutes=app.settings.token_lifetime_minutes + 1))
    expired = qa.get("/api/v1/cases")
    assert expired.status_code == 401 and "expired" in expired.json["detail"]


def test_a_wrong_password_is_401_and_repeated_failures_are_rate_limited_and_audited(
        app: Oospath, client: FlaskClient) -> None:
    # REQ: OOS-24
    body = {"username": "jan.devries", "password": "wrong-password-1", "organisation": batch_parties(app).manufacturer}
    statuses = [client.post("/api/v1/auth/token", json=body).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    right = client.post("/api/v1/auth/token", json={**body, "password": DEMO_PASSWORD})
    assert right.status_code == 429  # the window has not passed: even the right password waits
    with app.uow() as uow:
        actions = list(uow.session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "jan.devries")))
    assert actions.count("login.refused") == 7


def test_a_role_claimed_in_a_header_query_or_body_under_token_auth_is_ignored(
        app: Oospath, client: FlaskClient) -> None:
    # REQ: OOS-25 — the token's memberships are the only source of roles
    physician = login(client, "dr.lucas.moreau", batch_parties(app).treating_site)
    body = {"batch_id": CASE_BATCH, "exceptional_use_reason": "x"}
    assert physician.post("/api/v1/cases", body, **{"X-Oospath-Roles": "qa"}).status_code == 403
    assert physician.get("/api/v1/tasks?role=qa").status_code == 403
    claimed = physician.post("/api/v1/cases", {**body, "roles": ["qa"]})
    assert claimed.status_code == 403  # refused for the role before the body is even read
    assert physician.get("/api/v1/auth/me").json["roles"] == ["physician"]


def test_another_organisations_case_cannot_be_read_by_guessing_its_id(app: Oospath, client: FlaskClient) -> None:
    # REQ: OOS-25
    _, case_id = open_case(app, client)
    stranger = login(client, "anna.keller", catalogue.VECTORIS)
    for path in (f"/api/v1/cases/{case_id}", f"/api/v1/cases/{case_id}/audit"):
        response = stranger.get(path)
        assert response.status_code == 404 and "not shared with your organisation" in response.json["detail"]
    assert stranger.get("/api/v1/cases").json["items"] == []
    with app.uow() as uow:
        refusals = list(uow.session.scalars(select(AuditEntry).where(AuditEntry.action == "access.refused",
                                                                    AuditEntry.actor == "anna.keller")))
    assert {r.data_after["path"] for r in refusals} >= {f"/api/v1/cases/{case_id}"}
    assert all(r.data_after["organisation"] == catalogue.VECTORIS for r in refusals)


def test_a_physician_of_site_a_does_not_see_the_tasks_of_site_b(app: Oospath, client: FlaskClient,
                                                               clock: FrozenClock) -> None:
    # REQ: OOS-25
    qa, case_id = open_case(app, client)
    work_until_physician(app, qa, case_id, clock)
    site_a = batch_parties(app).treating_site
    site_b = next(b.treating_site for b in catalogue.sample_batches() if b.treating_site != site_a)
    own = login(client, "dr.lucas.moreau", site_a).get(f"/api/v1/tasks?case_id={case_id}").json["items"]
    assert [t["element_id"] for t in own] == ["physician_decision"]
    other = login(client, "dr.lucas.moreau", site_b)
    assert other.get("/api/v1/tasks").json["items"] == []
    assert other.get(f"/api/v1/tasks/{own[0]['id']}").status_code == 404


def test_deploying_without_the_process_designer_role_is_403(app: Oospath, client: FlaskClient) -> None:
    # REQ: OOS-25
    qa = login(client, "anna.keller", batch_parties(app).manufacturer)
    response = qa.post("/api/v1/process-definitions", {"files": {"x.bpmn": "<x/>"}})
    assert response.status_code == 403 and "process_designer" in response.json["detail"]


def work_until_physician(app: Oospath, qa: Session, case_id: str, clock: FrozenClock) -> None:
    """QA investigates and evaluates the risks (the evaluation is signed)."""
    for element_id in ("investigate_oos", "evaluate_risks"):
        (task,) = [t for t in qa.get(f"/api/v1/tasks?case_id={case_id}").json["items"]
                   if t["element_id"] == element_id]
        data = form_data(element_id, "authorised", clock.now())
        done = qa.post(f"/api/v1/tasks/{task['id']}/complete",
                       {"data": data, "signature": {"username": "anna.keller", "password": DEMO_PASSWORD}})
        assert done.status_code == 200, done.json


def test_signing_needs_the_password_and_the_manifestation_shows_in_case_and_audit(
        app: Oospath, client: FlaskClient, clock: FrozenClock) -> None:
    # REQ: OOS-24 — 21 CFR 11.50 / 11.200
    qa, case_id = open_case(app, client)
    (investigate,) = [t for t in qa.get(f"/api/v1/tasks?case_id={case_id}").json["items"]
                      if t["element_id"] == "investigate_oos"]
    assert qa.post(f"/api/v1/tasks/{investigate['id']}/complete",
                   {"data": form_data("investigate_oos", "authorised", clock.now())}).status_code == 200
    (evaluate,) = qa.get(f"/api/v1/tasks?case_id={case_id}").json["items"]
    assert qa.get(f"/api/v1/tasks/{evaluate['id']}").json["signature"]["meaning"] == "approval"
    data = form_data("evaluate_risks", "authorised", clock.now())
    unsigned = qa.post(f"/api/v1/tasks/{evaluate['id']}/complete", {"data": data})
    wrong = qa.post(f"/api/v1/tasks/{evaluate['id']}/complete",
                    {"data": data, "signature": {"username": "anna.keller", "password": "not-my-password"}})
    password_only = qa.post(f"/api/v1/tasks/{evaluate['id']}/complete",
                            {"data": data, "signature": {"password": DEMO_PASSWORD}})
    for refused in (unsigned, wrong, password_only):
        assert refused.status_code == 401 and refused.json["requirement"] == "OOS-24"
    assert qa.get(f"/api/v1/tasks/{evaluate['id']}").json["state"] == "ready"  # nothing was signed or done
    signed = qa.post(f"/api/v1/tasks/{evaluate['id']}/complete",
                     {"data": data, "signature": {"username": "anna.keller", "password": DEMO_PASSWORD}})
    assert signed.status_code == 200, signed.json
    (signature,) = qa.get(f"/api/v1/cases/{case_id}").json["signatures"]
    assert signature["printed_name"] == "Anna Keller" and signature["meaning"] == "approval"
    assert len(signature["sha256"]) == 64 and signature["method"] == "user name and password"
    trail = qa.get(f"/api/v1/cases/{case_id}/audit").json
    completed = next(e for e in trail["items"] if e["action"] == "task.completed"
                     and e["element_id"] == "evaluate_risks")
    assert completed["data_after"]["e_signature"]["sha256"] == signature["sha256"]
    assert any(e["action"] == "signature.executed" for e in trail["items"])


def test_after_the_first_signature_of_a_login_the_password_alone_signs(app: Oospath, client: FlaskClient) -> None:
    # REQ: OOS-24 — 21 CFR 11.200(a)(1): both components first, then the password within the same login
    from engine.services import signatures

    qa = login(client, "anna.keller", batch_parties(app).manufacturer)
    with app.uow() as uow:
        actor = accounts.resolve_token(uow.session, app.clock.now(), qa.token)
        sign = {"meaning": "approval", "subject_type": "test", "content": {"x": 1}}
        with pytest.raises(signatures.SignatureRefused, match="both components"):
            signatures.sign(uow.session, app.clock.now(), actor, signatures.Credentials(None, DEMO_PASSWORD),
                            subject_id="1", **sign)
        first = signatures.sign(uow.session, app.clock.now(), actor,
                                signatures.Credentials("anna.keller", DEMO_PASSWORD), subject_id="1", **sign)
        later = signatures.sign(uow.session, app.clock.now(), actor, signatures.Credentials(None, DEMO_PASSWORD),
                                subject_id="2", **sign)
        uow.commit()
    assert first.method == "user name and password" and later.method == "password (continuous session)"
    assert first.content_sha256 == later.content_sha256 == signatures.content_sha256({"x": 1})
