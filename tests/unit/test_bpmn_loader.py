"""The hardened loader: what a designer sees when a bundle is accepted or refused.

Fixtures live in ``tests/fixtures/bpmn``: ``safe_flow.bpmn`` (script, DMN business rule,
gateway, user task with a form, worker service task, 48-hour timer), ``risk_level.dmn``
and ``review.schema.json``; broken variants are made by replacing one piece of text.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.errors import BpmnLoadError, BpmnProblem
from engine.bpmn.loader import LoadedBundle, load_bundle, load_deployable, parse_xml, validate_paths
from engine.bpmn.safe_expressions import safe_script_engine
from engine.bpmn.task_specs import pending_work_request

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bpmn"
REPO = Path(__file__).resolve().parents[2]
MIWG = REPO / "tests" / "fixtures" / "miwg" / "reference"  # vendored, see its README
BPMN, DMN, FORM = "safe_flow.bpmn", "risk_level.dmn", "review.schema.json"
ESCAPE = "().__class__.__base__.__subclasses__()"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def bundle_files(replace: dict[str, tuple[str, str]] | None = None) -> dict[str, bytes]:
    """The safe bundle, with ``{file: (old, new)}`` replacements applied (each must match)."""
    texts = {name: fixture(name) for name in (BPMN, DMN, FORM)}
    for name, (old, new) in (replace or {}).items():
        assert old in texts[name], f"{old!r} not in {name}"
        texts[name] = texts[name].replace(old, new)
    return {name: text.encode() for name, text in texts.items()}


def refused(files: dict[str, bytes]) -> list[BpmnProblem]:
    with pytest.raises(BpmnLoadError) as error:
        load_bundle(files)
    assert error.value.problems, "a refusal must say why"
    return error.value.problems


def line_of(text: str, marker: str) -> int:
    return text[: text.index(marker)].count("\n") + 1


def start(bundle: LoadedBundle, **data: Any) -> BpmnWorkflow:
    workflow = BpmnWorkflow(
        bundle.specs["safe_flow"], bundle.subprocess_specs["safe_flow"], script_engine=safe_script_engine()
    )
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    workflow.do_engine_steps()
    return workflow


HIGH_RISK = {"x": 1, "status": "authorised", "score": 5, "category": 1, "urgent": True}


# ------------------------------------------------------------------ accepted bundle


def test_safe_bundle_builds_its_executable_process() -> None:
    bundle = load_bundle(bundle_files())
    assert list(bundle.specs) == ["safe_flow"]
    assert bundle.subprocess_specs == {"safe_flow": {}}
    assert bundle.decisions == ["risk_level"]
    assert bundle.process_names == {"safe_flow": "Safe flow"}
    assert bundle.forms[FORM]["required"] == ["reviewed"]


# REQ: OOS-25
def test_catalogue_gives_role_from_lane_form_and_cited_requirements() -> None:
    elements = load_bundle(bundle_files()).elements["safe_flow"]
    review = elements["review"]
    assert (review.bpmn_type, review.name, review.role, review.form) == (
        "userTask",
        "Review batch",
        "qa",
        FORM,
    )
    assert review.requirements == ["OOS-07", "OOS-13"]
    assert review.line == line_of(fixture(BPMN), '<bpmn:userTask id="review"')
    assert elements["count"].role is None  # outside any lane: any user
    assert elements["start"].requirements == ["OOS-01"]
    assert set(elements) == {
        "start", "count", "assess", "risky", "review", "notify_physician", "end_reviewed", "wait", "end_low"
    }  # fmt: skip


# REQ: OOS-05
def test_script_dmn_and_gateway_run_through_the_safe_engine() -> None:
    workflow = start(load_bundle(bundle_files()), **HIGH_RISK)
    [review] = workflow.get_tasks(state=TaskState.READY, manual=True)
    assert review.task_spec.name == "review"
    assert review.data["x"] == 2  # script `x = x + 1`
    assert review.data["risk"] == "high"  # cells "authorised", >= 4, in (1, 2), True
    assert review.data["reviewed"] is False  # pre-script


@pytest.mark.parametrize(
    ("change", "risk"),
    [
        ({"status": "pending"}, "low"),
        ({"score": 3}, "low"),
        ({"category": 3}, "low"),
        ({"urgent": False}, "low"),
        ({"score": 4, "category": 2}, "high"),
    ],
)
def test_each_dmn_cell_form_decides(change: dict[str, Any], risk: str) -> None:
    workflow = start(load_bundle(bundle_files()), **{**HIGH_RISK, **change})
    assert workflow.last_task.data["risk"] == risk


def test_operator_cell_in_is_kept_working_by_the_loader() -> None:
    # SpiffWorkflow glues input and cell into `categoryin (1, 2)`; the loader writes `? in (1, 2)`
    bundle = load_bundle(bundle_files())
    table = bundle.specs["safe_flow"].task_specs["assess"].dmnEngine.decision_table
    assert table.rules[0].inputEntries[2].lhs == ["? in (1, 2)"]
    assert table.rules[0].inputEntries[0].lhs == ['"authorised"']


def test_user_task_then_service_parameters_evaluate_for_the_worker() -> None:
    workflow = start(load_bundle(bundle_files()), **HIGH_RISK)
    [review] = workflow.get_tasks(state=TaskState.READY, manual=True)
    review.set_data(reviewed=True)
    review.run()
    workflow.do_engine_steps()
    [notify] = workflow.get_tasks(state=TaskState.STARTED)
    assert pending_work_request(notify) == {
        "operation": "notify",
        "params": {"party": "treating_physician", "subject": "Risk high"},
    }


# REQ: OOS-13
def test_quoted_timer_expression_sets_a_48_hour_deadline() -> None:
    workflow = start(load_bundle(bundle_files()), **{**HIGH_RISK, "status": "pending"})
    [event] = workflow.waiting_events()
    due = datetime.fromisoformat(event.value)
    expected = datetime.now(UTC) + timedelta(hours=48)
    assert abs(due - expected) < timedelta(minutes=1)


# ------------------------------------------------------------- XML safety (security)


def test_malformed_xml_is_refused_with_its_line() -> None:
    [problem] = validate_paths([FIXTURES / "malformed.bpmn"])
    assert problem.line == 6
    assert "malformed XML" in problem.reason and "task line 5" in problem.reason


# security
@pytest.mark.parametrize("name", ["xxe.bpmn", "billion_laughs.bpmn"])
def test_doctype_is_refused_before_any_entity_is_expanded(name: str) -> None:
    started = time.monotonic()
    problems = refused({name: (FIXTURES / name).read_bytes()})
    assert time.monotonic() - started < 1
    assert [(p.file, p.line) for p in problems] == [(name, 2)]
    assert "DOCTYPE is not allowed" in problems[0].reason
    assert "root:" not in str(problems)  # nothing of /etc/passwd


# security
def test_doctype_in_utf16_is_refused_too() -> None:
    content = fixture("xxe.bpmn").replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    with pytest.raises(BpmnLoadError, match="DOCTYPE is not allowed"):
        parse_xml("xxe16.bpmn", content)


# security
def test_oversize_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OOSPATH_MAX_BPMN_BYTES", "1000")
    [problem] = refused(bundle_files())[:1]
    assert problem.file == BPMN
    assert "over the limit of 1000 bytes" in problem.reason
    big = tmp_path / "big.bpmn"
    big.write_bytes(b" " * 1001)
    assert ["over the limit" in p.reason for p in validate_paths([big])] == [True]


def test_schema_violations_name_line_nearest_element_and_reason() -> None:
    text = fixture("schema_violation.bpmn")
    problems = validate_paths([FIXTURES / "schema_violation.bpmn"])
    assert [(p.line, p.element_id) for p in problems] == [
        (line_of(text, "<bpmn:approval"), "prepare"),  # no id of its own: its task's id
        (line_of(text, '<bpmn:endEvent id="end"'), "end"),
    ]
    assert "<bpmn:approval>: this element is not allowed here; expected one of: bpmn:incoming" in (
        problems[0].reason
    )
    assert "attribute 'colour'" in problems[1].reason
    assert "{http" not in str(problems)  # namespaces shortened to prefixes


# ------------------------------------------------------- unsafe expressions (security)


# security
@pytest.mark.parametrize(
    ("file", "old", "expression", "element_id", "reason"),
    [
        (BPMN, "x = x + 1", "import os", "count", "in script: import is not allowed"),
        (BPMN, "x = x + 1", f"x = {ESCAPE}", "count", "in script: attribute access '.__subclasses__'"),
        (BPMN, 'risk == "high"', ESCAPE, "f_high", "in sequence flow condition: attribute access"),
        (BPMN, "reviewed = False", "reviewed = __builtins__", "review", "in pre-script: name '__builtins__'"),
        (BPMN, "'treating_physician'", "(lambda: 1)()", "notify_physician", "parameter 'party': lambda"),
        (BPMN, '"PT48H"', "open('/etc/passwd')", "wait", "in timer: call of 'open' is not allowed"),
        (DMN, '"authorised"', "__import__('os').system('id')", "rule_high_status", "in DMN input entry"),
        (DMN, ">status<", ">status.__class__<", "in_status", "in DMN input expression: attribute"),
        (DMN, '"high"', "[r for r in risks]", "rule_high_risk", "comprehensions are not allowed"),
    ],
)
def test_unsafe_expression_is_refused_at_load_naming_element_and_expression(
    file: str, old: str, expression: str, element_id: str, reason: str
) -> None:
    files = bundle_files({file: (old, expression)})
    problems = refused(files)
    assert [p.element_id for p in problems] == [element_id]
    [problem] = problems
    assert problem.file == file
    assert problem.line == line_of(files[file].decode(), f'id="{element_id}"')
    assert f"`{expression.strip('<>')}`" in problem.reason
    assert reason in problem.reason


# REQ: OOS-13 (the 48-hour deadline, written as BPMN intends)
def test_bare_iso_timer_is_read_as_bpmn_intends_and_sets_a_48_hour_deadline() -> None:
    workflow = start(load_bundle(bundle_files({BPMN: ('"PT48H"', "PT48H")})), **{**HIGH_RISK, "status": "pending"})
    [event] = workflow.waiting_events()
    assert abs(datetime.fromisoformat(event.value) - (datetime.now(UTC) + timedelta(hours=48))) < timedelta(minutes=1)


def test_timer_that_looks_iso_but_is_not_is_refused_with_the_fix() -> None:
    [problem] = refused(bundle_files({BPMN: ('"PT48H"', "PT48")}))
    assert (problem.element_id, problem.element_type) == ("wait", "intermediateCatchEvent")
    assert "'PT48' is not a duration such as P7D or PT36H (ISO 8601)" in problem.reason


# security: defence in depth, a spec that skipped the loader's checks still cannot run
def test_safe_engine_refuses_unsafe_script_that_bypassed_the_loader() -> None:
    bundle = load_bundle(bundle_files())
    bundle.specs["safe_flow"].task_specs["count"].script = "import os"
    with pytest.raises(WorkflowTaskException) as error:
        start(bundle, **HIGH_RISK)
    assert error.value.error_type == "UnsafeExpressionError"
    assert "import is not allowed" in str(error.value)


# security
def test_unsafe_gateway_condition_that_bypassed_the_loader_is_refused_at_run_time() -> None:
    bundle = load_bundle(bundle_files())
    gateway = bundle.specs["safe_flow"].task_specs["risky"]
    condition = gateway.cond_task_specs[0][0]
    condition.args = (ESCAPE,)
    with pytest.raises(WorkflowTaskException) as error:
        start(bundle, **HIGH_RISK)
    assert error.value.error_type == "UnsafeExpressionError"


# security
@pytest.mark.parametrize(
    ("old", "element_id"), [("y = 1", "embedded_script"), ("z = y + 1", "helper_script")]
)
def test_unsafe_script_inside_a_subprocess_or_called_process_is_refused(old: str, element_id: str) -> None:
    text = fixture("subprocesses.bpmn").replace(old, "import os")
    [problem] = refused({"subprocesses.bpmn": text.encode()})
    assert (problem.element_id, problem.line) == (element_id, line_of(text, f'id="{element_id}"'))


# security
def test_overlong_dmn_cell_is_refused_without_running_patterns_on_it() -> None:
    cell = "?" * 50_000 + "'"  # quadratic for the DMN engine's '?' pattern
    started = time.monotonic()
    [problem] = refused(bundle_files({DMN: ('"authorised"', cell)}))
    assert time.monotonic() - started < 1
    assert problem.element_id == "rule_high_status"
    assert "longer than 1000 characters" in problem.reason


def test_subprocesses_and_called_processes_are_built_and_run() -> None:
    bundle = load_bundle({"subprocesses.bpmn": (FIXTURES / "subprocesses.bpmn").read_bytes()})
    assert list(bundle.specs) == ["main", "helper"]  # not the non-executable sketch
    assert set(bundle.subprocess_specs["main"]) == {"embedded", "helper"}
    assert set(bundle.elements) == {"main", "helper", "sketch"}
    assert "embedded_script" in bundle.elements["main"]  # nested flow nodes are catalogued
    workflow = BpmnWorkflow(
        bundle.specs["main"], bundle.subprocess_specs["main"], script_engine=safe_script_engine()
    )
    workflow.do_engine_steps()
    assert workflow.completed and workflow.data == {"y": 1, "z": 2}


# ----------------------------------------------------------------- bundle structure


def test_user_task_form_must_be_in_the_bundle() -> None:
    files = bundle_files()
    del files[FORM]
    [problem] = refused(files)
    assert (problem.file, problem.element_id) == (BPMN, "review")
    assert "review.schema.json" in problem.reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{\n  "type": "object",\n  "properties": {,}\n}', "not valid JSON"),
        ('{"type": 5}', "not a valid JSON Schema (draft 2020-12) at type"),
        ("[]", "a form must be a JSON Schema object"),
    ],
)
def test_invalid_form_is_refused(content: str, reason: str) -> None:
    files = {**bundle_files(), FORM: content.encode()}
    [problem] = refused(files)
    assert problem.file == FORM
    assert reason in problem.reason


def test_missing_decision_is_reported_on_the_business_rule_task() -> None:
    files = bundle_files()
    del files[DMN]
    [problem] = refused(files)
    assert (problem.file, problem.element_id) == (BPMN, "assess")
    assert "'risk_level', which is not in the bundle: deploy its .dmn file too" in problem.reason


def test_task_id_hidden_by_an_extension_id_is_refused() -> None:
    # SpiffWorkflow indexes every id; a task called like its operator would vanish
    files = bundle_files({BPMN: ('id="notify_physician"', 'id="notify"')})
    files[BPMN] = files[BPMN].replace(b'targetRef="notify_physician"', b'targetRef="notify"')
    files[BPMN] = files[BPMN].replace(b'sourceRef="notify_physician"', b'sourceRef="notify"')
    [problem] = refused(files)
    assert problem.element_id == "notify"
    assert "<spiffworkflow:serviceTaskOperator>" in problem.reason


def test_unknown_file_type_is_refused() -> None:
    [problem] = refused({**bundle_files(), "notes.txt": b"hello"})
    assert problem.file == "notes.txt"


def test_validate_paths_reports_problems_and_never_raises(tmp_path: Path) -> None:
    (tmp_path / "junk.bpmn").write_bytes(b"\x00\xff\xfe garbage")
    (tmp_path / "forms").mkdir()
    problems = validate_paths([tmp_path, tmp_path / "missing.dmn"])
    assert {Path(p.file).name for p in problems} == {"junk.bpmn", "missing.dmn"}
    assert all(p.reason for p in problems)


def test_validate_paths_takes_forms_beside_the_diagram(tmp_path: Path) -> None:
    (tmp_path / BPMN).write_text(fixture(BPMN))
    (tmp_path / DMN).write_text(fixture(DMN))
    (tmp_path / "forms").mkdir()
    (tmp_path / "forms" / FORM).write_text(fixture(FORM))
    assert validate_paths([tmp_path / BPMN, tmp_path / DMN]) == []


# ---------------------------------------------------------------- conformance corpus


@pytest.mark.parametrize("path", sorted(MIWG.glob("*.bpmn")), ids=lambda path: path.name)
def test_miwg_reference_file_is_accepted_or_refused_with_located_problems(path: Path) -> None:
    try:
        load_bundle({path.name: path.read_bytes()})
    except BpmnLoadError as error:
        for problem in error.problems:
            assert problem.file == path.name
            assert problem.reason and "Traceback" not in problem.reason
            assert problem.line is not None and problem.element_id is not None, problem


def test_miwg_corpus_is_present() -> None:
    assert len(list(MIWG.glob("*.bpmn"))) == 21


def test_miwg_c20_nameless_message_is_named_by_its_id() -> None:
    path = MIWG / "C.2.0.bpmn"
    executable = path.read_bytes().replace(b'isExecutable="false"', b'isExecutable="true"')
    problems = refused({path.name: executable})  # what is left: a gateway flow without a condition
    assert [(p.element_type, "has no condition" in p.reason) for p in problems] == [("sequenceFlow", True)]


def test_miwg_c91_standard_iso_timers_load_and_only_the_role_rule_refuses_it() -> None:
    """A Camunda-drawn diagram with bare ``P7D`` and ``R6/P1D`` timers: the timers load as
    ISO 8601 values; what deploy still refuses is oospath's own rule (OOS-25)."""
    files = {"C.9.1.bpmn": (MIWG / "C.9.1.bpmn").read_bytes()}
    spec = load_bundle(files).specs["requestDocument_en"]
    timers = {name: spec.task_specs[name].event_definition.expression
              for name in ("BoundaryEvent_1", "BoundaryEvent_2")}
    assert timers == {"BoundaryEvent_1": "'R6/P1D'", "BoundaryEvent_2": "'P7D'"}
    with pytest.raises(BpmnLoadError) as refused:
        load_deployable(files)
    assert [p.reason[:30] for p in refused.value.problems] == ["OOS-25: user task has no role:"]
