"""Instance serialization without the embedded spec.

SpiffWorkflow embeds the whole process spec in every serialized instance (about half
the JSON). oospath stores the spec once per deployment (``process_definitions.spec``)
and serializes only the instance state; :class:`PinnedSpecWorkflowConverter` is
registered for ``BpmnWorkflow`` so that ``to_dict`` leaves the spec out and
``from_dict`` takes the deployment's already-restored spec objects. We own this
format (``STATE_FORMAT``) and its migrations: the library's own migrations are not
reliable (see SPIFFWORKFLOW-NOTES.md).
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.event_definition import TimerConditionalEventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import ServiceTaskConverter

from engine.bpmn.task_specs import CLOCK_TIMERS, WorkerServiceTask

STATE_FORMAT = "oospath-state/1"


class PinnedSpecWorkflowConverter(BpmnWorkflowConverter):
    """Converts a top-level workflow without its spec; restores it onto a given spec."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(  # type: ignore[override]
        self, dct: dict[str, Any], spec: BpmnProcessSpec, subprocess_specs: dict[str, Any]
    ) -> BpmnWorkflow:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class ClockTimerConverter(TimerConditionalEventDefinitionConverter):
    """Restores the library's timer type names as oospath's clock-driven timers (engine.bpmn.task_specs)."""

    def __init__(self, target_class: Any, registry: Any, typename: str | None = None) -> None:
        super().__init__(target_class, registry, typename or target_class.__mro__[1].__name__)


def _registry() -> Any:
    config = dict(SPIFF_CONFIG)
    config[WorkerServiceTask] = ServiceTaskConverter
    config[BpmnWorkflow] = PinnedSpecWorkflowConverter
    # Registered after the library's timers: same type name, so restoring always gives the clock-driven timer.
    for clock_timer in CLOCK_TIMERS.values():
        config[clock_timer] = ClockTimerConverter
    return BpmnWorkflowSerializer.configure(config)


class InstanceSerializer:
    """Turns specs and instance states into JSON text and back."""

    def __init__(self) -> None:
        self._serializer = BpmnWorkflowSerializer(_registry())

    def spec_to_json(self, spec: BpmnProcessSpec, subprocess_specs: dict[str, Any]) -> str:
        convert = self._serializer.to_dict
        return json.dumps(
            {
                "spec": convert(spec),
                "subprocess_specs": {name: convert(sp) for name, sp in subprocess_specs.items()},
            }
        )

    def spec_from_json(self, text: str) -> tuple[BpmnProcessSpec, dict[str, Any]]:
        dct = json.loads(text)
        restore = self._serializer.from_dict
        subprocess_specs = {name: restore(sp) for name, sp in dct["subprocess_specs"].items()}
        return restore(dct["spec"]), subprocess_specs

    def state_to_json(self, workflow: BpmnWorkflow) -> str:
        dct = self._serializer.to_dict(workflow)
        dct["format"] = STATE_FORMAT
        return json.dumps(dct, separators=(",", ":"))

    def state_from_json(
        self, text: str, spec: BpmnProcessSpec, subprocess_specs: dict[str, Any]
    ) -> BpmnWorkflow:
        dct = json.loads(text)
        fmt = dct.pop("format", None)
        if fmt != STATE_FORMAT:
            raise ValueError(f"unknown instance state format {fmt!r}; expected {STATE_FORMAT}")
        return self._serializer.from_dict(dct, spec=spec, subprocess_specs=subprocess_specs)
