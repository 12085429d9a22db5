"""HTTP fixtures: the Flask test client over the shared container, plus a user helper."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from api import create_app
from engine.bootstrap import Oospath
from engine.clock import FrozenClock
from oospath.demo import put_agreement_in_force, seed_catalogue
from oospath.scenarios import PERSONAS, UPLOADS_BEFORE, form_data


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

    def pump(self) -> None:
        """Let the embedded relay and workers handle what is queued (after a write outside HTTP)."""
        self.client.application.extensions["oospath.messaging"].pump()

    def work_case(self, clock: FrozenClock, case_id: str, scenario: str, stop_after: str | None = None,
                  until_ready: str | None = None) -> list[str]:
        """Each persona completes the ready tasks of its role, reading each task's data as a user would,
        until none is left (or ``stop_after`` is done, or ``until_ready`` is open); returns the completed
        element ids in order."""
        completed: list[str] = []
        for _ in range(60):
            ready = [(role, task) for role in PERSONAS
                     for task in self.get(f"/api/v1/tasks?case_id={case_id}", self.persona(role)).json["items"]]
            if not ready or any(task["element_id"] == until_ready for _, task in ready):
                return completed
            role, task = ready[0]
            clock.advance(timedelta(hours=2))
            for upload in UPLOADS_BEFORE.get(task["element_id"], ()):
                uploaded = self.post(f"/api/v1/cases/{case_id}/records", {
                    "record_type": upload.record_type, "filename": upload.filename, "media_type": upload.media_type,
                    "content_base64": base64.b64encode(upload.content).decode()}, self.persona("qa"))
                assert uploaded.status_code == 201, uploaded.json
            detail = self.get(f"/api/v1/tasks/{task['id']}", self.persona(role)).json
            assert detail["form"] is not None, f"user task {task['element_id']} has no form"
            data = form_data(task["element_id"], scenario, clock.now(), detail["data"])
            result = self.post(f"/api/v1/tasks/{task['id']}/complete", {"data": data}, self.persona(role))
            assert result.status_code == 200, result.json
            completed.append(task["element_id"])
            if task["element_id"] == stop_after:
                return completed
        raise AssertionError("the case did not finish in 60 steps")


@pytest.fixture
def api(app: Oospath) -> Api:
    flask_app = create_app({"OOSPATH": app, "TESTING": True})
    seed_catalogue(app)
    put_agreement_in_force(app, flask_app.extensions["oospath.messaging"].pump)
    return Api(flask_app.test_client())
