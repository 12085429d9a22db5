"""/api/v1/process-definitions: list, deploy, and one version with its XML."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from api.app import container
from api.errors import BadRequest
from api.identity import current_actor
from api.util import iso
from engine.services import definitions
from engine.store.models import ProcessDefinition

bp = Blueprint("definitions", __name__, url_prefix="/api/v1/process-definitions")


def definition_view(d: ProcessDefinition, created: bool | None = None) -> dict[str, Any]:
    view = {"key": d.key, "version": d.version, "name": d.name, "sha256": d.content_sha256,
            "deployed_at": iso(d.deployed_at), "deployed_by": d.deployed_by,
            "links": {"self": f"/api/v1/process-definitions/{d.key}/versions/{d.version}"}}
    if created is not None:
        view["created"] = created
    return view


@bp.get("")
def list_definitions() -> dict[str, Any]:
    with container().uow() as uow:
        return {"items": [definition_view(d) for d in definitions.list_definitions(uow.session)]}


def _uploaded_files() -> dict[str, bytes]:
    if request.files:
        return {f.filename or name: f.read() for name, f in request.files.items(multi=True)}
    body = request.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("files"), dict):
        return {name: str(content).encode() for name, content in body["files"].items()}
    raise BadRequest("upload the BPMN/DMN/form files as multipart/form-data, "
                     "or JSON {\"files\": {\"name.bpmn\": \"<xml>\"}}")


@bp.post("")
def deploy() -> tuple[dict[str, Any], int]:
    app, actor = container(), current_actor()
    files = _uploaded_files()
    with app.uow() as uow:
        outcomes = definitions.deploy(uow.session, app.runtime, files, actor)
        uow.commit()
        items = [definition_view(o.definition, o.created) for o in outcomes]
    return {"items": items}, 201 if any(o.created for o in outcomes) else 200


@bp.get("/<key>/versions/<int:version>")
def get_version(key: str, version: int) -> dict[str, Any]:
    with container().uow() as uow:
        definition = definitions.get_definition(uow.session, key, version)
        files = definitions.definition_files(uow.session, definition)
        view = definition_view(definition)
        view["files"] = [{"filename": f.filename, "sha256": f.sha256, "content": f.content} for f in files]
        view["elements"] = definition.elements
        return view
