"""/api/v1/process-definitions: list, validate, deploy, and one version with its XML."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, request

from api.access import current_actor, current_body, signing_credentials
from api.app import container
from api.declarations import Param, declare, roles
from api.errors import BadRequest
from api.views import iso
from engine.bpmn.errors import BpmnProblem
from engine.bpmn.xml_safety import declared_bytes
from engine.services import definitions
from engine.store.models import ProcessDefinition

bp = Blueprint("definitions", __name__, url_prefix="/api/v1/process-definitions")
READERS = ("process_designer", "qa", "auditor")
VERSION = {"key": Param("process definition key, e.g. oos_case"),
           "version": Param("version number", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1})}


def definition_view(d: ProcessDefinition, created: bool | None = None) -> dict[str, Any]:
    view = {"key": d.key, "version": d.version, "name": d.name, "sha256": d.content_sha256,
            "deployed_at": iso(d.deployed_at), "deployed_by": d.deployed_by, "status": d.status,
            "approved_by": d.approved_by, "approved_at": iso(d.approved_at),
            "links": {"self": f"/api/v1/process-definitions/{d.key}/versions/{d.version}"}}
    if created is not None:
        view["created"] = created
    return view


@bp.get("")
@declare("listProcessDefinitions", "process definitions", "Every deployed version", policy=roles(*READERS),
         ok={"200": ("Definitions by key and version", "DefinitionList")})
def list_definitions() -> dict[str, Any]:
    with container().uow() as uow:
        return {"items": [definition_view(d) for d in definitions.list_definitions(uow.session)]}


def _uploaded_files() -> dict[str, bytes]:
    if request.files:
        return {f.filename or name: f.read() for name, f in request.files.items(multi=True)}
    body = current_body()
    if isinstance(body.get("files"), dict):
        return {name: declared_bytes(str(content)) for name, content in body["files"].items()}
    raise BadRequest("upload the BPMN/DMN/form files as multipart/form-data, "
                     "or JSON {\"files\": {\"name.bpmn\": \"<xml>\"}}")


@bp.post("")
@declare("deployProcessDefinitions", "process definitions", "Deploy a BPMN/DMN/form bundle",
         policy=roles("process_designer"),
         ok={"200": ("Unchanged: identical content is already deployed (`created` false)", "DefinitionList"),
             "201": ("A new version of at least one process, awaiting QA approval (`created` true)",
                     "DefinitionList")},
         errors=("400", "413"), body="DeploymentFiles", size_limit="max_record_bytes",
         body_alternatives={"multipart/form-data": "DeploymentMultipart"},
         description="Role process_designer (OOS-25). The bundle is validated as a whole before anything is stored; "
                     "a refused bundle leaves the deployed definitions unchanged and the 422 problem lists every "
                     "problem with file, line and element id. A new version starts no instance until a QA user "
                     "approves it with an electronic signature (OOS-24).")
def deploy() -> tuple[dict[str, Any], int]:
    app, actor = container(), current_actor()
    files = _uploaded_files()
    with app.uow() as uow:
        outcomes = definitions.deploy(uow.session, app.runtime, files, actor)
        uow.commit()
        items = [definition_view(o.definition, o.created) for o in outcomes]
    return {"items": items}, 201 if any(o.created for o in outcomes) else 200


#: the requirement ids a deploy-check refusal starts with ("OOS-08, OOS-09: process 'oos_case' must keep ...")
CITED = re.compile(r"^(OOS-\d{2}(?:, OOS-\d{2})*):")
VALIDATION = {
    "type": "object", "required": ["valid", "problems"],
    "properties": {
        "valid": {"type": "boolean", "description": "true when deploying the bundle would be accepted"},
        "problems": {"type": "array", "items": {
            "type": "object", "required": ["file", "line", "element_id", "element_type", "reason", "requirement"],
            "properties": {
                "file": {"type": "string"}, "line": {"type": ["integer", "null"]},
                "element_id": {"type": ["string", "null"], "description": "the element to fix, when known"},
                "element_type": {"type": ["string", "null"], "description": "its XML name, e.g. userTask"},
                "reason": {"type": "string"},
                "requirement": {"type": ["string", "null"],
                                "description": "the pathway rule(s) the refusal enforces, e.g. `OOS-08, OOS-09`"}}}},
    },
}


@bp.post("/validation")
@declare("validateProcessDefinitions", "process definitions", "Check a bundle as deploy would, storing nothing",
         policy=roles("process_designer"),
         ok={"200": ("Whether deploy would accept the bundle, and every problem it would refuse", VALIDATION)},
         errors=("400", "413"), body="DeploymentFiles", size_limit="max_record_bytes",
         body_alternatives={"multipart/form-data": "DeploymentMultipart"},
         description="Role process_designer (OOS-25). Runs exactly the checks of deploy (the same loader path) on "
                     "the same body and answers 200 either way: `valid` false lists every problem with file, line, "
                     "element id and type, and the requirement a pathway control carries (e.g. the QP's "
                     "verification, OOS-08). Nothing is deployed or stored.")
def validate() -> dict[str, Any]:
    validation = definitions.validate(_uploaded_files(), current_actor())
    return {"valid": not validation.problems, "problems": [_problem_view(p) for p in validation.problems]}


def _problem_view(problem: BpmnProblem) -> dict[str, Any]:
    cited = CITED.match(problem.reason)
    return {"file": problem.file, "line": problem.line, "element_id": problem.element_id,
            "element_type": problem.element_type, "reason": problem.reason,
            "requirement": cited.group(1) if cited else None}


@bp.get("/<key>/versions/<int:version>")
@declare("getProcessDefinitionVersion", "process definitions", "One version with its files and elements",
         policy=roles(*READERS),
         ok={"200": ("The version, its BPMN/DMN/form files and element metadata", "DefinitionVersion")},
         errors=("404",), path=VERSION)
def get_version(key: str, version: int) -> dict[str, Any]:
    with container().uow() as uow:
        definition = definitions.get_definition(uow.session, key, version)
        files = definitions.definition_files(uow.session, definition)
        view = definition_view(definition)
        view["files"] = [{"filename": f.filename, "sha256": f.sha256, "content": f.content} for f in files]
        view["elements"] = definition.elements
        return view


APPROVAL = {"type": "object", "required": ["key", "version", "status", "approved_by"],
            "properties": {"key": {"type": "string"}, "version": {"type": "integer"}, "status": {"type": "string"},
                           "approved_by": {"type": ["string", "null"]},
                           "approved_at": {"type": ["string", "null"], "format": "date-time"}}}


@bp.post("/<key>/versions/<int:version>/approval")
@declare("approveProcessDefinitionVersion", "process definitions", "Approve a deployed version (QA, signed)",
         policy=roles("qa"), ok={"200": ("Approved: new instances of the key start on this version", APPROVAL)},
         errors=("400", "404", "409"), body="DefinitionApproval", path=VERSION,
         description="Change control (OOS-24, OOS-25): a version deployed by a process designer starts no instance "
                     "until a QA user other than its deployer approves it, re-entering the password (signature "
                     "meaning `approval`).")
def approve(key: str, version: int) -> dict[str, Any]:
    return _decide(definitions.approve_definition, key, version)


@bp.post("/<key>/versions/<int:version>/rejection")
@declare("rejectProcessDefinitionVersion", "process definitions", "Reject a deployed version (QA, signed)",
         policy=roles("qa"), ok={"200": ("Rejected: the version never starts", APPROVAL)},
         errors=("400", "404", "409"), body="DefinitionRejection", path=VERSION,
         description="Change control (OOS-24): QA rejects a version awaiting approval, with a reason and a signature.")
def reject(key: str, version: int) -> dict[str, Any]:
    return _decide(definitions.reject_definition, key, version, current_body()["reason"])


def _decide(decision: Any, key: str, version: int, *reason: str) -> dict[str, Any]:
    """QA's signed approval or rejection of a version (change control, OOS-24)."""
    app, actor = container(), current_actor()
    with app.uow() as uow:
        definition = decision(uow.session, app.clock.now(), actor, key, version,
                              signing_credentials(current_body()["signature"]), *reason)
        uow.commit()
        return {"key": definition.key, "version": definition.version, "status": definition.status,
                "approved_by": definition.approved_by, "approved_at": iso(definition.approved_at)}
