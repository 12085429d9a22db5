"""Checks a bundle must pass at deploy, after it has loaded: who performs each user task, and
the pathway's legal controls (OOS-25, OOS-01..OOS-23).

**Who performs a user task.** A user task belongs to the role of its innermost lane
(``lane_<role>``). A user task outside any such lane names its role with the extension
property ``<spiffworkflow:property name="role" value="qa"/>`` (inside the task's
``extensionElements/spiffworkflow:properties``). A user task with neither is refused: no
task is open to everyone. A role must be one oospath knows (engine.services.identity.ROLES);
a ``role`` property that contradicts the task's lane is refused rather than guessed at.

**The pathway's legal controls.** A version of ``oos_case``, ``written_agreement`` or
``periodic_review`` must keep every element engine.domain.pathway_elements lists, with the
same BPMN type and, for a user task, in the same lane. A refusal names the requirement
the element carries and the element, so a designer cannot silently drop the QP's
verification (OOS-08) or the Supervisory Authority notification (OOS-13).

Every problem is a :class:`BpmnProblem` with the file, line and element id, and all are
reported at once, as the loader does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from engine.bpmn.errors import BpmnLoadError, BpmnProblem
from engine.domain.pathway_elements import PATHWAY, USER_TASK, PathwayProcess
from engine.services.identity import ROLES

if TYPE_CHECKING:
    from engine.bpmn.loader import ElementInfo, LoadedBundle

ROLE_PROPERTY = "role"
LANE_PREFIX = "lane_"


def role_of(info: ElementInfo) -> str | None:
    """The role that performs a flow node: its lane's, else its ``role`` extension property."""
    return info.role or info.properties.get(ROLE_PROPERTY) or None


def with_task_roles(elements: Mapping[str, ElementInfo]) -> dict[str, ElementInfo]:
    """The elements of one process with each role resolved as :func:`role_of` says (stored at deploy)."""
    return {eid: dataclasses.replace(info, role=role_of(info)) for eid, info in elements.items()}


def check_deployable(bundle: LoadedBundle, files: Mapping[str, bytes]) -> None:
    """Raise :class:`BpmnLoadError` listing every problem of the executable processes of ``bundle``."""
    problems: list[BpmnProblem] = []
    for key in sorted(bundle.specs):
        elements = bundle.elements.get(key, {})
        filename = _file_of(key, files)
        problems.extend(_task_role_problems(filename, elements))
        if key in PATHWAY:
            problems.extend(_pathway_problems(filename, PATHWAY[key], elements))
    if problems:
        raise BpmnLoadError(problems)


def _file_of(key: str, files: Mapping[str, bytes]) -> str:
    pattern = re.compile(rb"<(?:\w+:)?process\b[^>]*\bid=[\"']" + re.escape(key.encode()) + rb"[\"']")
    return next((name for name in sorted(files) if name.endswith(".bpmn") and pattern.search(files[name])),
                f"process '{key}'")


def _task_role_problems(filename: str, elements: Mapping[str, ElementInfo]) -> Iterator[BpmnProblem]:
    """OOS-25: every user task belongs to exactly one role oospath knows."""
    for info in elements.values():
        if info.bpmn_type != USER_TASK:
            continue
        declared = info.properties.get(ROLE_PROPERTY)
        if info.role is None and not declared:
            yield BpmnProblem(filename, info.line, info.element_id, (
                "OOS-25: user task has no role: put it in a lane named 'lane_<role>' or give it the extension "
                f"property <spiffworkflow:property name=\"{ROLE_PROPERTY}\" value=\"<role>\"/> "
                f"(roles: {', '.join(ROLES)})"))
        elif declared and info.role is not None and declared != info.role:
            yield BpmnProblem(filename, info.line, info.element_id, (
                f"OOS-25: the '{ROLE_PROPERTY}' property says '{declared}' but the task lies in lane "
                f"'{LANE_PREFIX}{info.role}': one role performs a task; remove one of them"))
        elif role_of(info) not in ROLES:
            source = f"lane '{LANE_PREFIX}{info.role}'" if info.role else f"'{ROLE_PROPERTY}' property"
            yield BpmnProblem(filename, info.line, info.element_id, (
                f"OOS-25: role '{role_of(info)}' (from the {source}) is not a role oospath knows; "
                f"use one of {', '.join(ROLES)}"))


def _pathway_problems(filename: str, process: PathwayProcess,
                      elements: Mapping[str, ElementInfo]) -> Iterator[BpmnProblem]:
    """The pathway's legal controls survive the new version: same element, same type, same lane."""
    lane_roles = {info.role for info in elements.values()}
    for role in process.lane_roles:
        if role not in lane_roles:
            carried = sorted({r for e in process.elements if e.role == role for r in e.requirements})
            yield BpmnProblem(filename, None, None, (
                f"{', '.join(carried)}: process '{process.key}' must keep lane '{LANE_PREFIX}{role}' (role {role}); "
                "it is missing or holds no flow node"))
    for required in process.elements:
        info = elements.get(required.element_id)
        where = f"{required.cited}: process '{process.key}' must keep {required.bpmn_type} " \
                f"'{required.element_id}' ({required.title})"
        if info is None:
            yield BpmnProblem(filename, None, required.element_id,
                              f"{where}; it is missing (dropped or renamed)")
        elif info.bpmn_type != required.bpmn_type:
            yield BpmnProblem(filename, info.line, required.element_id,
                              f"{where}; it is now a {info.bpmn_type}")
        elif required.role is not None and info.role != required.role:
            lane = f"lane '{LANE_PREFIX}{info.role}'" if info.role else "no role lane"
            yield BpmnProblem(filename, info.line, required.element_id,
                              f"{where} in lane '{LANE_PREFIX}{required.role}'; it is now in {lane}")
