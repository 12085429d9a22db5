"""The process designer's pages (issue 11): the definitions, the modeler, and a version's diff with
QA's signed decision (change control, OOS-24, OOS-25).

* ``/ui/designer`` lists every process definition with its versions and their status.
* ``/ui/designer/<key>/<version>`` opens that version's BPMN in the bpmn-js modeler with bpmnlint's
  recommended rules live; "Validate" asks the engine's own deploy checks
  (``POST /api/v1/process-definitions/validation``) and shows each problem on the element it names
  (the QP's verification, OOS-08, a task without a role, OOS-25); "Deploy as new version" posts the
  edited BPMN with the version's other files unchanged. Only a process designer validates or deploys.
* ``/ui/designer/<key>/<version>/diff`` shows the version beside the previous one with the added,
  removed and changed elements; for a version awaiting approval a QA user approves or rejects it
  with an electronic signature.

The pages only read; every change goes through the JSON API, under its own declarations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Blueprint

from api.access import current_actor
from api.app import container
from api.blueprints.definitions import READERS, definition_view
from api.declarations import page, roles
from api.web.pages import render
from engine.services import definitions, signatures
from engine.services.errors import NotFound
from engine.store.models import DeploymentFile, ProcessDefinition

bp = Blueprint("web_designer", __name__, url_prefix="/ui/designer", template_folder="templates")
POLICY = roles(*READERS)


@bp.get("")
@page("Process definitions, their versions and status", policy=POLICY)
def definition_list() -> tuple[str, int]:
    with container().uow() as uow:
        rows = definitions.list_definitions(uow.session)
        processes = _by_key(definition_view(d) for d in rows)
    return render("designer.html", processes=processes,
                  can_deploy=current_actor().has_role(definitions.DESIGNER_ROLE))


def _by_key(views: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per key: its name and versions, newest first."""
    processes: dict[str, dict[str, Any]] = {}
    for view in views:
        entry = processes.setdefault(view["key"], {"key": view["key"], "name": view["name"], "versions": []})
        entry["versions"].insert(0, view)
        entry["name"] = view["name"] or entry["name"]
    return sorted(processes.values(), key=lambda p: p["key"])


@bp.get("/<key>/<int:version>")
@page("A version in the modeler: live lint, the engine's validation, deploy as a new version", policy=POLICY)
def modeler(key: str, version: int) -> tuple[str, int]:
    with container().uow() as uow:
        definition = definitions.get_definition(uow.session, key, version)
        files = definitions.definition_files(uow.session, definition)
        view = definition_view(definition)
    return render("designer_edit.html", definition=view, filename=process_file(key, files),
                  can_deploy=current_actor().has_role(definitions.DESIGNER_ROLE))


@bp.get("/<key>/<int:version>/diff")
@page("A version beside the previous one; QA approves or rejects it with a signature", policy=POLICY)
def version_diff(key: str, version: int) -> tuple[str, int]:
    actor = current_actor()
    with container().uow() as uow:
        definition = definitions.get_definition(uow.session, key, version)
        previous = _previous(uow.session, definition)
        filename = process_file(key, definitions.definition_files(uow.session, definition))
        previous_filename = (process_file(key, definitions.definition_files(uow.session, previous))
                             if previous else None)
        view, previous_view = definition_view(definition), previous and definition_view(previous)
        first_signing = signatures.first_signing(uow.session, actor)
    can_decide = actor.has_role(definitions.APPROVER_ROLE) and definition.status == definitions.AWAITING_APPROVAL
    return render("designer_diff.html", definition=view, previous=previous_view, filename=filename,
                  previous_filename=previous_filename, can_decide=can_decide, first_signing=first_signing)


def _previous(session: Any, definition: ProcessDefinition) -> ProcessDefinition | None:
    if definition.version <= 1:
        return None
    try:
        return definitions.get_definition(session, definition.key, definition.version - 1)
    except NotFound:
        return None


def process_file(key: str, files: Iterable[DeploymentFile]) -> str | None:
    """The name of the bundle's BPMN file that declares the process ``key``."""
    declares = re.compile(r"<(?:\w+:)?process\b[^>]*\bid=[\"']" + re.escape(key) + r"[\"']")
    return next((f.filename for f in files if f.filename.endswith(".bpmn") and declares.search(f.content)), None)
