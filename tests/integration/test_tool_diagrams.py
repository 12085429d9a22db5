"""Diagrams exported by other tools (the BPMN MIWG suite, vendored in tests/fixtures/miwg/):
each is deployed through the definitions service and, when accepted, started; or refused with
a message a designer can act on. Validate and deploy give the same verdict in the same words.

Modelling tools mark processes ``isExecutable="false"``, so each file is tried as exported
and once more with its processes marked executable (what a designer does before deploying).
The table of outcomes is printed and written to tests/output/miwg_conformance.md.

# REQ: OOS-24 (a deployed definition is exactly what was validated)
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from engine.bootstrap import Oospath
from engine.bpmn.errors import BpmnLoadError, BpmnProblem
from engine.bpmn.loader import validate_paths
from engine.services import definitions, instances, timers
from engine.services.errors import ServiceError
from engine.store.models import Timer
from tests.integration.conftest import ADMIN, deploy

MIWG = Path(__file__).resolve().parents[1] / "fixtures" / "miwg"
OUTPUT = Path(__file__).resolve().parents[1] / "output" / "miwg_conformance.md"
FILES = sorted(MIWG.glob("*/*.bpmn"))
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
DEPLOYED = "deployed and started"

# A refusal must not quote library internals, dump XML or stop mid-sentence.
LIBRARY_TEXT = re.compile(r"Traceback|NotImplementedError|SpiffWorkflow|KeyError|TypeError|AttributeError|"
                          r"<Element |object at 0x|<[^>]{300,}")
CUT_OFF = re.compile(r"(\b(of|of type|the|a|an|to|for|in|with|and)|[:,(])$")
# Constructs other tools write that oospath must now accept (issue 9 item 9).
PORTABLE = re.compile(r"has no name|in quotes|[Dd]ata ?[Ss]tore|Time Specification")


def marked_executable(content: bytes) -> bytes:
    tree = etree.fromstring(content).getroottree()
    for process in tree.iter(f"{BPMN}process"):
        process.set("isExecutable", "true")
    return etree.tostring(tree, xml_declaration=True, encoding=tree.docinfo.encoding or "UTF-8")


def deploy_and_start(app: Oospath, name: str, content: bytes) -> tuple[str, list[BpmnProblem]]:
    try:
        outcomes = deploy(app, {name: content})
    except BpmnLoadError as error:
        return "refused: " + " | ".join(str(p) for p in error.problems), error.problems
    try:
        with app.uow() as uow:
            for outcome in outcomes:
                definition = outcome.definition
                instances.start_instance(uow.session, app.runtime, definition.key, {"case_id": None}, ADMIN,
                                         version=definition.version)
            uow.commit()
    except ServiceError as error:
        return f"deployed, start refused: {error}", []
    return DEPLOYED, []


def located(problem: BpmnProblem) -> tuple[str, int | None, str | None, str | None, str]:
    return Path(problem.file).name, problem.line, problem.element_id, problem.element_type, problem.reason


def test_tool_exports_deploy_and_start_or_are_refused_in_the_designers_words(app: Oospath, tmp_path: Path) -> None:
    rows, problems_seen = [], []
    for path in FILES:
        label = f"{path.parent.name}/{path.name}"
        exported, _ = deploy_and_start(app, path.name, path.read_bytes())
        executable = marked_executable(path.read_bytes())
        verdict, problems = deploy_and_start(app, path.name, executable)
        (tmp_path / path.name).write_bytes(executable)
        validated = validate_paths([tmp_path / path.name])
        assert sorted(map(located, validated)) == sorted(map(located, problems)), label
        rows.append((label, exported, verdict))
        problems_seen.extend((label, problem) for problem in problems)

    table = _table(rows)
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(table, encoding="utf-8")
    print(table)
    for label, problem in problems_seen:
        assert not LIBRARY_TEXT.search(problem.reason), (label, problem)
        assert not CUT_OFF.search(problem.reason.strip()), (label, problem)
        assert problem.element_id is not None or problem.reason.startswith("no process"), (label, problem)
        assert not PORTABLE.search(problem.reason), (label, problem)
    started_as_exported = sum(exported == DEPLOYED for _, exported, _ in rows)
    started_when_executable = sum(verdict == DEPLOYED for _, _, verdict in rows)
    assert len(rows) >= 100 and len({row[0].split("/")[0] for row in rows}) >= 7
    assert started_as_exported >= 4 and started_when_executable >= 11, table.splitlines()[:4]


def _table(rows: list[tuple[str, str, str]]) -> str:
    exported = Counter(DEPLOYED if e == DEPLOYED else "refused" for _, e, _ in rows)
    executable = Counter(DEPLOYED if v == DEPLOYED else "refused" for _, _, v in rows)
    lines = [
        f"# MIWG tool exports: {len(rows)} files",
        f"As exported: {exported[DEPLOYED]} deployed and started, {exported['refused']} refused.",
        f"Marked executable: {executable[DEPLOYED]} deployed and started, {executable['refused']} refused.",
        "",
        "| file | as exported | marked executable |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {_cell(e)} | {_cell(v)} |" for label, e, v in rows]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")[:400]


@pytest.mark.parametrize(("kind", "value"), [("timeDuration", "P7D"), ("timeDate", "DATE")])
def test_translated_iso8601_timer_is_due_by_the_injected_clock_and_fires(app: Oospath, kind: str, value: str) -> None:
    """A bare ``P7D`` or date (as every BPMN tool writes it) is due seven days later by the engine's clock."""
    due = (app.runtime.clock.now() + timedelta(days=7)).replace(microsecond=0)
    value = due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value == "DATE" else value
    timer_event = (
        f'<intermediateCatchEvent xmlns="{BPMN[1:-1]}" id="wait_seven_days"><incoming>to_wait</incoming>'
        f'<outgoing>from_wait</outgoing><timerEventDefinition><{kind}>{value}</{kind}>'
        f"</timerEventDefinition></intermediateCatchEvent>"
    )
    bpmn = _timer_process(timer_event)
    [outcome] = deploy(app, {"wait.bpmn": bpmn})
    with app.uow() as uow:
        row = instances.start_instance(uow.session, app.runtime, outcome.definition.key, {"case_id": None}, ADMIN)
        uow.commit()
        instance_id = row.id
    started = app.runtime.clock.now()
    with app.uow() as uow:
        [timer] = uow.session.query(Timer).filter_by(instance_id=instance_id).all()
        assert _utc(timer.due_at) == _utc(started + timedelta(days=7))
        assert timers.due_timer_ids(uow.session, started + timedelta(days=6)) == []
    app.runtime.clock.advance(timedelta(days=7))
    with app.uow() as uow:
        assert timers.fire_timer(uow.session, app.runtime, timer.id)
        uow.commit()
    with app.uow() as uow:
        assert instances.list_instances(uow.session, key="waiting")[0].status == "completed"


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)


