"""One expression can never stop the server (issue 9 item 2; OOS-24 change control, OOS-25 access).

What a designer can see in a diagram (``9**9**9``, ``'x' * 10**10``, recursion) is refused at
deploy, naming the element and the expression. What evades that check (the same values
computed through variables) is stopped by the run-time budget: the request gets a 422
problem naming the element, nothing of the step is saved, an incident names the instance,
the element and the reason, and meanwhile other clients' /healthz and task list answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from api import create_app
from engine.bootstrap import Oospath
from engine.services import instances
from engine.services.identity import SYSTEM
from engine.services.runtime import ExpressionStopped
from engine.store.models import Incident, ProcessInstance
from tests.integration.conftest import QA, deploy

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
QA_HEADERS = {"X-Oospath-User": "anna.keller", "X-Oospath-Roles": "qa"}
DESIGNER_HEADERS = {"X-Oospath-User": "ines.designer", "X-Oospath-Roles": "process_designer"}
# Generous liveness bounds (not speed measurements: see bench/expressions.py).
STOPPED_WITHIN_S = 10.0
ANSWERED_WITHIN_S = 5.0


def script_bundle(script: str, fixture: str = "script.bpmn") -> dict[str, bytes]:
    return {fixture: (HOSTILE / fixture).read_text().replace("SCRIPT", script).encode()}


def decision_bundle(output: str = '"ok"', input_entry: str = "-") -> dict[str, bytes]:
    dmn = (HOSTILE / "decision.dmn").read_text().replace("INPUT", input_entry).replace("OUTPUT", output)
    return {"decision.bpmn": (HOSTILE / "decision.bpmn").read_bytes(), "decision.dmn": dmn.encode()}


def xml_text(source: str) -> str:
    return source.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.fixture
def client(app: Oospath) -> FlaskClient:
    return create_app({"OOSPATH": app, "TESTING": True, "AUTH": "dev-headers"}).test_client()


def deploy_via_api(client: FlaskClient, files: dict[str, bytes]) -> Any:
    return client.post("/api/v1/process-definitions", headers=DESIGNER_HEADERS,
                       json={"files": {name: content.decode() for name, content in files.items()}})


# ------------------------------------------------------------------ refused at deploy


@pytest.mark.parametrize(("script", "reason"), [
    ("y = 9**9**9", "exponent too large: the result would have about 369,693,100 digits"),
    ("y = 10**10**7", "exponent too large: the result would have about 10,000,001 digits"),
    ("y = 2**100000", "exponent too large"),
    ("y = 'x' * 10**10", "repetition too large: the result would have 10,000,000,000 items"),
    ("y = [0] * 10**9", "repetition too large"),
    ("f = lambda n: f(n - 1)\ny = f(10**6)", "lambda is not allowed"),
    ("def f(n):\n    return f(n)\ny = f(1)", "function definition (def) is not allowed"),
])
def test_visible_hostile_script_is_refused_at_deploy_naming_element_and_expression(
    client: FlaskClient, script: str, reason: str
) -> None:
    response = deploy_via_api(client, script_bundle(xml_text(script)))
    assert response.status_code == 422, response.json
    [problem] = response.json["problems"]
    assert problem["element_id"] == "compute"
    assert reason in problem["reason"]
    assert script.splitlines()[0] in problem["reason"]  # the expression, as written


@pytest.mark.parametrize(("output", "input_entry", "element", "reason"), [
    ("9**9**9", "-", "rule_only_result", "exponent too large"),
    ("'x' * 10**10", "-", "rule_only_result", "repetition too large"),
    ('"ok"', "> 10**10**7", "rule_only_n", "exponent too large"),
    ('"ok"', "in [0] * 10**9", "rule_only_n", "repetition too large"),
])
def test_visible_hostile_dmn_cell_is_refused_at_deploy_naming_the_cell(
    client: FlaskClient, output: str, input_entry: str, element: str, reason: str
) -> None:
    response = deploy_via_api(client, decision_bundle(xml_text(output), xml_text(input_entry)))
    assert response.status_code == 422, response.json
    [problem] = response.json["problems"]
    assert problem["element_id"] == element
    assert reason in problem["reason"]


# ------------------------------------------------------------------ stopped at run time


class Bystander:
    """Another client polling /healthz and its task list while the hostile request runs."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.slowest = 0.0
        self.statuses: list[int] = []

    def poll_while(self, busy: Callable[[], bool]) -> None:
        while busy() or not self.statuses:
            for path in ("/healthz", "/api/v1/tasks"):
                started = time.monotonic()
                response = self.client.get(path, headers=QA_HEADERS)
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.statuses.append(response.status_code)


