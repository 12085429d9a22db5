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
    """One thing a designer must fix; ``line`` and ``element_id`` are None when unknown."""

    file: str
    line: int | None
    element_id: str | None
    reason: str

    def __str__(self) -> str:
        location = self.file if self.line is None else f"{self.file}:{self.line}"
        element = "" if self.element_id is None else f" element '{self.element_id}':"
        return f"{location}:{element} {self.reason}"


class BpmnLoadError(Exception):
    """A bundle was refused; ``problems`` lists every reason found."""

    def __init__(self, problems: Iterable[BpmnProblem]) -> None:
        self.problems: list[BpmnProblem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))
