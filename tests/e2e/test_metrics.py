"""/metrics for Prometheus and the structured JSON log lines an operator follows a case by."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from engine.bootstrap import Oospath, bootstrap
from engine.clock import FrozenClock
from engine.domain import catalogue
from engine.logging_setup import JsonLineFormatter, log_context
from engine.services import accounts
from engine.settings import Settings
from engine.store.models import BatchRow
from oospath.demo import put_agreement_in_force, seed_catalogue
from oospath.scenarios import EXCEPTIONAL_USE_REASON
from tests.conftest import REPO
from workers.transport.base import Message

SCRAPE_TOKEN = "scrape-" + "0123456789abcdef" * 3
PASSWORD = "metrics-password-1"
ROLES = ("qa", "physician", "auditor", "admin")


@pytest.fixture
def scraped(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[tuple[Oospath, Flask]]:
    """An application with a scrape token, token authentication and one user per role at the manufacturer."""
    settings = Settings(var_dir=tmp_path / "var", database_url=database_url, smtp_url=None,
                        processes_dir=REPO / "processes", metrics_token=SCRAPE_TOKEN)
    container = bootstrap(settings, clock, migrate=False)
    flask_app = create_app({"OOSPATH": container, "TESTING": True, "AUTH": "token"})
    seed_catalogue(container)
    put_agreement_in_force(container, flask_app.extensions["oospath.messaging"].pump)
    with container.uow() as uow:
        batch = uow.session.get(BatchRow, catalogue.BATCH_VIABILITY_OOS)
        assert batch is not None
        for role in ROLES:
            accounts.add_user(uow.session, clock.now(), f"metrics.{role}", role, PASSWORD,
                              [(batch.manufacturer, role)])
        uow.commit()
    yield container, flask_app
    container.db.dispose()


def _bearer(client: FlaskClient, role: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", json={"username": f"metrics.{role}", "password": PASSWORD})
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def _scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"})
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def _value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def _open_case(client: FlaskClient) -> str:
    opened = client.post("/api/v1/cases", json={"batch_id": catalogue.BATCH_VIABILITY_OOS,
                                                "exceptional_use_reason": EXCEPTIONAL_USE_REASON},
                         headers=_bearer(client, "qa"))
    assert opened.status_code == 201, opened.json
    return str(opened.json["id"])


def test_figures_of_an_open_case(scraped: tuple[Oospath, Flask]) -> None:
    """An operator sees the open case, its QA tasks, the steps' latency and an empty outbox; no case data.

    REQ: OOS-13 (deadlines escalated and missed are exposed), OOS-25 (counts only, labels from fixed sets)
    """
    _, flask_app = scraped
    client = flask_app.test_client()
    case_id = _open_case(client)
    samples = _scrape(client)
    open_cases = {dict(labels)["state"]: v for (name, labels), v in samples.items() if name == "oospath_open_cases"}
    assert sum(open_cases.values()) >= 1 and open_cases["awaiting_user_task"] >= 1
    assert _value(samples, "oospath_open_tasks", role="qa") >= 1
    assert _value(samples, "oospath_open_tasks", role="physician") == 0
    assert _value(samples, "oospath_step_duration_seconds_count", operation="start_instance") >= 2  # agreement, case
    assert _value(samples, "oospath_step_duration_seconds_count", operation="complete_worker_task") >= 1
    assert _value(samples, "oospath_outbox_backlog") == 0  # the embedded relay published everything
    assert _value(samples, "oospath_deadline_breaches_total", requirement="OOS-13") == 0
    assert _value(samples, "oospath_deadline_escalations_total", requirement="OOS-13") == 0
    assert _value(samples, "oospath_database_up") == 1
    text = client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}).get_data(as_text=True)
    assert case_id not in text and catalogue.BATCH_VIABILITY_OOS not in text


def test_who_may_scrape(scraped: tuple[Oospath, Flask]) -> None:
    """Prometheus with the scrape token, admins and auditors; nobody else.

    REQ: OOS-24, OOS-25 (least privilege: no login for the scraper, no figures for case roles)
    """
    _, flask_app = scraped
    client = flask_app.test_client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 50})
    assert wrong.status_code == 401 and wrong.mimetype == "application/problem+json"
    refused = client.get("/metrics", headers=_bearer(client, "physician"))
    assert refused.status_code == 403 and "OOS-25" in refused.json["detail"]
    assert client.get("/metrics", headers=_bearer(client, "qa")).status_code == 403
    for role in ("auditor", "admin"):
        assert client.get("/metrics", headers=_bearer(client, role)).status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}).status_code == 200
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/metrics"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/plain"]
    assert operation["x-oospath-policy"]["service_token"] == "metrics_token"


def test_retries_and_dead_letters_are_counted(scraped: tuple[Oospath, Flask]) -> None:
    """A message that keeps failing is retried, then dead-lettered and shown as an open incident.

    REQ: OOS-16 (a capture that cannot be done is visible, never lost)
    """
    _, flask_app = scraped
    client = flask_app.test_client()
    transport = flask_app.extensions["oospath.messaging"].transport
    transport.publish_batch([Message("m-fails", "work.capture_record", {"message_id": "m-fails"})])

    def failing(message: Message) -> None:
        raise RuntimeError("record store unavailable")

    transport.consume("records", failing)
    samples = _scrape(client)
    attempts = transport.retry.max_attempts
    assert _value(samples, "oospath_message_retries_total", queue="records") == attempts - 1
    assert _value(samples, "oospath_dead_letters_total", queue="records") == 1
    assert _value(samples, "oospath_incidents", queue="records", status="open") == 1


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_json_log_lines_of_a_step_carry_the_case(scraped: tuple[Oospath, Flask], json_lines: io.StringIO) -> None:
    """Each step's log line is one JSON object naming the case, instance and request it concerns.

    REQ: OOS-24 (attributable: an operator finds every line of a case)
    """
    _, flask_app = scraped
    client = flask_app.test_client()
    case_id = _open_case(client)
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    steps = [line for line in lines if line["logger"] == "engine.services.instruments"
             and line.get("case_id") == case_id]
    started = next(line for line in steps if line["message"].startswith("start_instance step"))
    assert {"time", "level", "logger", "message", "instance_id", "request_id"} <= set(started)
    assert started["time"].endswith("+00:00") and started["level"] == "INFO"
    assert any(line["message"].startswith("complete_worker_task step") and line.get("task_id") for line in steps)
    logging.getLogger("oospath.test").info("outside any request")
    assert "case_id" not in json.loads(json_lines.getvalue().splitlines()[-1])  # ids end with their scope


def test_log_context_nests_and_ends() -> None:
    """Ids of a message handled inside a request are added, then removed when the message is done.

    REQ: OOS-24
    """
    stream = io.StringIO()
    logger = logging.getLogger("oospath.test.nesting")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with log_context(request_id="r1"):
            with log_context(message_id="m1", case_id="c1"):
                logger.info("inner")
            logger.info("outer")
        logger.info("none")
    finally:
        logger.removeHandler(handler)
    inner, outer, none = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inner["request_id"], inner["message_id"], inner["case_id"]) == ("r1", "m1", "c1")
    assert outer["request_id"] == "r1" and "case_id" not in outer
    assert "request_id" not in none


STEP_IN_A_PROCESS = """
from engine.services.instruments import Instruments
Instruments().step_seconds.labels(operation="fire_timer").observe(0.2)
"""
SCRAPE_IN_A_PROCESS = """
from prometheus_client import generate_latest
from engine.bootstrap import bootstrap
from engine.services.metrics import scrape_registry
print(generate_latest(scrape_registry(bootstrap(migrate=False))).decode())
"""


def test_multiprocess_mode_sums_the_processes(database_url: str, tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, the scheduler's and workers' steps appear in the API's /metrics.

    REQ: OOS-13 (the timers the scheduler fires are seen by the operator)
    """
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "OOSPATH_DATABASE_URL": database_url,
           "OOSPATH_VAR_DIR": str(tmp_path / "var")}
    for _ in range(2):  # two scheduler processes, one timer each
        subprocess.run([sys.executable, "-c", STEP_IN_A_PROCESS], env=env, cwd=REPO, check=True)
    scraped = subprocess.run([sys.executable, "-c", SCRAPE_IN_A_PROCESS], env=env, cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(scraped) for s in family.samples}
    assert _value(samples, "oospath_step_duration_seconds_count", operation="fire_timer") == 2
    assert _value(samples, "oospath_database_up") == 1
