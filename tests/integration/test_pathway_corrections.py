"""Pathway corrections: the request in force, the agreement's duties, its reference, form refusals naming the rule.

# REQ: OOS-19 (administration linked to the decision record in force)
# REQ: OOS-15 (the agreement decides who performs each communication task; the agreement named is the one in force)
# REQ: OOS-03 OOS-16 (a refused form names the requirement)
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select

from engine.bootstrap import Oospath
from engine.clock import FrozenClock
from engine.domain import catalogue
from engine.domain.responsibilities import DUTY_NAMES, PARTIES
from engine.services import cases, catalog, risk_evaluations, tasks
from engine.services.errors import RuleViolation, ValidationFailed
from engine.services.pathway_rules import latest_risk_evaluation
from engine.store.models import Administration
from engine.store.record_store import read_content
from oospath.demo import put_agreement_in_force
from oospath.demo_people import credentials_of
from oospath.scenarios import AGREEMENT_FORMS, EXCEPTIONAL_USE_REASON, PERSONAS, form_data
from tests.integration.conftest import ready_tasks
from tests.integration.test_clock_and_facts import complete_with
from tests.integration.test_deadlines import act, actor_for, open_authorised_case, ready
from workers.embedded import EmbeddedMessaging

PROCESSES = Path(__file__).resolve().parents[2] / "processes"


def drive_to(app: Oospath, messaging: EmbeddedMessaging, case_id: str, element_id: str) -> Any:
    """Complete the scripted user tasks, first ready first, until ``element_id`` is ready; returns that task."""
    for _ in range(40):
        messaging.pump()
        open_tasks = ready_tasks(app, case_id=case_id)
        wanted = [t for t in open_tasks if t.element_id == element_id]
        if wanted:
            return wanted[0]
        act(app, open_tasks[0])
    raise AssertionError(f"{element_id} never became ready")


def agreement_in_force(app: Oospath, messaging: EmbeddedMessaging, monkeypatch: pytest.MonkeyPatch,
                       parties: dict[str, Any] | None = None, **duties: str) -> None:
    """The parties sign a written agreement (the demo one, with these parties and duties) and it is in force."""
    draft = {**AGREEMENT_FORMS["draft_agreement"], **(parties or {})}
    draft["responsibilities"] = {**draft["responsibilities"], **duties}
    monkeypatch.setitem(AGREEMENT_FORMS, "draft_agreement", draft)
    put_agreement_in_force(app, messaging.pump)


def open_case_of(app: Oospath, batch: Any) -> str:
    with app.uow() as uow:
        catalog.register_batch(uow.session, app.clock, batch, actor_for("qa"))
        case_id = cases.open_case(uow.session, app.runtime, batch.batch_id, EXCEPTIONAL_USE_REASON,
                                  actor_for("qa")).id
        uow.commit()
    return case_id


def submit(app: Oospath, task: Any, data: dict[str, Any]) -> None:
    persona = PERSONAS[task.role]
    with app.uow() as uow:
        tasks.complete_task(uow.session, app.runtime, task.id, data, actor_for(persona.role),
                            signature=credentials_of(persona.user))
        uow.commit()


def test_oos_19_the_administration_links_the_request_in_force_not_the_voided_one(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    case_id = open_authorised_case(app)
    act(app, drive_to(app, pathway, case_id, "physician_decision"))
    pathway.pump()
    with app.uow() as uow:  # QA revises the risk evaluation: the first request is void, the physician asks again
        revised = {k: v for k, v in latest_risk_evaluation(uow.session, case_id).content.items()
                   if not k.startswith("risk_evaluation_")}
        revised["residual_risk"] = "Higher than first assessed: endotoxin trend on the shipper."
        version_2 = risk_evaluations.revise_risk_evaluation(uow.session, app.runtime, case_id, revised,
                                                            actor_for("qa"), credentials_of(PERSONAS["qa"].user))
        uow.commit()
    act(app, drive_to(app, pathway, case_id, "confirm_patient_informed_and_administration"))
    with app.uow() as uow:
        (administration,) = uow.session.scalars(select(Administration).where(Administration.case_id == case_id))
    assert app.settings.record_store is not None
    linked = json.loads(read_content(app.settings.record_store, administration.decision_record_sha256))
    assert linked["record_type"] == "physician_request"
    assert linked["content"]["risk_evaluation_version_seen"] == version_2.sha256


def test_oos_15_an_agreement_naming_the_importer_for_the_nca_hands_it_the_nca_confirmation(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging, monkeypatch: pytest.MonkeyPatch
) -> None:
    agreement_in_force(app, pathway, monkeypatch, national_competent_authority="importer")
    case_id = open_authorised_case(app)
    task = drive_to(app, pathway, case_id, "confirm_nca_requirement")
    assert task.role == "importer_qa"
    assert [t.element_id for t in ready_tasks(app, case_id=case_id, roles={"importer_qa"})] == [
        "confirm_nca_requirement"]
    assert "confirm_nca_requirement" not in {t.element_id for t in ready_tasks(app, case_id=case_id,
                                                                                roles={"mah_ra"})}


def test_oos_15_an_agreement_can_name_the_sponsor_for_its_competent_authority_notification(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clinical trial whose manufacturer and sponsor are different legal entities (OOS-11).
    trial_batch = replace(catalogue._batch_imp_transduction_oos(), batch_id="BCMA-IMP-26-0311",
                          mah=catalogue.AURORA_SPONSOR)
    parties = {"agreement_reference": "AGR-HELIX-AURORA-01", "manufacturer": catalogue.HELIX, "importer": None,
               "mah": catalogue.AURORA_SPONSOR}
    everything_to_manufacturer = {duty: "manufacturer" for duty in DUTY_NAMES}
    agreement_in_force(app, pathway, monkeypatch, parties,
                       **(everything_to_manufacturer | {"sponsor_competent_authority": "sponsor"}))
    case_id = open_case_of(app, trial_batch)
    task = drive_to(app, pathway, case_id, "record_sponsor_ca_notification")
    assert task.role == "sponsor"
    assert [t.element_id for t in ready_tasks(app, case_id=case_id, roles={"sponsor"})] == [
        "record_sponsor_ca_notification"]
    with pytest.raises(RuleViolation) as refused:  # and what the sponsor records must have happened (OOS-11)
        complete_with(app, task, notified_at=(clock.now() + timedelta(days=1)).isoformat())
    assert refused.value.requirement == "OOS-11" and "notified_at" in refused.value.detail


def test_oos_15_every_duty_of_the_responsibility_table_can_be_assigned_to_every_party() -> None:
    form = json.loads((PROCESSES / "forms" / "agreement_draft.schema.json").read_text())
    duties = form["properties"]["responsibilities"]["properties"]
    assert tuple(duties) == DUTY_NAMES
    assert all(tuple(duty["enum"]) == PARTIES for duty in duties.values())
    named_in_diagrams = {
        prop.get("value")
        for path in PROCESSES.glob("*.bpmn")
        for prop in etree.parse(str(path)).iter("{*}property") if prop.get("name") == "responsibleDuty"}
    assert named_in_diagrams and named_in_diagrams <= set(DUTY_NAMES)
    assert {"supervisory_authority", "national_competent_authority", "sponsor_competent_authority"} <= (
        named_in_diagrams)


def test_oos_15_a_confirmation_naming_another_agreement_is_refused(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Helix and Nordlicht have no agreement yet: the case waits for one at the gate (the patient is not held up).
    batch = catalogue._cd19_batch("CART19-26-0901", clock.now(), catalogue._cart_results(
        viability=74.0, dose=1.9, transduction=24.0, vcn=2.1), manufacturer=catalogue.HELIX)
    case_id = open_case_of(app, batch)
    gate = drive_to(app, pathway, case_id, "confirm_written_agreement_in_force")
    agreement_in_force(app, pathway, monkeypatch, {"agreement_reference": "AGR-HN", "manufacturer": catalogue.HELIX,
                                                   "importer": None})
    with pytest.raises(RuleViolation) as refused:  # the demo parties' agreement, not these parties' one
        complete_with(app, gate, agreement_reference="QA-AGR-2026-01")
    assert refused.value.requirement == "OOS-15"
    assert "'AGR-HN'" in refused.value.detail and "QA-AGR-2026-01" in refused.value.detail
    complete_with(app, ready(app, case_id, "confirm_written_agreement_in_force"), agreement_reference="AGR-HN")
    assert "confirm_written_agreement_in_force" not in {t.element_id for t in ready_tasks(app, case_id=case_id)}


def test_oos_03_a_request_without_its_attestations_is_refused_naming_the_requirement(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    case_id = open_authorised_case(app)
    task = drive_to(app, pathway, case_id, "physician_decision")
    with app.uow() as uow:
        data = form_data(task.element_id, "authorised", clock.now(), tasks.task_data(uow.session, app.runtime, task))
    data.pop("attest_no_suitable_alternative")
    with pytest.raises(ValidationFailed) as refused:
        submit(app, task, data)
    assert refused.value.extra["requirement"] == "OOS-03"
    assert refused.value.errors == [{"field": "attest_no_suitable_alternative", "requirement": "OOS-03",
                                     "message": "'attest_no_suitable_alternative' is a required property"}]


def test_oos_16_closing_with_records_complete_false_is_refused_naming_the_requirement(
    app: Oospath, clock: FrozenClock, pathway: EmbeddedMessaging
) -> None:
    case_id = open_authorised_case(app)
    task = drive_to(app, pathway, case_id, "review_records_and_close")
    with pytest.raises(ValidationFailed) as refused:
        complete_with(app, task, records_complete=False)
    assert refused.value.extra["requirement"] == "OOS-16" and refused.value.detail.startswith("OOS-16:")
