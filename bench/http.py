"""`python -m bench http`: oospath over real HTTP (gunicorn, SQLite) vs raw SpiffWorkflow + JSON, one run.

The model of issue 10: start -> N script tasks -> exclusive gateway -> user task (QA lane) -> end, for
N=10 and N=50. The bench creates its users, deploys the BPMN as a process designer and approves it as
QA (change control, OOS-24), then one client with a real bearer token drives each instance: POST start,
GET the task list, POST complete. Raw SpiffWorkflow runs the same BPMN in this process, serializing the
workflow to JSON after each phase (start, completion) and deserializing it before the completion.
The transport floor is three authenticated requests that do nothing (``GET /api/v1/auth/me``) through the same
server: ``ratio_ceiling_n10``/``_n50`` is the ratio raw + JSON would reach if it also paid that floor.
Blocks of the five runs are interleaved so that a change of the machine's load hits all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.parser import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer import DEFAULT_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine.bootstrap import bootstrap
from engine.services import accounts
from engine.settings import Settings

PASSWORD = "bench-only-password-2026"
ORGANISATION = "Bench Manufacturing"
USERS = {"bench.designer": "process_designer", "bench.qa": "qa"}
FORM = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Review", "type": "object",
        "properties": {"approved": {"type": "boolean"}}, "required": ["approved"], "additionalProperties": False}


def model(n: int) -> str:
    """start -> n script tasks -> exclusive gateway -> user task (lane QA) -> end."""
    key = f"bench_n{n}"
    scripts = "".join(
        f'<bpmn:scriptTask id="s{i}" name="Step {i}"><bpmn:incoming>f{i}</bpmn:incoming>'
        f'<bpmn:outgoing>f{i + 1}</bpmn:outgoing><bpmn:script>total = total + {i}</bpmn:script></bpmn:scriptTask>'
        f'<bpmn:sequenceFlow id="f{i}" sourceRef="{"start" if i == 1 else f"s{i - 1}"}" targetRef="s{i}"/>'
        for i in range(1, n + 1))
    refs = "".join(f"<bpmn:flowNodeRef>{e}</bpmn:flowNodeRef>" for e in ["start", "gw", "review", "done", "skip"])
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="{key}_definitions"
  targetNamespace="http://oospath.example/bench">
<bpmn:process id="{key}" name="Bench N={n}" isExecutable="true">
<bpmn:laneSet id="lanes"><bpmn:lane id="lane_qa" name="QA">{refs}</bpmn:lane></bpmn:laneSet>
<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
{scripts}
<bpmn:exclusiveGateway id="gw" default="to_skip"><bpmn:incoming>f{n + 1}</bpmn:incoming>
<bpmn:outgoing>to_review</bpmn:outgoing><bpmn:outgoing>to_skip</bpmn:outgoing></bpmn:exclusiveGateway>
<bpmn:sequenceFlow id="f{n + 1}" sourceRef="s{n}" targetRef="gw"/>
<bpmn:sequenceFlow id="to_review" sourceRef="gw" targetRef="review">
<bpmn:conditionExpression>total &gt; 0</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="to_skip" sourceRef="gw" targetRef="skip"/>
<bpmn:userTask id="review" name="Review"><bpmn:extensionElements><spiffworkflow:properties>
<spiffworkflow:property name="formJsonSchemaFilename" value="review.schema.json"/>
</spiffworkflow:properties></bpmn:extensionElements>
<bpmn:incoming>to_review</bpmn:incoming><bpmn:outgoing>f_done</bpmn:outgoing></bpmn:userTask>
<bpmn:sequenceFlow id="f_done" sourceRef="review" targetRef="done"/>
<bpmn:endEvent id="done"><bpmn:incoming>f_done</bpmn:incoming></bpmn:endEvent>
<bpmn:endEvent id="skip"><bpmn:incoming>to_skip</bpmn:incoming></bpmn:endEvent>
</bpmn:process>
</bpmn:definitions>
'''


# -- raw SpiffWorkflow + JSON ------------------------------------------------------------------------------------


class RawEngine:
    """The same BPMN with SpiffWorkflow alone; the workflow goes through JSON between the two phases."""

    def __init__(self, n: int) -> None:
        parser = SpiffBpmnParser()
        parser.add_bpmn_str(model(n).encode())
        self.spec = parser.get_spec(f"bench_n{n}")
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(DEFAULT_CONFIG))

    def instance(self) -> None:
        workflow = BpmnWorkflow(self.spec)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data["total"] = 0
        workflow.do_engine_steps()
        stored = self.serializer.serialize_json(workflow)  # phase 1: started, waiting for the user task
        workflow = self.serializer.deserialize_json(stored)
        task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
        task.set_data(approved=True)
        task.run()
        workflow.do_engine_steps()
        self.serializer.serialize_json(workflow)  # phase 2: completed
        assert workflow.is_completed()


# -- oospath over HTTP -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def create_users(settings: Settings) -> None:
    app = bootstrap(settings)
    now = app.clock.now()
    with app.uow() as uow:
        accounts.add_organisation(uow.session, now, ORGANISATION, "manufacturer")
        for user, role in USERS.items():
            accounts.add_user(uow.session, now, user, user, PASSWORD, [(ORGANISATION, role)])
        uow.commit()
    app.db.dispose()


class Client:
    """One user over HTTP with a bearer token (urllib: a new connection per request, as gunicorn's sync
    workers close each one)."""

    def __init__(self, base: str, user: str) -> None:
        self.base, self.headers = base, {"Content-Type": "application/json"}
        token = self.post("/api/v1/auth/token", {"username": user, "password": PASSWORD})["access_token"]
        self.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any, expected: int) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data, self.headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as refused:
            status, payload = refused.code, refused.read()
        assert status == expected, (path, status, payload[:500])
        return json.loads(payload)

    def post(self, path: str, body: Any, expected: int = 200) -> Any:
        return self.call("POST", path, body, expected)

    def get(self, path: str) -> Any:
        return self.call("GET", path, None, 200)


def deploy_and_approve(designer: Client, qa: Client, n: int) -> None:
    files = {f"bench_n{n}.bpmn": model(n), "review.schema.json": json.dumps(FORM)}
    deployed = designer.post("/api/v1/process-definitions", {"files": files}, 201)
    version = deployed["items"][0]["version"]
    qa.post(f"/api/v1/process-definitions/bench_n{n}/versions/{version}/approval",
            {"signature": {"username": "bench.qa", "password": PASSWORD}})


def http_instance(qa: Client, n: int) -> None:
    """One instance as a user drives it: start, read the task list, complete the review."""
    started = qa.post("/api/v1/process-instances", {"key": f"bench_n{n}", "data": {"total": 0}}, 201)
    tasks = qa.get("/api/v1/tasks?role=qa")["items"]
    task = next(t for t in tasks if t["instance_id"] == started["id"])
    qa.post(f"/api/v1/tasks/{task['id']}/complete", {"data": {"approved": True}})


def floor_instance(qa: Client) -> None:
    """The transport floor of one instance: three authenticated requests that do no work (who am I)."""
    for _ in range(3):
        qa.get("/api/v1/auth/me")


def wait_until_serving(base: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"the server stopped (exit {server.returncode})")
        try:
            with urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=1):
                return
        except OSError:  # not listening yet (URLError is an OSError)
            time.sleep(0.1)
    raise SystemExit("the server did not answer within 60 s")


def db_bytes(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, size = (connection.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "page_size"))
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * size)


def timed(run: Callable[[], None], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        run()
    return time.perf_counter() - started


def measure(base: str, db: Path, args: argparse.Namespace) -> dict[str, float]:
    designer, qa = Client(base, "bench.designer"), Client(base, "bench.qa")
    runs: dict[str, Callable[[], None]] = {}
    for n in (10, 50):
        deploy_and_approve(designer, qa, n)
        raw = RawEngine(n)
        runs[f"n{n}"] = lambda n=n: http_instance(qa, n)  # type: ignore[misc]
        runs[f"raw_json_n{n}"] = raw.instance
    runs["floor"] = lambda: floor_instance(qa)
    for run in runs.values():
        timed(run, args.warmup)
    before = db_bytes(db)
    timed(runs["n10"], args.instances)
    bytes_per_instance = (db_bytes(db) - before) / args.instances
    seconds = dict.fromkeys(runs, 0.0)
    block = max(1, args.instances // args.rounds)
    for _ in range(args.rounds):  # interleaved: each block of each run in turn
        for name, run in runs.items():
            seconds[name] += timed(run, block)
    figures = {f"{name}_inst_s": round(block * args.rounds / spent, 1) for name, spent in seconds.items()}
    figures["ratio_n10"] = round(figures["n10_inst_s"] / figures["raw_json_n10_inst_s"], 3)
    figures["ratio_n50"] = round(figures["n50_inst_s"] / figures["raw_json_n50_inst_s"], 3)
    figures["db_bytes_per_instance_n10"] = round(bytes_per_instance)
    # What the HTTP transport and authentication alone allow: raw + JSON plus three requests that do nothing.
    floor_s = 1 / figures["floor_inst_s"]
    for n in (10, 50):
        raw_s = 1 / figures[f"raw_json_n{n}_inst_s"]
        figures[f"ratio_ceiling_n{n}"] = round(raw_s / (raw_s + floor_s), 3)
    figures["instances_each"] = block * args.rounds
    return figures


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench http")
    parser.add_argument("--instances", type=int, default=100, help="instances of each run after warm-up")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved blocks per run")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="oospath-bench-http-") as directory:
        db = Path(directory) / "oospath.db"
        env = {**os.environ, "OOSPATH_VAR_DIR": directory, "OOSPATH_DATABASE_URL": f"sqlite:///{db}",
               "OOSPATH_AUTH": "token", "OOSPATH_ENV": "development"}
        create_users(Settings(var_dir=Path(directory), database_url=env["OOSPATH_DATABASE_URL"]))
        port = free_port()
        command = [sys.executable, "-c", "from oospath.cli import main; main()", "serve", "--port", str(port),
                   "--workers", "1"]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_serving(base, server)
            figures = measure(base, db, args)
        finally:
            server.terminate()
            server.wait(timeout=60)
    n = figures["instances_each"]
    print(f"start -> N script tasks -> gateway -> user task -> end; {n} instances each, one client, interleaved")
    for size in (10, 50):
        print(f"  N={size}: oospath (gunicorn, 1 worker, SQLite) {figures[f'n{size}_inst_s']:7.1f} inst/s;"
              f" raw SpiffWorkflow + JSON {figures[f'raw_json_n{size}_inst_s']:7.1f} inst/s;"
              f" ratio {figures[f'ratio_n{size}']:.3f}")
    print(f"  database growth per instance (N=10): {figures['db_bytes_per_instance_n10'] / 1024:.1f} KiB")
    print(f"  transport floor: three authenticated requests doing nothing {1000 / figures['floor_inst_s']:.2f} ms;"
          f" raw + JSON + that floor would give ratios {figures['ratio_ceiling_n10']:.3f} (N=10),"
          f" {figures['ratio_ceiling_n50']:.3f} (N=50)")
    print(json.dumps(figures))
