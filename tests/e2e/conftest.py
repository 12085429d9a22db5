"""HTTP fixtures: the Flask test client over the shared container, plus a user helper."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from api import create_app
from engine.bootstrap import Oospath
from oospath.demo import seed_catalogue
from oospath.scenarios import PERSONAS


class Api:
    """A test client that speaks as a named user with roles (development identity headers)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def as_(self, user: str, *roles: str) -> dict[str, str]:
        return {"X-Oospath-User": user, "X-Oospath-Roles": ",".join(roles)}

    def persona(self, role: str) -> dict[str, str]:
        persona = PERSONAS[role]
        return self.as_(persona.user, persona.role)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(path, headers=headers or self.as_("auditor", "auditor"))

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(path, json=body, headers=headers or self.as_("anna.keller", "qa"))


@pytest.fixture
def api(app: Oospath) -> Api:
    flask_app = create_app({"OOSPATH": app, "TESTING": True})
    seed_catalogue(app)
    return Api(flask_app.test_client())
