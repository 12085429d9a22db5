"""Problems found in a BPMN/DMN/form bundle, phrased for the person who drew the diagram.

Deploy and ``oospath validate`` report every problem at once, each with the file, the
line and the id of the element to fix, so a designer can correct a diagram in one pass
instead of meeting errors one by one (or a library traceback).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class BpmnProblem:
    """One thing a designer must fix; ``line``, ``element_id`` and ``element_type`` are None when unknown.

    ``element_type`` is the element's XML name as the designer's tool shows it
    (``userTask``, ``timerEventDefinition``, ``spiffworkflow:serviceTaskOperator``).
    """

    file: str
    line: int | None
    element_id: str | None
    reason: str
    element_type: str | None = None

    def __str__(self) -> str:
        location = self.file if self.line is None else f"{self.file}:{self.line}"
        kind = f"<{self.element_type}>" if self.element_type else "element"
        element = f" {kind} '{self.element_id}':" if self.element_id is not None else ""
        return f"{location}:{element} {self.reason}"


@dataclass(frozen=True)
class BpmnWarning:
    """Something accepted but not executed (e.g. a data store), reported by ``oospath validate``."""

    file: str
    line: int | None
    element_id: str | None
    element_type: str | None
    reason: str

    def __str__(self) -> str:
        location = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{location}: <{self.element_type}> '{self.element_id}': warning: {self.reason}"


class BpmnLoadError(Exception):
    """A bundle was refused; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[BpmnProblem]) -> None:
        self.problems: list[BpmnProblem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))
