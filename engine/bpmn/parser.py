"""The BPMN/DMN parser oospath uses: SpiffWorkflow's Spiff parser with our task specs.

Registration, not patching: we copy the Spiff parser's override table and swap the
spec class of ``serviceTask`` for :class:`WorkerServiceTask`.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.bpmn.task_specs import WorkerServiceTask


class OospathParser(SpiffBpmnParser):
    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (
            SpiffBpmnParser.OVERRIDE_PARSER_CLASSES[full_tag("serviceTask")][0],
            WorkerServiceTask,
        ),
    }