def run_beside_bystander(app: Oospath, hostile: Callable[[], Any]) -> tuple[Any, Bystander]:
    """Run ``hostile`` in a thread while a bystander polls; fail (not hang) if it never ends."""
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("response", hostile()), daemon=True)
    bystander = Bystander(create_app({"OOSPATH": app, "TESTING": True, "AUTH": "dev-headers"}).test_client())
    started = time.monotonic()
    worker.start()
    bystander.poll_while(lambda: worker.is_alive() and time.monotonic() - started < STOPPED_WITHIN_S)
    worker.join(timeout=0.1)
    assert not worker.is_alive(), f"the hostile request still runs after {STOPPED_WITHIN_S} s"
    assert set(bystander.statuses) == {200}
    assert bystander.slowest < ANSWERED_WITHIN_S
    return outcome["response"], bystander


def open_incidents(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get("/api/v1/incidents?status=open", headers=QA_HEADERS)
    assert response.status_code == 200, response.json
    return [item for item in response.json["items"] if item["queue"] == "expressions"]


@pytest.mark.parametrize("script", [
    "n = 9\ny = n**n**n",
    "n = 10\ny = n**n**7",
    "s = 'x'\nt = s * (10**9)",
    "s = 'x' * 1000\nn = 10**7\nt = s * n",
    "a = [0]\n" + "\n".join(["a = [a, a, a, a]"] * 12),
    "a = [1] * 900000\nb = [1] * 900000\n" + "c = a == b\n" * 3000,
])
def test_hostile_script_at_start_is_stopped_with_a_problem_and_an_incident_while_the_api_answers(
    app: Oospath, client: FlaskClient, script: str
) -> None:
    deploy(app, script_bundle(xml_text(script)))
    response, _ = run_beside_bystander(app, lambda: client.post(
        "/api/v1/process-instances", headers=QA_HEADERS, json={"key": "hostile_script", "data": {}}))
    assert response.status_code == 422, response.json
    assert response.json["title"] == "Process expression stopped"
    assert response.json["element_id"] == "compute"
    assert "stopped at element 'compute'" in response.json["detail"]
    [incident] = open_incidents(client)
    assert incident["id"] == response.json["incident_id"]
    assert incident["body"]["element_id"] == "compute"
    assert incident["body"]["instance_id"] is None  # nothing of the start was saved
    assert incident["error"] in response.json["detail"]
    with app.uow() as uow:
        assert uow.session.query(ProcessInstance).count() == 0


@pytest.mark.parametrize(("output", "input_entry", "data"), [
    ("n ** n ** n", "-", {"n": 9}),
    ("'x' * n", "-", {"n": 10**10}),
    ('"ok"', "? ** ? ** ? > 0", {"n": 9}),
    ("[n] * n", "-", {"n": 10**9}),
])
def test_hostile_dmn_cell_is_stopped_with_a_problem_and_an_incident_while_the_api_answers(
    app: Oospath, client: FlaskClient, output: str, input_entry: str, data: dict[str, Any]
) -> None:
    deploy(app, decision_bundle(xml_text(output), xml_text(input_entry)))
    response, _ = run_beside_bystander(app, lambda: client.post(
        "/api/v1/process-instances", headers=QA_HEADERS, json={"key": "hostile_decision", "data": data}))
    assert response.status_code == 422, response.json
    assert response.json["element_id"] == "decide"
    [incident] = open_incidents(client)
    assert incident["body"] == {"instance_id": None, "case_id": None, "process": "hostile_decision v1",
                                "element_id": "decide"}


def test_hostile_script_after_a_user_task_leaves_the_task_open_and_an_incident_on_the_instance(
    app: Oospath, client: FlaskClient
) -> None:
    deploy(app, script_bundle("y = n ** n ** n", "later.bpmn"))
    started = client.post("/api/v1/process-instances", headers=QA_HEADERS, json={"key": "hostile_later", "data": {}})
    assert started.status_code == 201, started.json
    instance_id = started.json["id"]
    [task] = client.get("/api/v1/tasks", headers=QA_HEADERS).json["items"]
    response, _ = run_beside_bystander(app, lambda: client.post(
        f"/api/v1/tasks/{task['id']}/complete", headers=QA_HEADERS, json={"data": {"n": 9}}))
    assert response.status_code == 422, response.json
    assert "exponent too large" in response.json["detail"]
    [incident] = open_incidents(client)
    assert incident["body"]["instance_id"] == instance_id
    assert incident["body"]["element_id"] == "compute"
    # nothing of the step was saved: the task is still open, the instance still running
    assert [t["id"] for t in client.get("/api/v1/tasks", headers=QA_HEADERS).json["items"]] == [task["id"]]
    assert client.get(f"/api/v1/process-instances/{instance_id}", headers=QA_HEADERS).json["status"] == "running"
    # a second attempt does not open a second incident
    again = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=QA_HEADERS, json={"data": {"n": 9}})
    assert again.status_code == 422
    assert [i["id"] for i in open_incidents(client)] == [incident["id"]]
    assert open_incidents(client)[0]["attempts"] == 2
    # there is no message to re-publish: retrying says what to do instead
    retried = client.post(f"/api/v1/incidents/{incident['id']}/retry", headers=QA_HEADERS)
    assert retried.status_code == 409
    assert "deploy a corrected version" in retried.json["detail"]


