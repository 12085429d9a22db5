"""The route × role × organisation matrix (OOS-25), generated from the OpenAPI document.

Every operation of the served document must carry its policy (`x-oospath-policy`, generated from
the route's declaration); every Flask route must be in the document. For each operation, each
role and two organisations — one party to the case, one not — a user holding only that role at
that organisation logs in with a real token and calls the route: a role outside the policy is
403, an organisation outside a scoped resource is 404 "not shared", everyone else gets past
the access checks (whatever the route then answers to an empty body).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from api import create_app
from api.declarations import declaration_of
from engine.bootstrap import Oospath
from engine.domain import catalogue
from engine.services import accounts
from engine.services.identity import ROLES
from engine.store.models import BatchRow
from oospath.demo import put_agreement_in_force, seed_catalogue
from oospath.scenarios import EXCEPTIONAL_USE_REASON

PASSWORD = "matrix-password-1"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _party_and_stranger(app: Oospath) -> tuple[str, str]:
    with app.uow() as uow:
        batch = uow.session.get(BatchRow, catalogue.BATCH_VIABILITY_OOS)
        assert batch is not None
        return batch.manufacturer, catalogue.VECTORIS


def _users(app: Oospath, organisations: tuple[str, str]) -> dict[tuple[str, str], str]:
    users = {}
    with app.uow() as uow:
        for org in organisations:
            for role in ROLES:
                name = f"matrix.{role}.{organisations.index(org)}"
                accounts.add_user(uow.session, app.clock.now(), name, name, PASSWORD, [(org, role)])
                users[(role, org)] = name
        uow.commit()
    return users


def _token(client: FlaskClient, user: str) -> str:
    response = client.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
    assert response.status_code == 200, response.json
    return response.json["access_token"]


def _path_values(client: FlaskClient, qa_token: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {qa_token}"}
    opened = client.post("/api/v1/cases", json={"batch_id": catalogue.BATCH_VIABILITY_OOS,
                                                "exceptional_use_reason": EXCEPTIONAL_USE_REASON}, headers=headers)
    assert opened.status_code == 201, opened.json
    case = client.get(f"/api/v1/cases/{opened.json['id']}", headers=headers).json
    return {"case_id": case["id"], "task_id": case["open_tasks"][0]["id"], "instance_id": case["instance"]["id"],
            "batch_id": catalogue.BATCH_VIABILITY_OOS, "key": "oos_case", "version": "1", "report_id": "none",
            "format": "html", "incident_id": "none", "sha256": "0" * 64, "product_code": catalogue.CART19_AUTH}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]
    # logout revokes the caller's token: last
    return sorted(found, key=lambda item: item[2]["operationId"] == "logout")


def test_every_route_has_a_declared_policy_in_the_generated_document(app: Oospath) -> None:
    # REQ: OOS-25 — a route without a declaration fails here (and is refused at run time)
    flask_app = create_app({"OOSPATH": app, "TESTING": True})
    document = flask_app.test_client().get("/api/v1/openapi.json").json
    documented = {(re.sub(r"{([a-z_0-9]+)}", r"<\1>", path), method.upper())
                  for path, item in document["paths"].items() for method in item}
    for rule in flask_app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        declaration = declaration_of(flask_app.view_functions[rule.endpoint])
        if declaration is not None and declaration.page:
            continue  # a browser page: enforced by the same policy, tested in test_page_access.py
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            plain = re.sub(r"<(?:[a-z]+:)?([a-z_0-9]+)>", r"<\1>", rule.rule)
            assert (plain, method) in documented, f"{method} {rule.rule} has no declaration"
    for path, method, op in _operations(document):
        assert "x-oospath-policy" in op, f"{method.upper()} {path}"


def test_route_role_organisation_matrix(app: Oospath, capsys: pytest.CaptureFixture[str]) -> None:
    # REQ: OOS-25 — generated from the routes' declarations, over real tokens
    flask_app = create_app({"OOSPATH": app, "TESTING": True})
    seed_catalogue(app)
    put_agreement_in_force(app, flask_app.extensions["oospath.messaging"].pump)
    client = flask_app.test_client()
    organisations = _party_and_stranger(app)
    users = _users(app, organisations)
    tokens = {key: _token(client, user) for key, user in users.items()}
    values = _path_values(client, tokens[("qa", organisations[0])])
    document = client.get("/api/v1/openapi.json").json
    checked = 0
    for path, method, op in _operations(document):
        policy = op["x-oospath-policy"]
        url = re.sub(r"{([a-z_0-9]+)}", lambda m: values[m.group(1)], path)
        for (role, org), token in tokens.items():
            response = client.open(url, method=method.upper(), json={} if method == "post" else None,
                                   headers={"Authorization": f"Bearer {token}"})
            detail = (response.json or {}).get("detail", "") if response.is_json else ""
            where = f"{method.upper()} {path} as {role}@{org}: {response.status_code} {detail}"
            if policy["public"]:
                assert response.status_code not in (401, 403), where
            elif role not in policy["roles"]:
                assert response.status_code == 403 and "needs one of the roles" in detail, where
            elif policy["scope"] and org != organisations[0]:
                assert response.status_code == 404 and "not shared" in detail, where
            else:
                assert response.status_code != 401 and "needs one of the roles" not in detail, where
                assert "not shared" not in detail, where
            checked += 1
    routes = len(_operations(document))
    with capsys.disabled():
        print(f"\naccess matrix: {routes} routes x {len(ROLES)} roles x {len(organisations)} organisations "
              f"= {checked} requests checked")
    assert checked == routes * len(ROLES) * len(organisations)
