"""Diagrams drawn in other tools load as BPMN means them (issue 11 item 7, issue 9 items 3 and 9).

ISO 8601 timers written bare, nameless messages, data stores, files in ISO-8859-1 or
UTF-16, and refusals phrased for the designer, never in the library's words.

# REQ: OOS-24 (what is deployed is what was validated and what was uploaded)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from engine.bpmn import diagnostics
from engine.bpmn.errors import BpmnLoadError
from engine.bpmn.loader import load_bundle, load_deployable, validate_bundle
from engine.bpmn.xml_safety import declared_bytes, stored_text, xml_encoding

PROCESS_START = '''<?xml version="1.0" encoding="{encoding}"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="urn:test">
  {top}
  <bpmn:process id="tool_flow" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    {middle}
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
'''
TIMER = '''<bpmn:intermediateCatchEvent id="wait" name="Wait">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="wait_timer"><bpmn:{kind}>{value}</bpmn:{kind}></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>'''
MESSAGE_CATCH = '''<bpmn:intermediateCatchEvent id="wait" name="Wait for the certificate">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:messageEventDefinition id="wait_message" messageRef="certificate_received"/>
    </bpmn:intermediateCatchEvent>'''
DATA_STORE_TASK = '''<bpmn:task id="wait" name="Record the batch">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:dataOutputAssociation id="to_store"><bpmn:targetRef>ledger_ref</bpmn:targetRef></bpmn:dataOutputAssociation>
    </bpmn:task>
    <bpmn:dataStoreReference id="ledger_ref" name="Batch ledger" dataStoreRef="ledger"/>'''


def diagram(middle: str, top: str = "", name: str = "Tool flow", encoding: str = "UTF-8") -> bytes:
    return PROCESS_START.format(encoding=encoding, top=top, middle=middle, name=name).encode(encoding)


def timer_expression(kind: str, value: str) -> str:
    bundle = load_bundle({"tool.bpmn": diagram(TIMER.format(kind=kind, value=value))})
    return bundle.specs["tool_flow"].task_specs["wait"].event_definition.expression


# --------------------------------------------------------------------- ISO 8601 timers


@pytest.mark.parametrize(("kind", "value"), [
    ("timeDuration", "P7D"),
    ("timeDuration", "PT36H"),
    ("timeDate", "2026-01-01T00:00:00Z"),
    ("timeCycle", "R3/PT10S"),
    ("timeCycle", "R/2026-01-01T00:00:00Z/P6M"),
])
def test_bare_iso8601_timer_value_is_read_as_the_iso_value(kind: str, value: str) -> None:
    assert timer_expression(kind, f" {value}\n") == repr(value)


def test_cycle_timer_is_accepted_with_a_warning_that_it_does_not_fire_yet(tmp_path: Path) -> None:
    (tmp_path / "tool.bpmn").write_bytes(diagram(TIMER.format(kind="timeCycle", value="R3/PT10S")))
    validation = validate_bundle([tmp_path / "tool.bpmn"])
    assert validation.problems == []
    [warning] = validation.warnings
    assert (warning.element_id, warning.element_type) == ("wait_timer", "timerEventDefinition")
    assert "does not fire cycle timers yet" in warning.reason


@pytest.mark.parametrize(("kind", "expression"), [
    ("timeDuration", '"P7D"'),
    ("timeDuration", "deadline"),
    ("timeDuration", "'PT' + str(hours) + 'H'"),
    ("timeDate", "due_date"),
])
def test_timer_already_written_as_an_expression_is_left_alone(kind: str, expression: str) -> None:
    assert timer_expression(kind, expression) == expression


@pytest.mark.parametrize(("kind", "value", "reason"), [
    ("timeDuration", "P7", "'P7' is not a duration such as P7D or PT36H (ISO 8601)"),
    ("timeDate", "2026-13-01T00:00:00Z", "'2026-13-01T00:00:00Z' is not a real date"),
    ("timeDate", '"next week"', "'next week' is not a date and time such as 2026-01-01T00:00:00Z"),
    ("timeCycle", "R3/P", "'R3/P' is not a cycle such as R3/PT10S"),
])
def test_timer_value_the_engine_cannot_schedule_is_refused_naming_the_event(kind: str, value: str, reason: str) -> None:
    with pytest.raises(BpmnLoadError) as refused:
        load_bundle({"tool.bpmn": diagram(TIMER.format(kind=kind, value=value))})
    [problem] = refused.value.problems
    assert (problem.element_id, problem.element_type, problem.line) == ("wait", "intermediateCatchEvent", 7)
    assert reason in problem.reason


# ------------------------------------------------------- nameless messages, data stores


def test_nameless_message_is_named_by_its_id() -> None:
    top = '<bpmn:message id="certificate_received"/>'
    bundle = load_deployable({"tool.bpmn": diagram(MESSAGE_CATCH, top)})
    assert bundle.specs["tool_flow"].task_specs["wait"].event_definition.name == "certificate_received"


def test_data_store_is_accepted_not_executed_and_warned_about(tmp_path: Path) -> None:
    top = '<bpmn:dataStore id="ledger" name="Batch ledger"/>'
    content = diagram(DATA_STORE_TASK, top)
    bundle = load_deployable({"tool.bpmn": content})
    assert list(bundle.specs) == ["tool_flow"]
    (tmp_path / "tool.bpmn").write_bytes(content)
    validation = validate_bundle([tmp_path / "tool.bpmn"])
    assert validation.problems == []
    assert [(w.element_id, w.element_type, w.line) for w in validation.warnings] == [
        ("ledger", "dataStore", 3), ("ledger_ref", "dataStoreReference", 11)]
    assert "warning: data stores are kept in the diagram but not executed" in str(validation.warnings[0])


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16"])
def test_diagram_in_its_declared_encoding_loads_validates_and_is_stored_as_written(
    encoding: str, tmp_path: Path
) -> None:
    name = "Freigabe prüfen – Qualitätsfreigabe" if encoding == "UTF-16" else "Freigabe prüfen, Qualität"
    content = diagram(TIMER.format(kind="timeDuration", value="P7D"), name=name, encoding=encoding)
    assert load_deployable({"tool.bpmn": content}).process_names == {"tool_flow": name}
    (tmp_path / "tool.bpmn").write_bytes(content)
    assert validate_bundle([tmp_path / "tool.bpmn"]).problems == []
    text = stored_text("tool.bpmn", content)
    assert name in text
    assert text.encode(xml_encoding(content)) == content  # the stored text gives back the uploaded bytes


def test_xml_received_as_text_is_encoded_as_it_declares() -> None:
    text = diagram("", name="Qualität").decode("utf-8").replace("UTF-8", "ISO-8859-1")
    assert declared_bytes(text) == text.encode("iso-8859-1")
    assert etree.fromstring(declared_bytes(text)).find("{*}process").get("name") == "Qualität"


# -------------------------------------------------------------- designer-facing refusals


@pytest.mark.parametrize(("library_text", "expected"), [
    ("Exactly one start event is required in a SubWorkflow Task; found 0.",
     "a sub-process needs exactly one <startEvent> (found 0): give it one start event"),
    ('No "calledElement" attribute for Call Activity.',
     "the call activity names no process: set its calledElement to the id of a process in the bundle"),
    ("Time Specification Error. Unknown Time Specification",
     "the timer has no <timeDuration>, <timeDate> or <timeCycle>: add one"),
    ("KeyError('operation')", "required attribute 'operation' is missing"),
    ('No DMN Diagram available with id "risk", Available DMN ids are: ',
     "calls decision 'risk', which is not in the bundle: deploy its .dmn file too"),
])
def test_known_library_message_becomes_a_sentence_saying_what_to_change(library_text: str, expected: str) -> None:
    assert expected in diagnostics.designer_reason(library_text, "subProcess")


def test_unknown_library_message_is_never_shown_to_the_designer() -> None:
    raw = "NotImplementedError: <bpmn:foo xmlns:bpmn='x'>" + "<a/>" * 400
    reason = diagnostics.designer_reason(raw, "complexGateway")
    assert reason.startswith("oospath cannot build this <complexGateway> into an executable process")
    assert "NotImplementedError" not in reason and "<a/>" not in reason


def test_no_executable_process_names_the_process_in_deploy_and_validate_alike(tmp_path: Path) -> None:
    content = diagram(TIMER.format(kind="timeDuration", value="P7D")).replace(
        b'isExecutable="true"', b'isExecutable="false"')
    with pytest.raises(BpmnLoadError) as refused:
        load_deployable({"tool.bpmn": content})
    (tmp_path / "tool.bpmn").write_bytes(content)
    [validated] = validate_bundle([tmp_path / "tool.bpmn"]).problems
    [deployed] = refused.value.problems
    assert (deployed.element_id, deployed.element_type, deployed.line) == ("tool_flow", "process", 4)
    assert deployed.reason == validated.reason
    assert deployed.reason == 'no executable process: mark the process to run with isExecutable="true"'


def test_deploy_check_refusal_in_a_utf16_file_names_its_file_line_and_element_type() -> None:
    """OOS-25: the role check locates the user task in a UTF-16 diagram as in a UTF-8 one."""
    task = '''<bpmn:userTask id="wait" name="Prüfen"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>'''
    with pytest.raises(BpmnLoadError) as refused:
        load_deployable({"tool.bpmn": diagram(task, encoding="UTF-16")})
    [problem] = refused.value.problems
    located = (problem.file, problem.line, problem.element_id, problem.element_type)
    assert located == ("tool.bpmn", 7, "wait", "userTask")
    assert problem.reason.startswith("OOS-25: user task has no role")
