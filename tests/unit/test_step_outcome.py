"""The step outcome's one walk finds what the separate ``get_tasks`` queries found, in their order (issue 10 item 1).

The runtime used to ask SpiffWorkflow four times per step (STARTED worker tasks, READY user tasks, WAITING
timers, and the completed end events once the process completed), each a walk of the whole tree;
:func:`engine.bpmn.step_outcome.survey_step` walks it once. Here both are compared after every step of a
process with an embedded subprocess, a boundary timer on it, parallel branches and a loop.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.loader import load_bundle
from engine.bpmn.safe_expressions import safe_script_engine
from engine.bpmn.step_outcome import StepOutcome, survey_step

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="defs" targetNamespace="urn:test">
  <bpmn:process id="walked" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="split"><bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f9</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:subProcess id="inner"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:startEvent id="inner_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="inner_task" name="Inner task"><bpmn:incoming>s1</bpmn:incoming>
        <bpmn:outgoing>s2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="inner_end"><bpmn:incoming>s2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="inner_start" targetRef="inner_task"/>
      <bpmn:sequenceFlow id="s2" sourceRef="inner_task" targetRef="inner_end"/>
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="inner_overdue" attachedToRef="inner" cancelActivity="false">
      <bpmn:outgoing>f7</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="reminded"><bpmn:incoming>f7</bpmn:incoming></bpmn:endEvent>
    <bpmn:userTask id="outer_task" name="Outer task"><bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing></bpmn:userTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming>
      <bpmn:outgoing>f6</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:exclusiveGateway id="again" default="f8"><bpmn:incoming>f6</bpmn:incoming>
      <bpmn:outgoing>f8</bpmn:outgoing><bpmn:outgoing>f9</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="done"><bpmn:incoming>f8</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split"/>
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="inner"/>
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="outer_task"/>
    <bpmn:sequenceFlow id="f4" sourceRef="inner" targetRef="join"/>
    <bpmn:sequenceFlow id="f5" sourceRef="outer_task" targetRef="join"/>
    <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="again"/>
    <bpmn:sequenceFlow id="f7" sourceRef="inner_overdue" targetRef="reminded"/>
    <bpmn:sequenceFlow id="f8" sourceRef="again" targetRef="done"/>
    <bpmn:sequenceFlow id="f9" sourceRef="again" targetRef="split">
      <bpmn:conditionExpression>another_round</bpmn:conditionExpression></bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>
"""


def _start() -> BpmnWorkflow:
    bundle = load_bundle({"walked.bpmn": BPMN.encode()})
    workflow = BpmnWorkflow(bundle.specs["walked"], bundle.subprocess_specs["walked"],
                            script_engine=safe_script_engine())
    workflow.do_engine_steps()
    return workflow


def _as_the_queries_found_it(workflow: BpmnWorkflow) -> dict[str, Any]:
    """What the runtime's separate ``get_tasks`` queries returned before the one walk (no worker tasks here)."""
    timers = [t for t in workflow.get_tasks(state=TaskState.WAITING)
              if isinstance(getattr(t.task_spec, "event_definition", None), TimerEventDefinition)]
    ready = workflow.get_tasks(state=TaskState.READY, manual=True)
    completed = workflow.is_completed()
    ends = sorted((t for t in workflow.get_tasks(state=TaskState.COMPLETED)
                   if isinstance(t.task_spec, EndEvent) and t.workflow is workflow), key=lambda t: t.last_state_change)
    return {
        "user_tasks": [(str(t.id), t.task_spec.bpmn_id) for t in ready],
        "timers": [(str(t.id), t.task_spec.bpmn_id, tuple(str(s.id) for s in t.parent.children)) for t in timers],
        "completed": completed,
        "end_event": ends[-1].task_spec.bpmn_id if completed and ends else None,
    }


def _as_walked(outcome: StepOutcome) -> dict[str, Any]:
    return {
        "user_tasks": [(task.task_id, task.element_id) for task in outcome.user_tasks],
        "timers": [(timer.task_id, timer.element_id, timer.siblings) for timer in outcome.timers],
        "completed": outcome.completed,
        "end_event": outcome.end_event,
    }


def test_one_walk_finds_what_the_queries_found_through_a_subprocess_a_boundary_timer_and_a_loop() -> None:
    workflow = _start()
    seen_in_subprocess = False
    rounds = 0
    for _ in range(20):
        outcome = survey_step(workflow, [])
        assert outcome.work_requests == ()
        assert _as_walked(outcome) == _as_the_queries_found_it(workflow)
        if outcome.completed:
            break
        task = workflow.get_task_from_id(UUID(outcome.user_tasks[0].task_id))
        seen_in_subprocess |= task.workflow is not workflow
        if task.task_spec.bpmn_id == "outer_task":
            rounds += 1
            task.set_data(another_round=rounds < 3)
        task.run()
        workflow.do_engine_steps()
    assert outcome.completed and outcome.end_event == "done"
    assert seen_in_subprocess and rounds == 3
