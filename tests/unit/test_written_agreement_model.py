"""The written agreement process (processes/written_agreement.bpmn + forms), run in memory (OOS-15).

Drives the process with SpiffWorkflow through our parser and the safe script engine, as
production does: every user task gets form data that is first validated against the
task's JSON Schema. No database: putting the agreement in force at the end event is the
engine's job (``engine.services.agreements``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.loader import validate_paths
from engine.bpmn.parser import OospathParser
from engine.bpmn.safe_expressions import safe_script_engine

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
BPMN_FILE = PROCESSES / "written_agreement.bpmn"
FORMS = PROCESSES / "forms"
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
REQ_ID = re.compile(r"\bOOS-\d\d\b")
MEANING = "I approve this written agreement and the responsibilities it assigns"
SIGNATURES = {"sign_for_manufacturer": "manufacturer", "sign_for_importer": "importer", "sign_for_mah": "mah"}


@cache
def load_spec():
    parser = OospathParser(validator=BpmnValidator())  # also validates against the BPMN 2.0 XSD
    parser.add_bpmn_file(str(BPMN_FILE))
    return parser.get_spec("written_agreement"), parser.get_subprocess_specs("written_agreement")


@cache
def tree():
    return etree.parse(str(BPMN_FILE))


def xp(path: str, node=None) -> list:
    return (node if node is not None else tree()).xpath(path, namespaces=NS)


def form_of(task_id: str) -> str:
    [value] = xp(f"//bpmn:userTask[@id='{task_id}']//spiffworkflow:property[@name='formJsonSchemaFilename']/@value")
    return value


def lane_of(node_id: str) -> str:
    [lane] = xp(f"//bpmn:lane[bpmn:flowNodeRef/text()='{node_id}']/@id")
    return lane


@cache
def validator(form_file: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((FORMS / form_file).read_text()), format_checker=FormatChecker())


DRAFT = {
    "agreement_reference": "WA-2026-003 v1",
    "manufacturer": "CellWorks GmbH",
    "importer": "EuroImport BV",
    "mah": "Car-T Pharma SA",
    "valid_from": "2026-01-01",
    "valid_to": "2027-12-31",
    "responsibilities": {
        "treating_physician": "manufacturer",
        "supervisory_authority": "mah",
        "national_competent_authority": "importer",
        "sponsor_competent_authority": "mah",
        "ema_periodic_review": "mah",
    },
}
NO_IMPORTER = {
    **DRAFT,
    "importer": None,
    "responsibilities": {**DRAFT["responsibilities"], "national_competent_authority": "mah"},
}
APPROVE = {"approved": True, "comments": "Duties as agreed."}
REJECT = {"approved": False, "comments": "The NCA contact must be the MAH."}


def signature(party: str, name: str) -> dict[str, Any]:
    return {f"{party}_signatory_name": name, f"{party}_signature_meaning": MEANING, f"{party}_signed": True}


SIGNED_BY = {
    "sign_for_manufacturer": signature("manufacturer", "Dr. A. Weber (Head of QA)"),
    "sign_for_importer": signature("importer", "J. de Vries (QP)"),
    "sign_for_mah": signature("mah", "M. Dubois (Head of RA)"),
}


@dataclass
class Run:
    workflow: BpmnWorkflow
    steps: list[str] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        return self.workflow.last_task.data

    @property
    def end_events(self) -> set[str]:
        return {
            t.task_spec.name
            for t in self.workflow.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.__class__.__name__ == "EndEvent"
        }


def drive(drafts: list[dict], reviews: list[dict], max_steps: int = 50) -> Run:
    """Run to the end: the n-th draft/review task gets the n-th form of its list; signatures sign."""
    spec, subprocess_specs = load_spec()
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=safe_script_engine())
    wf.do_engine_steps()
    run = Run(wf)
    queues = {"draft_agreement": list(drafts), "review_agreement": list(reviews)}
    for _ in range(max_steps):
        if wf.completed:
            return run
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        assert ready, f"stuck after {run.steps}"
        task = ready[0]
        name = task.task_spec.name
        form = queues[name].pop(0) if name in queues else SIGNED_BY[name]
        errors = list(validator(form_of(name)).iter_errors(form))
        assert not errors, f"{name}: test form data invalid: {[e.message for e in errors]}"
        task.set_data(**form)
        task.run()
        run.steps.append(name)
        wf.do_engine_steps()
    raise AssertionError(f"did not complete within {max_steps} steps: {run.steps}")


# ---------------------------------------------------------------------------- paths


def test_approved_agreement_with_importer_is_signed_by_all_three_parties():
    # REQ: OOS-15 the parties define their roles in a written agreement; every party signs (OOS-24)
    run = drive([DRAFT], [APPROVE])
    assert run.end_events == {"agreement_in_force"}
    assert run.steps[:2] == ["draft_agreement", "review_agreement"]
    assert sorted(run.steps[2:]) == sorted(SIGNATURES)
    # signatures are kept side by side, never overwriting each other
    for form in SIGNED_BY.values():
        assert form.items() <= run.data.items()
    assert run.data["responsibilities"] == DRAFT["responsibilities"]


def test_approved_agreement_without_importer_skips_the_importer_signature():
    # REQ: OOS-15 the importer signs only where the agreement names one
    run = drive([NO_IMPORTER], [APPROVE])
    assert run.end_events == {"agreement_in_force"}
    assert "sign_for_importer" not in run.steps
    assert {"sign_for_manufacturer", "sign_for_mah"} <= set(run.steps)
    assert run.data["importer"] is None
    assert "importer_signatory_name" not in run.data


def test_rejected_draft_goes_back_to_drafting_until_approved():
    # REQ: OOS-15 a rejected draft is revised, reviewed again, and only an approved one is signed
    revised = {**DRAFT, "agreement_reference": "WA-2026-003 v2"}
    run = drive([DRAFT, revised], [REJECT, APPROVE])
    assert run.end_events == {"agreement_in_force"}
    assert run.steps[:4] == ["draft_agreement", "review_agreement", "draft_agreement", "review_agreement"]
    assert run.data["agreement_reference"] == "WA-2026-003 v2"
    assert sorted(run.steps[4:]) == sorted(SIGNATURES)


def test_no_signature_before_approval():
    # REQ: OOS-15
    spec, subprocess_specs = load_spec()
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=safe_script_engine())
    wf.do_engine_steps()
    for form in (DRAFT, REJECT):
        [task] = wf.get_tasks(state=TaskState.READY, manual=True)
        task.set_data(**form)
        task.run()
        wf.do_engine_steps()
    assert [t.task_spec.name for t in wf.get_tasks(state=TaskState.READY, manual=True)] == ["draft_agreement"]
    reached = wf.get_tasks(state=TaskState.READY | TaskState.COMPLETED)
    assert not {t.task_spec.name for t in reached} & set(SIGNATURES)


# ---------------------------------------------------------------------------- forms


def test_draft_assigns_every_duty_to_a_party_of_the_agreement():
    # REQ: OOS-15 who communicates with physicians and competent authorities is defined
    v = validator("agreement_draft.schema.json")
    assert v.is_valid(DRAFT) and v.is_valid(NO_IMPORTER)
    missing_duty = {**DRAFT, "responsibilities": {k: x for k, x in DRAFT["responsibilities"].items()
                                                  if k != "supervisory_authority"}}
    assert not v.is_valid(missing_duty)
    assert not v.is_valid({**DRAFT, "responsibilities": {**DRAFT["responsibilities"], "supervisory_authority": "cro"}})
    # a duty cannot go to an importer that is not a party
    assert not v.is_valid({**NO_IMPORTER, "responsibilities": DRAFT["responsibilities"]})
    assert not v.is_valid({k: x for k, x in DRAFT.items() if k != "importer"})  # importer is stated, maybe null
    assert not v.is_valid({**DRAFT, "valid_to": "31.12.2027"})


def test_review_rejection_says_why():
    # REQ: OOS-15
    v = validator("agreement_review.schema.json")
    assert v.is_valid(APPROVE) and v.is_valid({"approved": True}) and v.is_valid(REJECT)
    assert not v.is_valid({"approved": False})
    assert not v.is_valid({"approved": False, "comments": ""})


@pytest.mark.parametrize("task_id", sorted(SIGNATURES))
def test_each_signature_has_its_own_form_and_meaning(task_id):
    # REQ: OOS-15 OOS-24 signature shows name and meaning; fields are prefixed per party
    party = SIGNATURES[task_id]
    assert form_of(task_id) == f"agreement_signature_{party}.schema.json"
    v = validator(form_of(task_id))
    assert v.is_valid(SIGNED_BY[task_id])
    assert not v.is_valid({**SIGNED_BY[task_id], f"{party}_signed": False})
    assert not v.is_valid({**SIGNED_BY[task_id], f"{party}_signature_meaning": "ok"})
    schema = json.loads((FORMS / form_of(task_id)).read_text())
    assert all(name.startswith(f"{party}_") for name in schema["properties"])


# ---------------------------------------------------------------------------- model conventions


def test_pool_lanes_and_roles():
    # REQ: OOS-25 roles come from lanes
    assert xp("//bpmn:process/@id") == ["written_agreement"]
    assert xp("//bpmn:process/@isExecutable") == ["true"]
    assert {lane.get("id"): lane.get("name") for lane in xp("//bpmn:lane")} == {
        "lane_qa": "Manufacturer QA",
        "lane_importer_qa": "Importer QA",
        "lane_mah_ra": "MAH regulatory affairs",
    }
    expected = {
        "draft_agreement": "lane_qa",
        "review_agreement": "lane_mah_ra",
        "sign_for_manufacturer": "lane_qa",
        "sign_for_importer": "lane_importer_qa",
        "sign_for_mah": "lane_mah_ra",
    }
    assert {task: lane_of(task) for task in xp("//bpmn:userTask/@id")} == expected
    assert xp("//bpmn:endEvent/@id") == ["agreement_in_force"]


def test_every_element_documents_its_requirements_and_has_a_shape():
    # REQ: OOS-24 traceability
    nodes = xp("//bpmn:process/*[@id and not(self::bpmn:laneSet) and not(self::bpmn:sequenceFlow)]")
    flows = xp("//bpmn:sequenceFlow")
    shapes = set(xp("//bpmndi:BPMNShape/@bpmnElement"))
    edges = set(xp("//bpmndi:BPMNEdge/@bpmnElement"))
    for el in nodes + flows + xp("//bpmn:lane") + xp("//bpmn:participant") + xp("//bpmn:process"):
        [doc, *_] = el.findall(f"{{{NS['bpmn']}}}documentation")
        assert REQ_ID.search(doc.text or ""), el.get("id")
    assert {n.get("id") for n in nodes + xp("//bpmn:lane") + xp("//bpmn:participant")} == shapes
    assert {f.get("id") for f in flows} == edges


def test_bundle_passes_the_deploy_loader():
    # the same checks as `oospath deploy`: XSD, safe expressions, DMN cells, forms
    assert validate_paths([PROCESSES]) == []
