"""Deploying process definitions: versioned, content-hashed, spec stored once.

Re-deploying identical content is a no-op; changed content gets the next version;
instances stay pinned to the definition row they started on.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.errors import BpmnLoadError, BpmnProblem
from engine.bpmn.loader import load_bundle
from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.errors import NotFound
from engine.services.identity import Actor
from engine.services.runtime import Runtime
from engine.store.models import Deployment, DeploymentFile, ProcessDefinition

BUNDLE_SUFFIXES = (".bpmn", ".dmn", ".json")


@dataclass(frozen=True)
class DeployOutcome:
    definition: ProcessDefinition
    created: bool


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def bundle_from_directory(directory: Path) -> dict[str, bytes]:
    """The files of ``processes/``: BPMN and DMN at the top, form schemas under ``forms/``."""
    files = {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.suffix in (".bpmn", ".dmn")}
    forms = directory / "forms"
    if forms.is_dir():
        files.update({p.name: p.read_bytes() for p in sorted(forms.glob("*.json"))})
    return files


def _bundle_hash(files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{sha256(files[name])}\n".encode())
    return digest.hexdigest()


def deploy(
    session: Session, runtime: Runtime, files: Mapping[str, bytes], actor: Actor
) -> list[DeployOutcome]:
    """Validate and store a bundle; one definition version per executable process in it."""
    bundle = load_bundle(files)
    if not bundle.specs:
        first = next((name for name in sorted(files) if name.endswith(".bpmn")), "(no .bpmn file)")
        raise BpmnLoadError([BpmnProblem(first, None, None, 'no executable process: mark the process to run with '
                                                          'isExecutable="true"')])
    bundle_sha = _bundle_hash(files)
    now = runtime.clock.now()
    outcomes: list[DeployOutcome] = []
    deployment: Deployment | None = None
    for key, spec in sorted(bundle.specs.items()):
        latest = latest_definition(session, key)
        if latest is not None and latest.content_sha256 == bundle_sha:
            outcomes.append(DeployOutcome(latest, created=False))
            continue
        if deployment is None:
            deployment = Deployment(bundle_sha256=bundle_sha, deployed_at=now, deployed_by=actor.user)
            session.add(deployment)
            session.flush()
            for name, content in files.items():
                session.add(DeploymentFile(deployment_id=deployment.id, filename=name,
                                           sha256=sha256(content), content=content.decode("utf-8")))
        definition = ProcessDefinition(
            key=key,
            version=(latest.version + 1) if latest else 1,
            name=bundle.process_names.get(key),
            deployment_id=deployment.id,
            content_sha256=bundle_sha,
            spec=runtime.serializer.spec_to_json(spec, bundle.subprocess_specs.get(key, {})),
            elements={eid: dataclasses.asdict(info) for eid, info in bundle.elements.get(key, {}).items()},
            forms=bundle.forms,
            deployed_at=now,
            deployed_by=actor.user,
        )
        session.add(definition)
        session.flush()
        audit.append(session, now, actor, AuditEvent(
            "definition.deployed",
            data_after={"key": key, "version": definition.version, "sha256": bundle_sha,
                        "files": {name: sha256(c) for name, c in files.items()}},
        ))
        outcomes.append(DeployOutcome(definition, created=True))
    return outcomes


def latest_definition(session: Session, key: str) -> ProcessDefinition | None:
    return session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.key == key)
        .order_by(ProcessDefinition.version.desc()).limit(1)
    )


def get_definition(session: Session, key: str, version: int | None = None) -> ProcessDefinition:
    if version is None:
        definition = latest_definition(session, key)
    else:
        definition = session.scalar(
            select(ProcessDefinition).where(ProcessDefinition.key == key, ProcessDefinition.version == version)
        )
    if definition is None:
        which = f"version {version} of " if version is not None else ""
        raise NotFound(f"{which}process definition '{key}' is not deployed")
    return definition


def list_definitions(session: Session) -> list[ProcessDefinition]:
    return list(session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version)))


def definition_files(session: Session, definition: ProcessDefinition) -> list[DeploymentFile]:
    return list(session.scalars(
        select(DeploymentFile).where(DeploymentFile.deployment_id == definition.deployment_id)
        .order_by(DeploymentFile.filename)
    ))