# ------------------------------------------------------------------ only JSON values are stored


@pytest.mark.parametrize(("script", "reason"), [
    ("y = {1, 2}", "variable 'y' cannot be stored: the value is a set"),
    ("y = 1j", "the value is a complex"),
    ("y = b'x'", "the value is a bytes"),
    ("y = 2**70", "the integer is outside -2**63 .. 2**63-1"),
    ("y = float('nan')", "the number is nan"),
    ("y = [1e308 * 10]", "the number at [0] is inf"),
    ("y = {}\ny[1] = 'one'", "the key 1 at top level is not text"),
    ("s = 'x' * 600000\ny = s + s", "concatenation too large"),
    ("y = [1]\n" + "y = [y]\n" * 40, "nested more than 32 levels"),
])
def test_a_value_json_cannot_hold_is_refused_at_its_element_not_at_save(
    app: Oospath, script: str, reason: str
) -> None:
    deploy(app, script_bundle(xml_text(script)))
    with app.uow() as uow, pytest.raises(ExpressionStopped) as stopped:
        instances.start_instance(uow.session, app.runtime, "hostile_script", {}, QA)
    assert "stopped at element 'compute'" in stopped.value.detail
    assert reason in stopped.value.detail
    with app.uow() as uow:
        [incident] = uow.session.query(Incident).all()
        assert reason in incident.error


def test_a_dmn_output_json_cannot_hold_is_refused_at_the_business_rule_task(app: Oospath) -> None:
    deploy(app, decision_bundle("{1, 2}"))
    with app.uow() as uow, pytest.raises(ExpressionStopped, match="variable 'result' cannot be stored: the value "
                                                                  "is a set") as stopped:
        instances.start_instance(uow.session, app.runtime, "hostile_decision", {"n": 1}, SYSTEM)
    assert stopped.value.extra["element_id"] == "decide"


def test_a_hostile_timer_expression_is_stopped_at_its_element(app: Oospath) -> None:
    timer = (HOSTILE / "timer.bpmn").read_text().replace("EXPRESSION", xml_text("'PT' + '1' * n + 'H'"))
    deploy(app, {"timer.bpmn": timer.encode()})
    with app.uow() as uow, pytest.raises(ExpressionStopped, match="repetition too large") as stopped:
        instances.start_instance(uow.session, app.runtime, "hostile_timer", {"n": 10**9}, QA)
    assert stopped.value.extra["element_id"] == "wait"


def test_a_harmless_script_and_decision_still_run(app: Oospath, client: FlaskClient) -> None:
    """The budget refuses nothing a pathway needs: sizeable but bounded values are stored."""
    deploy(app, script_bundle(xml_text("n = 2**62\nlabel = f'{n:>20}' + 'x' * 1000\nitems = [[1, 2]] * 1000")))
    deploy(app, decision_bundle("n * 2"))
    for key, data in (("hostile_script", {}), ("hostile_decision", {"n": 21})):
        response = client.post("/api/v1/process-instances", headers=QA_HEADERS, json={"key": key, "data": data})
        assert response.status_code == 201, response.json
    assert open_incidents(client) == []
