"""Deploying process definitions: versioned, content-hashed, spec stored once, under change control.

Re-deploying identical content is a no-op; changed content gets the next version;
instances stay pinned to the definition row they started on.

Change control (OOS-24, OOS-25; EU GMP Annex 11 §10, Annex 15 change control):

* Deploying needs the role ``process_designer``. A bundle must also pass the deploy checks
  (engine.bpmn.deploy_checks): every user task has a role, and the pathway's own processes
  keep the elements that carry its legal controls.
* A version deployed by a user awaits approval (``status = 'awaiting_approval'``) and starts
  nothing until a QA user, who is not its deployer (segregation of duties), approves it with
  an electronic signature; QA may also reject it with a signature. Only approved versions
  start: a key starts its latest approved version.
* The installation deploy (the server deploying its own ``processes/`` directory at start,
  or the operator's ``oospath deploy``, acting as :data:`engine.services.identity.SYSTEM`)
  is approved at once by the system, and the audit trail says so: those files are the
  release's, which went through the release's own review, and a server must be able to run
  its shipped pathway without a person at hand. An installation deploy whose content is
  already one of the key's versions creates nothing, so a restart never reinstalls the
  release's version over a newer approved one.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.deploy_checks import with_task_roles
from engine.bpmn.loader import Validation, load_deployable, validate_files
from engine.bpmn.xml_safety import stored_text
from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.services.identity import Actor
from engine.services.runtime import Runtime
from engine.services.signatures import Credentials, sign
from engine.store.models import Deployment, DeploymentFile, ProcessDefinition

BUNDLE_SUFFIXES = (".bpmn", ".dmn", ".json")
DESIGNER_ROLE = "process_designer"
APPROVER_ROLE = "qa"
APPROVED, AWAITING_APPROVAL, REJECTED = "approved", "awaiting_approval", "rejected"
INSTALLATION = "installed from the release's processes directory"


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
    """Validate and store a bundle; one definition version per executable process in it.

    Refused unless ``actor`` holds ``process_designer`` or is the system installing the release
    (OOS-25); a user's new version awaits QA approval, the installation's is approved at once.
    """
    installation = _may_deploy(actor)
    bundle = load_deployable(files)  # the very checks `oospath validate` runs
    bundle_sha = _bundle_hash(files)
    now = runtime.clock.now()
    outcomes: list[DeployOutcome] = []
    deployment: Deployment | None = None
    for key, spec in sorted(bundle.specs.items()):
        unchanged = _deployed_with(session, key, bundle_sha, installation)
        if unchanged is not None:
            outcomes.append(DeployOutcome(unchanged, created=False))
            continue
        if deployment is None:
            deployment = _store_files(session, files, bundle_sha, now, actor)
        latest = latest_definition(session, key)
        definition = ProcessDefinition(
            key=key,
            version=(latest.version + 1) if latest else 1,
            name=bundle.process_names.get(key),
            deployment_id=deployment.id,
            content_sha256=bundle_sha,
            spec=runtime.serializer.spec_to_json(spec, bundle.subprocess_specs.get(key, {})),
            elements={eid: dataclasses.asdict(info)
                      for eid, info in with_task_roles(bundle.elements.get(key, {})).items()},
            forms=bundle.forms,
            deployed_at=now,
            deployed_by=actor.user,
            status=APPROVED if installation else AWAITING_APPROVAL,
            approved_by=actor.user if installation else None,
            approved_at=now if installation else None,
        )
        session.add(definition)
        session.flush()
        _audit_deployed(session, now, actor, definition, files, installation)
        outcomes.append(DeployOutcome(definition, created=True))
    return outcomes


def validate(files: Mapping[str, bytes], actor: Actor) -> Validation:
    """What :func:`deploy` would refuse in ``files``, storing nothing: the designer's "Validate".

    The same role as deploying (OOS-25) and the very checks deploy runs
    (:func:`engine.bpmn.loader.examine_deployable`), so "valid" means deploy accepts the bundle.
    """
    _may_deploy(actor)
    return validate_files(files)


def _may_deploy(actor: Actor) -> bool:
    """True for the installation deploy; raises Forbidden for a user without ``process_designer``."""
    if actor.is_system:
        return True
    if not actor.has_role(DESIGNER_ROLE):
        raise Forbidden(f"OOS-25: deploying a process definition needs the role '{DESIGNER_ROLE}'; "
                        f"user '{actor.user}' does not hold it", requirement="OOS-25")
    return False


def _deployed_with(session: Session, key: str, bundle_sha: str, installation: bool) -> ProcessDefinition | None:
    """The version a deploy of this content leaves as it is: the latest, or for the installation any version."""
    if not installation:
        latest = latest_definition(session, key)
        return latest if latest is not None and latest.content_sha256 == bundle_sha else None
    return session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.key == key, ProcessDefinition.content_sha256 == bundle_sha)
        .order_by(ProcessDefinition.version.desc()).limit(1)
    )


def _store_files(session: Session, files: Mapping[str, bytes], bundle_sha: str, now: datetime,
                 actor: Actor) -> Deployment:
    deployment = Deployment(bundle_sha256=bundle_sha, deployed_at=now, deployed_by=actor.user)
    session.add(deployment)
    session.flush()
    for name, content in files.items():
        session.add(DeploymentFile(deployment_id=deployment.id, filename=name,
                                   sha256=sha256(content), content=stored_text(name, content)))
    return deployment


def _audit_deployed(session: Session, now: datetime, actor: Actor, definition: ProcessDefinition,
                    files: Mapping[str, bytes], installation: bool) -> None:
    audit.append(session, now, actor, AuditEvent(
        "definition.deployed",
        data_after={"key": definition.key, "version": definition.version, "sha256": definition.content_sha256,
                    "files": {name: sha256(c) for name, c in files.items()}, "status": definition.status},
    ))
    if installation:
        audit.append(session, now, actor, AuditEvent(
            "definition.approved", data_after={"key": definition.key, "version": definition.version,
                                               "sha256": definition.content_sha256, "approved_by": actor.user},
            reason=f"{INSTALLATION}: approved by the system, no QA signature"))


def latest_definition(session: Session, key: str) -> ProcessDefinition | None:
    return session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.key == key)
        .order_by(ProcessDefinition.version.desc()).limit(1)
    )


def latest_approved_definition(session: Session, key: str) -> ProcessDefinition | None:
    return session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.key == key, ProcessDefinition.status == APPROVED)
        .order_by(ProcessDefinition.version.desc()).limit(1)
    )


def get_definition(session: Session, key: str, version: int | None = None) -> ProcessDefinition:
    """Version ``version`` of ``key`` whatever its status (to show it); without a version, the one that starts."""
    if version is None:
        return startable_definition(session, key)
    definition = session.scalar(
        select(ProcessDefinition).where(ProcessDefinition.key == key, ProcessDefinition.version == version)
    )
    if definition is None:
        raise NotFound(f"version {version} of process definition '{key}' is not deployed")
    return definition


def startable_definition(session: Session, key: str, version: int | None = None) -> ProcessDefinition:
    """The version a new instance starts on: ``version`` if approved, else the latest approved (OOS-24)."""
    if version is not None:
        return require_approved(get_definition(session, key, version))
    definition = latest_approved_definition(session, key)
    if definition is not None:
        return definition
    latest = latest_definition(session, key)
    if latest is None:
        raise NotFound(f"process definition '{key}' is not deployed")
    return require_approved(latest)


def require_approved(definition: ProcessDefinition) -> ProcessDefinition:
    """Refuse (409) to start a version QA has not approved."""
    if definition.status != APPROVED:
        state = "was rejected" if definition.status == REJECTED else "awaits QA approval"
        raise Conflict(f"OOS-24: version {definition.version} of process '{definition.key}' {state}; only a "
                       f"version a QA user approved with an electronic signature starts", requirement="OOS-24",
                       key=definition.key, version=definition.version, definition_status=definition.status)
    return definition


def approval_content(session: Session, definition: ProcessDefinition) -> dict[str, object]:
    """What the approver signs: the version and the SHA-256 of every file of its bundle."""
    return {"key": definition.key, "version": definition.version, "content_sha256": definition.content_sha256,
            "files": {f.filename: f.sha256 for f in definition_files(session, definition)}}


def approve_definition(session: Session, at: datetime, actor: Actor, key: str, version: int,
                       credentials: Credentials | None) -> ProcessDefinition:
    """QA approves a version with an electronic signature (meaning "approval"); from now on it starts.

    Segregation of duties: the user who deployed a version cannot approve it (OOS-25).
    """
    definition = _awaiting_decision(session, actor, key, version, "approving")
    if actor.user == definition.deployed_by:
        raise Forbidden(f"OOS-25: segregation of duties: '{actor.user}' deployed version {version} of process "
                        f"'{key}' and cannot also approve it; another QA user must", requirement="OOS-25")
    signature = sign(session, at, actor, credentials, meaning="approval", subject_type="process_definition",
                     subject_id=f"{key}:{version}", content=approval_content(session, definition))
    definition.status, definition.approved_by, definition.approved_at = APPROVED, actor.user, at
    definition.approval_signature_id = signature.id
    audit.append(session, at, actor, AuditEvent(
        "definition.approved", data_before={"status": AWAITING_APPROVAL},
        data_after={"key": key, "version": version, "status": APPROVED, "sha256": definition.content_sha256,
                    "signature_id": signature.id}))
    session.flush()
    return definition


def reject_definition(session: Session, at: datetime, actor: Actor, key: str, version: int,
                      credentials: Credentials | None, reason: str) -> ProcessDefinition:
    """QA rejects a version with an electronic signature and a reason; it never starts.

    Rejecting grants nothing, so the deployer may also reject (withdraw) their own version if they hold QA.
    """
    if not reason or not reason.strip():
        raise InvalidData("reason: say why the version is rejected")
    definition = _awaiting_decision(session, actor, key, version, "rejecting")
    signature = sign(session, at, actor, credentials, meaning="rejection", subject_type="process_definition",
                     subject_id=f"{key}:{version}", content={**approval_content(session, definition),
                                                             "reason": reason},
                     statement="I reject this process definition version: it must not run")
    definition.status = REJECTED
    definition.approval_signature_id = signature.id
    audit.append(session, at, actor, AuditEvent(
        "definition.rejected", data_before={"status": AWAITING_APPROVAL},
        data_after={"key": key, "version": version, "status": REJECTED, "signature_id": signature.id},
        reason=reason))
    session.flush()
    return definition


def _awaiting_decision(session: Session, actor: Actor, key: str, version: int, doing: str) -> ProcessDefinition:
    if not actor.has_role(APPROVER_ROLE):
        raise Forbidden(f"OOS-25: {doing} a process definition version needs the role '{APPROVER_ROLE}'; "
                        f"user '{actor.user}' does not hold it", requirement="OOS-25")
    definition = get_definition(session, key, version)
    if definition.status != AWAITING_APPROVAL:
        raise Conflict(f"version {version} of process '{key}' is {definition.status.replace('_', ' ')}, "
                       f"not awaiting approval: nothing to decide", key=key, version=version,
                       definition_status=definition.status)
    return definition


def list_definitions(session: Session) -> list[ProcessDefinition]:
    return list(session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key, ProcessDefinition.version)))


def definition_files(session: Session, definition: ProcessDefinition) -> list[DeploymentFile]:
    return list(session.scalars(
        select(DeploymentFile).where(DeploymentFile.deployment_id == definition.deployment_id)
        .order_by(DeploymentFile.filename)
    ))

