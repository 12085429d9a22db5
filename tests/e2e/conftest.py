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
from oospath.demo_people import DEMO_PASSWORD
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

    def designer(self) -> dict[str, str]:
        return self.as_("ines.designer", "process_designer")

    def approve(self, key: str, version: int) -> None:
        """QA approves a deployed version with a signature (change control, OOS-24)."""
        response = self.post(f"/api/v1/process-definitions/{key}/versions/{version}/approval",
                             {"signature": self.signature("qa")}, self.persona("qa"))
        assert response.status_code == 200, response.json

    def signature(self, role: str) -> dict[str, str]:
        """What the persona re-enters to sign (OOS-24)."""
        return {"username": PERSONAS[role].user, "password": DEMO_PASSWORD}

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(path, headers=headers or self.as_("auditor", "auditor"))

    def every(self, path: str, headers: dict[str, str] | None = None) -> list[Any]:
        """The items of every page of a paged list, following its `next` links."""
        items: list[Any] = []
        following: str | None = path
        while following is not None:
            response = self.get(following, headers)
            assert response.status_code == 200, response.json
            items += response.json["items"]
            following = response.json["next"]
        return items

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """POST as the user of ``headers``; a task completion is signed with that user's demo password unless
        the body says otherwise (OOS-24: unsigned completions of signed tasks are refused)."""
        headers = headers or self.as_("anna.keller", "qa")
        signed = (path.endswith("/complete") and "data" in (body or {})) or path.endswith("/risk-evaluations")
        if signed and isinstance(body, dict) and "signature" not in body:
            body = {**body, "signature": {"username": headers.get("X-Oospath-User", ""), "password": DEMO_PASSWORD}}
        return self.client.post(path, json=body, headers=headers)

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
            result = self.post(f"/api/v1/tasks/{task['id']}/complete",
                               {"data": data, "signature": self.signature(role)}, self.persona(role))
            assert result.status_code == 200, result.json
            completed.append(task["element_id"])
            if task["element_id"] == stop_after:
                return completed
        raise AssertionError("the case did not finish in 60 steps")


@pytest.fixture
def api(app: Oospath) -> Api:
    flask_app = create_app({"OOSPATH": app, "TESTING": True, "AUTH": "dev-headers"})
    seed_catalogue(app)
    put_agreement_in_force(app, flask_app.extensions["oospath.messaging"].pump)
    return Api(flask_app.test_client())