def _timer_process(timer_event: str) -> bytes:
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{BPMN[1:-1]}" id="d" targetNamespace="urn:t">
  <process id="waiting" isExecutable="true">
    <startEvent id="start"><outgoing>to_wait</outgoing></startEvent>
    <sequenceFlow id="to_wait" sourceRef="start" targetRef="wait_seven_days"/>
    {timer_event}
    <sequenceFlow id="from_wait" sourceRef="wait_seven_days" targetRef="end"/>
    <endEvent id="end"><incoming>from_wait</incoming></endEvent>
  </process>
</definitions>
'''.encode()


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16"])
def test_diagram_in_its_declared_encoding_deploys_as_it_validates(app: Oospath, tmp_path: Path, encoding: str) -> None:
    """Deploy stores the file in its own encoding's text; no 500 for a non-UTF-8 upload."""
    name = "Qualitätsprüfung der Charge"
    text = _timer_process("").decode().replace('encoding="UTF-8"', f'encoding="{encoding}"').replace(
        'id="waiting"', f'id="waiting" name="{name}"').replace('targetRef="wait_seven_days"', 'targetRef="end"')
    text = text.replace('<sequenceFlow id="from_wait" sourceRef="wait_seven_days" targetRef="end"/>', "")
    content = text.encode(encoding)
    (tmp_path / "charge.bpmn").write_bytes(content)
    assert validate_paths([tmp_path / "charge.bpmn"]) == []
    [outcome] = deploy(app, {"charge.bpmn": content})
    assert outcome.definition.name == name
    with app.uow() as uow:
        [stored] = definitions.definition_files(uow.session, outcome.definition)
        assert name in stored.content and stored.sha256 == hashlib.sha256(content).hexdigest()
