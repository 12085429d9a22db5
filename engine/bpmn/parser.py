"""The BPMN/DMN parser oospath uses: SpiffWorkflow's Spiff parser with our task specs.

Registration, not patching: we copy the Spiff parser's override table and swap in
our classes for

* ``serviceTask``: the spec class :class:`WorkerServiceTask`;
* the events that can carry a timer (start, intermediate catch, boundary): parsers that
  translate a bare ISO 8601 timer value (``P7D``) into the expression SpiffWorkflow
  evaluates (``'P7D'``), see :mod:`engine.bpmn.iso8601_timers`.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.spiff.parser.event_parsers import (
    SpiffBoundaryEventParser,
    SpiffIntermediateCatchEventParser,
    SpiffStartEventParser,
)
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.bpmn.iso8601_timers import as_expression, timer_kind
from engine.bpmn.task_specs import WorkerServiceTask


class _Iso8601Timers:
    """Mixed into an event parser: a timer written as bare ISO 8601 becomes a string literal."""

    def parse_timer_event(self, event: Any) -> Any:
        definition = super().parse_timer_event(event)  # type: ignore[misc]
        definition.expression = as_expression(definition.expression, timer_kind(definition))
        return definition


class StartEventParser(_Iso8601Timers, SpiffStartEventParser):
    pass


class IntermediateCatchEventParser(_Iso8601Timers, SpiffIntermediateCatchEventParser):
    pass


class BoundaryEventParser(_Iso8601Timers, SpiffBoundaryEventParser):
    pass


def _parser_class(tag: str) -> Any:
    return SpiffBpmnParser.OVERRIDE_PARSER_CLASSES[full_tag(tag)][0]


def _spec_class(tag: str) -> Any:
    return SpiffBpmnParser.OVERRIDE_PARSER_CLASSES[full_tag(tag)][1]


class OospathParser(SpiffBpmnParser):
    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (_parser_class("serviceTask"), WorkerServiceTask),
        full_tag("startEvent"): (StartEventParser, _spec_class("startEvent")),
        full_tag("intermediateCatchEvent"): (IntermediateCatchEventParser, _spec_class("intermediateCatchEvent")),
        full_tag("boundaryEvent"): (BoundaryEventParser, _spec_class("boundaryEvent")),
    }
