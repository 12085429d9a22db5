"""Change control for process definitions: who deploys, QA approval by signature, the pathway's controls.

# REQ: OOS-24 (a new process version runs only once QA approved it with an electronic signature)
# REQ: OOS-25 (deploying needs process_designer; no task is open to everyone)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from engine.bootstrap import Oospath
from engine.bpmn.errors import BpmnLoadError
from engine.services import accounts, definitions, instances, tasks
from engine.services.errors import Conflict, Forbidden
from engine.services.identity import SYSTEM, Actor
from engine.services.signatures import Credentials, SignatureRefused
from engine.store.identity_models import SignatureRow
from engine.store.models import AuditEntry, ProcessDefinition
from tests.integration.conftest import FIXTURES, fixture_bundle

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {"bpmn": BPMN, "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
PASSWORD = "correct horse battery"
DESIGNER = Actor("dora.designer", frozenset({"process_designer"}), "Cellvia Manufacturing", "Dora Designer")
QA = Actor("quentin.qa", frozenset({"qa"}), "Cellvia Manufacturing", "Quentin QA")
DESIGNER_AND_QA = Actor("dual.role", frozenset({"process_designer", "qa"}), "Cellvia Manufacturing", "Dual Role")


@pytest.fixture
def people(app: Oospath) -> None:
    with app.uow() as uow:
        now = app.runtime.clock.now()
        accounts.add_organisation(uow.session, now, "Cellvia Manufacturing", "manufacturer")
        for actor in (DESIGNER, QA, DESIGNER_AND_QA):
            accounts.add_user(uow.session, now, actor.user, actor.printed_name or actor.user, PASSWORD,
                              memberships=[("Cellvia Manufacturing", role) for role in sorted(actor.roles)])
        uow.commit()


def deploy_as(app: Oospath, actor: Actor, files: dict[str, bytes]) -> list[tuple[str, int, str, bool]]:
    with app.uow() as uow:
        outcomes = definitions.deploy(uow.session, app.runtime, files, actor)
        uow.commit()
        return [(o.definition.key, o.definition.version, o.definition.status, o.created) for o in outcomes]


def approve(app: Oospath, actor: Actor, key: str, version: int, password: str = PASSWORD) -> ProcessDefinition:
    with app.uow() as uow:
        definition = definitions.approve_definition(uow.session, app.runtime.clock.now(), actor, key, version,
                                                    Credentials(actor.user, password))
        uow.commit()
        return definition


def start(app: Oospath, key: str = "approval", version: int | None = None) -> int:
    """The definition version the new instance runs on."""
    with app.uow() as uow:
        row = instances.start_instance(uow.session, app.runtime, key, {"case_id": None}, SYSTEM, version)
        uow.commit()
        return instances.definition_of(uow.session, row).version


def status_of(app: Oospath, key: str, version: int) -> str:
    with app.uow() as uow:
        return definitions.get_definition(uow.session, key, version).status


def refusal(app: Oospath, actor: Actor, files: dict[str, bytes]) -> str:
    """The deploy problems as the designer reads them; nothing is stored."""
    with pytest.raises(BpmnLoadError) as refused:
        deploy_as(app, actor, files)
    with app.uow() as uow:
        assert uow.session.scalars(select(ProcessDefinition)).all() == [], "a refused bundle stores nothing"
    return str(refused.value)


# ---- who deploys ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("roles", [frozenset(), frozenset({"admin"}), frozenset({"qa"})])
def test_oos25_deploying_without_process_designer_is_refused(app: Oospath, roles: frozenset[str]) -> None:
    with pytest.raises(Forbidden, match=r"OOS-25.*'process_designer'"):
        deploy_as(app, Actor("mallory", roles), fixture_bundle(1))
    with app.uow() as uow:
        assert uow.session.scalars(select(ProcessDefinition)).all() == []


def test_oos24_the_installation_deploy_is_approved_at_once_and_the_audit_says_so(app: Oospath) -> None:
    assert deploy_as(app, SYSTEM, fixture_bundle(1)) == [("approval", 1, "approved", True)]
    assert start(app) == 1
    with app.uow() as uow:
        approved = uow.session.scalars(select(AuditEntry).where(AuditEntry.action == "definition.approved")).one()
    assert "installed from the release's processes directory" in (approved.reason or "")


def test_oos24_a_restart_does_not_reinstall_the_release_over_a_newer_approved_version(
        app: Oospath, people: None) -> None:
    deploy_as(app, SYSTEM, fixture_bundle(1))
    deploy_as(app, DESIGNER, fixture_bundle(2))
    approve(app, QA, "approval", 2)
    assert deploy_as(app, SYSTEM, fixture_bundle(1)) == [("approval", 1, "approved", False)]
    assert start(app) == 2


# ---- approval ------------------------------------------------------------------------------------------
def test_oos24_a_deployed_version_awaits_approval_and_cannot_start(app: Oospath, people: None) -> None:
    assert deploy_as(app, DESIGNER, fixture_bundle(1)) == [("approval", 1, "awaiting_approval", True)]
    with pytest.raises(Conflict, match="version 1 of process 'approval' awaits QA approval"):
        start(app)
    with pytest.raises(Conflict, match="version 1 of process 'approval' awaits QA approval"):
        start(app, version=1)


def test_oos24_qa_approval_with_the_right_password_makes_the_version_start(app: Oospath, people: None) -> None:
    deploy_as(app, SYSTEM, fixture_bundle(1))
    deploy_as(app, DESIGNER, fixture_bundle(2))
    assert start(app) == 1, "until v2 is approved, new instances start on the approved v1"
    definition = approve(app, QA, "approval", 2)
    assert (definition.status, definition.approved_by) == ("approved", QA.user)
    assert start(app) == 2
    with app.uow() as uow:
        signature = uow.session.get(SignatureRow, definition.approval_signature_id)
        assert signature is not None
        assert (signature.printed_name, signature.meaning, signature.subject_id) == ("Quentin QA", "approval",
                                                                                     "approval:2")
        assert signature.signed_content["files"].keys() == fixture_bundle(2).keys()
        trail = [(e.actor, e.action, e.reason) for e in uow.session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(["definition.deployed", "definition.approved", "instance.started"]))
            .order_by(AuditEntry.id))][-4:]
    assert trail == [(DESIGNER.user, "definition.deployed", None),
                     (SYSTEM.user, "instance.started", "started on version 1 of 'approval' (approved)"),
                     (QA.user, "definition.approved", None),
                     (SYSTEM.user, "instance.started", "started on version 2 of 'approval' (approved)")]


def test_oos24_a_wrong_password_signs_nothing_and_the_version_still_waits(app: Oospath, people: None) -> None:
    deploy_as(app, DESIGNER, fixture_bundle(1))
    with pytest.raises(SignatureRefused, match="password is wrong"):
        approve(app, QA, "approval", 1, password="not the password")
    assert status_of(app, "approval", 1) == "awaiting_approval"
    with pytest.raises(Conflict):
        start(app)


def test_oos25_the_deployer_cannot_approve_their_own_version(app: Oospath, people: None) -> None:
    deploy_as(app, DESIGNER_AND_QA, fixture_bundle(1))
    with pytest.raises(Forbidden, match=r"segregation of duties.*'dual\.role' deployed version 1"):
        approve(app, DESIGNER_AND_QA, "approval", 1)
    assert status_of(app, "approval", 1) == "awaiting_approval"


def test_oos25_approving_needs_the_qa_role(app: Oospath, people: None) -> None:
    deploy_as(app, DESIGNER, fixture_bundle(1))
    with pytest.raises(Forbidden, match=r"OOS-25.*role 'qa'"):
        approve(app, Actor("dora.designer", frozenset({"process_designer"})), "approval", 1)


def test_oos24_a_rejected_version_never_starts_and_cannot_then_be_approved(app: Oospath, people: None) -> None:
    deploy_as(app, DESIGNER, fixture_bundle(1))
    with app.uow() as uow:
        definitions.reject_definition(uow.session, app.runtime.clock.now(), QA, "approval", 1,
                                      Credentials(QA.user, PASSWORD), reason="the script stamps the wrong value")
        uow.commit()
    with pytest.raises(Conflict, match="version 1 of process 'approval' was rejected"):
        start(app)
    with pytest.raises(Conflict, match="is rejected, not awaiting approval"):
        approve(app, QA, "approval", 1)


# ---- the pathway's legal controls ----------------------------------------------------------------------
def shipped_with_oos_case(edit: callable) -> dict[str, bytes]:  # type: ignore[valid-type]
    files = definitions.bundle_from_directory(PROCESSES)
    tree = etree.fromstring(files["oos_case.bpmn"])
    edit(tree)
    files["oos_case.bpmn"] = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return files


def bypass(tree: etree._Element, element_id: str) -> None:
    """Remove a task and its flows, wiring its incoming flow straight to what came after it."""
    (node,) = tree.xpath("//*[@id=$id]", id=element_id)
    (incoming,) = tree.xpath("//bpmn:sequenceFlow[@targetRef=$id]", namespaces=NS, id=element_id)
    (outgoing,) = tree.xpath("//bpmn:sequenceFlow[@sourceRef=$id]", namespaces=NS, id=element_id)
    after = outgoing.get("targetRef")
    incoming.set("targetRef", after)
    for ref in tree.xpath("//*[@id=$id]/bpmn:incoming", namespaces=NS, id=after):
        if ref.text == outgoing.get("id"):
            ref.text = incoming.get("id")
    for gone in [node, outgoing, *tree.xpath("//bpmn:flowNodeRef[text()=$id]", namespaces=NS, id=element_id),
                 *tree.xpath("//bpmndi:*[@bpmnElement=$a or @bpmnElement=$b]", namespaces=NS, a=element_id,
                             b=outgoing.get("id"))]:
        gone.getparent().remove(gone)


def test_oos08_a_version_of_oos_case_without_the_qp_verification_is_refused(app: Oospath, people: None) -> None:
    files = shipped_with_oos_case(lambda tree: bypass(tree, "verify_batch_verifications"))
    detail = refusal(app, DESIGNER, files)
    assert "OOS-08" in detail and "'verify_batch_verifications'" in detail and "missing" in detail
    assert "oos_case.bpmn" in detail


def test_oos08_moving_the_qp_verification_out_of_the_qp_lane_is_refused(app: Oospath, people: None) -> None:
    def rename_qp_lane(tree: etree._Element) -> None:
        (lane,) = tree.xpath("//bpmn:lane[@id='lane_qp']", namespaces=NS)
        lane.set("id", "qualified_person")  # no longer a role lane: open to whom?

    detail = refusal(app, DESIGNER, shipped_with_oos_case(rename_qp_lane))
    assert "OOS-08" in detail and "lane 'lane_qp'" in detail and "'verify_batch_verifications'" in detail


def test_oos13_a_renamed_pathway_element_is_refused_naming_it(app: Oospath, people: None) -> None:
    files = definitions.bundle_from_directory(PROCESSES)
    text = files["oos_case.bpmn"].decode()
    files["oos_case.bpmn"] = text.replace('"approve_sa_notification"', '"sa_notification_ok"').replace(
        ">approve_sa_notification<", ">sa_notification_ok<").encode()
    detail = refusal(app, DESIGNER, files)
    assert "OOS-13" in detail and "'approve_sa_notification'" in detail and "renamed" in detail


def test_oos24_the_shipped_processes_deploy_unchanged_as_a_user_version(app: Oospath, people: None) -> None:
    outcomes = deploy_as(app, DESIGNER, definitions.bundle_from_directory(PROCESSES))
    assert {(key, status) for key, _, status, _ in outcomes} == {
        ("oos_case", "awaiting_approval"), ("written_agreement", "awaiting_approval"),
        ("periodic_review", "awaiting_approval")}


# ---- no task open to everyone --------------------------------------------------------------------------
def approval_without_lanes(role_property: str | None) -> dict[str, bytes]:
    tree = etree.fromstring((FIXTURES / "approval.bpmn").read_bytes())
    for lane_set in tree.xpath("//bpmn:laneSet", namespaces=NS):
        lane_set.getparent().remove(lane_set)
    if role_property is not None:
        (properties,) = tree.xpath("//bpmn:userTask[@id='approve']//*[local-name()='properties']", namespaces=NS)
        etree.SubElement(properties, properties[0].tag, name="role", value=role_property)
    return {"approval.bpmn": etree.tostring(tree), "approve.schema.json": (FIXTURES / "approve.schema.json")
            .read_bytes()}


def test_oos25_a_user_task_outside_any_lane_without_a_role_is_refused(app: Oospath, people: None) -> None:
    detail = refusal(app, DESIGNER, approval_without_lanes(None))
    assert "approval.bpmn" in detail and "'approve'" in detail and "OOS-25: user task has no role" in detail


def test_oos25_an_unknown_role_property_is_refused(app: Oospath, people: None) -> None:
    detail = refusal(app, DESIGNER, approval_without_lanes("everyone"))
    assert "'approve'" in detail and "role 'everyone'" in detail


def test_oos25_a_task_outside_any_lane_belongs_to_its_role_property(app: Oospath, people: None) -> None:
    deploy_as(app, DESIGNER, approval_without_lanes("qa"))
    approve(app, QA, "approval", 1)
    start(app)
    with app.uow() as uow:
        assert [t.element_id for t in tasks.list_tasks(uow.session, roles={"qa"})] == ["approve"]
        assert tasks.list_tasks(uow.session, roles={"physician", "qp", "process_designer"}) == []
