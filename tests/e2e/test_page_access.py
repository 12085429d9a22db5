"""Pages never show what the JSON API would refuse (issue 11, OOS-25), and browser writes need CSRF (OOS-24).

Every GET page that mirrors an API resource is requested with the same login (the bearer token in
the session cookie) for each role at an organisation party to the case and at one that is not: the
page answers 200 exactly when the API does, and refuses with the API's status otherwise.
"""

from __future__ import annotations

import re

import pytest

from api import create_app
from engine.bootstrap import Oospath
from engine.services.identity import ROLES
from oospath.demo import put_agreement_in_force, seed_catalogue
from tests.e2e.test_access_matrix import _party_and_stranger, _path_values, _token, _users

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

#: page -> the API resource it shows
MIRRORS = {
    "/ui/inbox": "/api/v1/tasks",
    "/ui/cases": "/api/v1/cases",
    "/ui/cases/{case_id}": "/api/v1/cases/{case_id}",
    "/ui/cases/{case_id}/diagram.json": "/api/v1/cases/{case_id}",
    "/ui/cases/{case_id}/audit.csv": "/api/v1/cases/{case_id}/audit",
    "/ui/tasks/{task_id}": "/api/v1/tasks/{task_id}",
    "/ui/reviews": "/api/v1/periodic-reviews",
    "/ui/products": "/api/v1/products",
    "/ui/products/{product_code}": "/api/v1/specifications?product_code={product_code}",
    "/ui/designer": "/api/v1/process-definitions",
    "/ui/designer/{key}/{version}": "/api/v1/process-definitions/{key}/versions/{version}",
}


def test_each_page_answers_as_the_api_does_for_every_role_and_organisation(app: Oospath) -> None:
    # REQ: OOS-25
    flask_app = create_app({"OOSPATH": app, "TESTING": True})
    seed_catalogue(app)
    put_agreement_in_force(app, flask_app.extensions["oospath.messaging"].pump)
    client = flask_app.test_client()
    organisations = _party_and_stranger(app)
    tokens = {key: _token(client, user) for key, user in _users(app, organisations).items()}
    values = _path_values(client, tokens[("qa", organisations[0])])
    checked = shown = 0
    for page, resource in MIRRORS.items():
        page_url, api_url = (re.sub(r"{([a-z_]+)}", lambda m: str(values[m.group(1)]), p) for p in (page, resource))
        for (role, org), token in tokens.items():
            api_status = client.get(api_url, headers={"Authorization": f"Bearer {token}"}).status_code
            client.set_cookie("oospath_session", token)
            answered = client.get(page_url)
            client.delete_cookie("oospath_session")
            assert answered.status_code == api_status, f"{page} as {role}@{org}: page {answered.status_code}, " \
                                                       f"API {api_status}"
            shown += answered.status_code == 200
            checked += 1
    assert checked == len(MIRRORS) * len(ROLES) * 2
    assert 0 < shown < checked


def test_pages_need_a_login_and_writes_need_the_csrf_token(app: Oospath) -> None:
    # REQ: OOS-24 OOS-25
    flask_app = create_app({"OOSPATH": app, "TESTING": True})
    seed_catalogue(app)
    put_agreement_in_force(app, flask_app.extensions["oospath.messaging"].pump)
    client = flask_app.test_client()
    organisations = _party_and_stranger(app)
    tokens = {key: _token(client, user) for key, user in _users(app, organisations).items()}
    values = _path_values(client, tokens[("qa", organisations[0])])

    anonymous = client.get(f"/ui/cases/{values['case_id']}")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/ui/login?next=/ui/cases/")

    client.set_cookie("oospath_session", tokens[("qa", organisations[0])])
    forged = client.post(f"/ui/tasks/{values['task_id']}/claim")
    assert forged.status_code == 403 and "CSRF" in forged.text
    api_forged = client.post(f"/api/v1/tasks/{values['task_id']}/claim")  # the cookie alone never writes
    assert api_forged.status_code == 403 and "CSRF" in api_forged.json["detail"]
    task = client.get(f"/api/v1/tasks/{values['task_id']}").json
    assert task["assignee"] is None  # nothing changed

    csrf = re.search(r'name="csrf-token" content="([0-9a-f]{64})"', client.get("/ui/inbox").text).group(1)
    claimed = client.post(f"/ui/tasks/{values['task_id']}/claim", data={"csrf_token": csrf})
    assert claimed.status_code == 302
    assert client.get(f"/api/v1/tasks/{values['task_id']}").json["assignee"] is not None

    page = client.get("/ui/inbox")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    logout = client.post("/ui/logout", data={"csrf_token": csrf})
    assert logout.status_code == 302
    assert client.get("/api/v1/auth/me", headers={
        "Authorization": f"Bearer {tokens[('qa', organisations[0])]}"}).status_code == 401  # revoked
