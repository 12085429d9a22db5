"""The executable OOS pathway model (processes/oos_case.bpmn + DMN + forms), run in memory.

Drives the process with SpiffWorkflow through our parser (``OospathParser``) and the safe
script engine, as production does: user tasks get form data that is first validated against
the task's JSON Schema; worker service tasks (left STARTED by ``WorkerServiceTask``) are
completed with a fake worker result. No database, no workers, no scheduler.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
from engine.bpmn.task_specs import WORK_REQUEST, WorkerServiceTask

PROCESSES = Path(__file__).resolve().parents[2] / "processes"
BPMN_FILE = PROCESSES / "oos_case.bpmn"
DMN_FILES = [PROCESSES / "notified_parties.dmn", PROCESSES / "risk_level.dmn"]
FORMS = PROCESSES / "forms"

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
    "dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/",
}
REQ_ID = re.compile(r"\bOOS-\d\d\b")
FLOW_NODE_TAGS = (
    "startEvent",
    "endEvent",
    "boundaryEvent",
    "userTask",
    "serviceTask",
    "businessRuleTask",
    "exclusiveGateway",
    "parallelGateway",
)
MAH_SA_TASKS = {
    "inform_mah",
    "inform_supervisory_authority",
    "approve_sa_notification",
    "notify_supervisory_authority",
    "notify_national_authority",
}
SPONSOR_TASKS = {"inform_sponsor", "record_sponsor_ca_notification"}


# ---------------------------------------------------------------------------- loading


@cache
def load_spec():
    parser = OospathParser(validator=BpmnValidator())  # also validates against the BPMN 2.0 XSD
    parser.add_bpmn_file(str(BPMN_FILE))
    for dmn in DMN_FILES:
        parser.add_dmn_file(str(dmn))
    return parser.get_spec("oos_case"), parser.get_subprocess_specs("oos_case")


@cache
def bpmn_tree():
    return etree.parse(str(BPMN_FILE))


def xp(path: str, node=None) -> list:
    return (node if node is not None else bpmn_tree()).xpath(path, namespaces=NS)


def form_of(task_id: str) -> str:
    [value] = xp(
        f"//bpmn:userTask[@id='{task_id}']//spiffworkflow:property[@name='formJsonSchemaFilename']/@value"
    )
    return value


def lane_of(node_id: str) -> str:
    [lane] = xp(f"//bpmn:lane[bpmn:flowNodeRef/text()='{node_id}']/@id")
    return lane


@cache
def validator(form_file: str) -> Draft202012Validator:
    schema = json.loads((FORMS / form_file).read_text())
    return Draft202012Validator(schema, format_checker=FormatChecker())


# ---------------------------------------------------------------------------- driving helper


def case_data(**overrides: Any) -> dict[str, Any]:
    """Process data the engine sets at start (authorised, imported product by default)."""
    data = {
        "case_id": "CASE-0001",
        "batch_id": "B-2026-0042",
        "product_code": "ATMP-CAR-T-01",
        "product_kind": "authorised",
        "parties_same_legal_entity": True,
        "imported": True,
        "treating_country": "DE",
        "nca_notification_required": True,
        "exceptional_use_reason": "Patient-specific batch; no re-manufacture possible in time.",
        "oos_findings": [{"attribute": "viability", "value": 68.0, "limit": ">= 70 %"}],
    }
    data.update(overrides)
    return data


NOW = "2026-03-02T10:00:00+01:00"
FORM_DATA: dict[str, dict[str, Any]] = {
    "investigate_oos": {
        "phase1_laboratory_summary": "No analytical error; result confirmed on retest.",
        "root_cause": "Extended hold time before cryopreservation.",
        "product_quality_impact": "Lower viable cell dose; identity and sterility unaffected.",
        "capa_required": True,
    },
    "evaluate_risks": {
        "hazards": [
            {"description": "Reduced efficacy from lower viable dose", "severity": 4, "probability": 3},
            {
                "description": "Infusion reaction from dead-cell debris",
                "severity": 3,
                "probability": 2,
                "detectability": 2,
            },
        ],
        "severity": 4,
        "probability": 3,
        "uncertainty": "Limited data on viability between 65 and 70 %.",
        "risk_controls": "Dose adjusted to viable cells; post-infusion monitoring.",
        "residual_risk": "Acceptable against the risk of no treatment.",
        "rationale": "Patient cannot wait for a new batch.",
        "approved_by": "Head of QA",
    },
    "physician_decision": {
        "request_batch": True,
        "attest_immediate_significant_hazard": True,
        "attest_no_suitable_alternative": True,
        "patient_condition_considerations": "Relapsed disease, no bridging option.",
        "risk_evaluation_version_seen": "RE-1",
    },
    "record_batch_disposition": {"disposition": "destroyed", "disposition_notes": "Destruction record D-17."},
    "verify_batch_verifications": {"batch_verifications_performed": True},
    "verify_import_procedures": {"import_procedures_followed": True},
    "supply_batch": {
        "supplied_at": NOW,
        "treating_site": "University Hospital X",
        "shipment_reference": "SHP-981",
    },
    "approve_sa_notification": {"notification_summary": "OOS batch supplied on request.", "approved": True},
    "record_sponsor_ca_notification": {
        "competent_authority": "BfArM",
        "notified_at": NOW,
        "reference": "CA-2026-7",
    },
    "confirm_patient_informed_and_administration": {
        "patient_informed": True,
        "patient_information_language": "de",
        "administered_at": NOW,
        "dose": "1.1e8 viable CAR+ T cells",
        "patient_pseudonym": "PT-7F3A",
        "chain_of_identity_id": "COI-5521",
        "pv_case_reference": "PV-2026-0088",
    },
    "review_records_and_close": {"records_complete": True, "closure_summary": "Supplied and administered."},
}
DECLINE = {
    "request_batch": False,
    "patient_condition_considerations": "Stable; alternative therapy available.",
    "decline_reason": "Alternative treatment available.",
}


@dataclass
class Run:
    workflow: BpmnWorkflow
    steps: list[str] = field(default_factory=list)  # task ids in the order they were completed
    work: dict[str, dict] = field(default_factory=dict)  # service task id -> work request
    created: set[str] = field(default_factory=set)  # every task spec that ever got a task instance
    timers_after_supply: dict[str, int] = field(default_factory=dict)

    @property
    def end_events(self) -> set[str]:
        return {
            t.task_spec.name
            for t in self.workflow.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.__class__.__name__ == "EndEvent"
        }


def _record_created(run: Run) -> None:
    run.created |= {
        t.task_spec.name for t in run.workflow.get_tasks() if not t.has_state(TaskState.PREDICTED_MASK)
    }


def drive(data: dict[str, Any], forms: dict[str, dict] | None = None, max_steps: int = 200) -> Run:
    """Run the case to completion: worker tasks get a fake result, user tasks their form data."""
    forms = {**FORM_DATA, **(forms or {})}
    spec, subprocess_specs = load_spec()
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=safe_script_engine())
    start = wf.get_tasks(state=TaskState.READY)[0]
    start.data.update(data)
    wf.do_engine_steps()
    run = Run(wf)
    for _ in range(max_steps):
        _record_created(run)
        if wf.completed:
            return run
        started = [
            t for t in wf.get_tasks(state=TaskState.STARTED) if isinstance(t.task_spec, WorkerServiceTask)
        ]
        if started:
            for task in started:
                request = task._get_internal_data(WORK_REQUEST)
                run.work[task.task_spec.name] = request
                task.data[task.task_spec.result_variable] = {
                    "status": "sent",
                    "operation": request["operation"],
                }
                task.complete()
                run.steps.append(task.task_spec.name)
            wf.do_engine_steps()
            continue
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        assert ready, f"stuck: nothing to do after {run.steps}"
        task = ready[0]
        name = task.task_spec.name
        form = forms[name]
        errors = list(validator(form_of(name)).iter_errors(form))
        assert not errors, f"{name}: test form data invalid: {[e.message for e in errors]}"
        task.set_data(**form)
        task.run()
        run.steps.append(name)
        wf.do_engine_steps()
        if name == "supply_batch":
            run.timers_after_supply = {
                t.task_spec.name: t.state
                for t in wf.get_tasks()
                if t.task_spec.name in ("sa_deadline_escalation", "sa_deadline_overdue")
            }
    raise AssertionError(f"did not complete within {max_steps} steps: {run.steps}")


# ---------------------------------------------------------------------------- paths


def test_authorised_imported_product_reaches_case_closed():
    # REQ: OOS-04, OOS-10 (physician informed and investigation started first)
    # REQ: OOS-12 (MAH and SA informed) OOS-09 (QP verifications incl. import) OOS-13 OOS-14 OOS-16
    run = drive(case_data(product_kind="authorised", imported=True, nca_notification_required=True))
    assert run.end_events == {"case_closed"}
    data = run.workflow.last_task.data
    assert data["notify_mah"] and data["notify_supervisory_authority"] and not data["notify_sponsor"]
    assert data["risk_level"] == "medium"  # severity 4 x probability 3 = 12

    for task in (
        "inform_treating_physician",
        "inform_mah",
        "inform_supervisory_authority",
        "provide_risk_evaluation",
        "verify_batch_verifications",
        "verify_import_procedures",
        "supply_batch",
        "approve_sa_notification",
        "notify_supervisory_authority",
        "notify_national_authority",
        "confirm_patient_informed_and_administration",
        "capture_case_records",
        "review_records_and_close",
    ):
        assert task in run.steps, task
    assert not (SPONSOR_TASKS & run.created)
    order = run.steps.index
    assert order("provide_risk_evaluation") < order("physician_decision")  # OOS-06
    assert order("verify_import_procedures") < order("supply_batch")  # OOS-09
    assert order("supply_batch") < order("approve_sa_notification")  # OOS-13

    # REQ: OOS-13 both deadline timers wait on the SA notification once the batch is supplied
    assert run.timers_after_supply == {
        "sa_deadline_escalation": TaskState.WAITING,
        "sa_deadline_overdue": TaskState.WAITING,
    }
    assert "escalate_sa_deadline" not in run.created and "flag_sa_notification_overdue" not in run.created

    assert run.work["inform_treating_physician"] == {
        "operation": "notify",
        "params": {
            "party": "treating_physician",
            "subject": "Batch out of specification",
            "requirement": "OOS-04",
        },
    }
    assert run.work["notify_national_authority"]["params"]["party"] == "national_competent_authority"
    assert run.work["capture_case_records"] == {
        "operation": "capture_record",
        "params": {"record_type": "oos_case_file", "requirement": "OOS-16"},
    }


def test_authorised_not_imported_skips_import_verification_and_nca():
    # REQ: OOS-09 OOS-14
    run = drive(case_data(imported=False, nca_notification_required=False))
    assert run.end_events == {"case_closed"}
    assert "verify_import_procedures" not in run.created
    assert "notify_national_authority" not in run.created
    assert "verify_batch_verifications" in run.steps


def test_clinical_trial_reaches_case_closed_without_mah_or_sa_tasks():
    # REQ: OOS-11 sponsor informed, sponsor's CA notification tracked; no MAH/SA tasks
    run = drive(case_data(product_kind="investigational", parties_same_legal_entity=False, imported=False))
    assert run.end_events == {"case_closed"}
    assert not (MAH_SA_TASKS & run.created), MAH_SA_TASKS & run.created
    assert {"sa_deadline_escalation", "sa_deadline_overdue"}.isdisjoint(run.created)
    assert set(run.steps) >= SPONSOR_TASKS
    assert run.work["inform_sponsor"]["params"] == {"party": "sponsor", "requirement": "OOS-11"}
    # REQ: OOS-15 different legal entities: a written agreement is required
    assert run.workflow.last_task.data["written_agreement_required"] is True


@pytest.mark.parametrize(
    "decision",
    [
        DECLINE,
        # REQ: OOS-03 a request lacking an attestation cannot reach supply
        {**FORM_DATA["physician_decision"], "attest_no_suitable_alternative": False},
        {**FORM_DATA["physician_decision"], "attest_immediate_significant_hazard": False},
    ],
    ids=["declined", "no-alternative-not-attested", "hazard-not-attested"],
)
def test_physician_decline_closes_case_without_supply(decision):
    # REQ: OOS-07 declined batch is not supplied; disposition recorded
    run = drive(case_data(), forms={"physician_decision": decision})
    assert run.end_events == {"case_closed_not_supplied"}
    assert {"supply_batch", "verify_batch_verifications", "approve_sa_notification"}.isdisjoint(run.created)
    assert run.steps[-2:] == ["record_batch_disposition", "capture_disposition_record"]
    assert run.work["capture_disposition_record"]["params"] == {
        "record_type": "batch_disposition",
        "requirement": "OOS-07",
    }
    assert run.workflow.last_task.data["disposition"] == "destroyed"


def _run_until(data: dict[str, Any], stop_at: str) -> BpmnWorkflow:
    """Drive a case until the user task ``stop_at`` is READY (worker tasks get an empty result)."""
    spec, subprocess_specs = load_spec()
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=safe_script_engine())
    wf.get_tasks(state=TaskState.READY)[0].data.update(data)
    wf.do_engine_steps()
    for _ in range(100):
        started = wf.get_tasks(state=TaskState.STARTED)
        for task in started:
            task.complete()
        if started:
            wf.do_engine_steps()
            continue
        task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
        if task.task_spec.name == stop_at:
            return wf
        task.set_data(**FORM_DATA[task.task_spec.name])
        task.run()
        wf.do_engine_steps()
    raise AssertionError(f"{stop_at} never became ready")


def test_first_tasks_are_informing_the_physician_and_starting_the_investigation():
    # REQ: OOS-10 immediate priority; OOS-04 physician informed; OOS-05 investigation; OOS-12 notifications
    spec, subprocess_specs = load_spec()
    wf = BpmnWorkflow(spec, subprocess_specs, script_engine=safe_script_engine())
    wf.get_tasks(state=TaskState.READY)[0].data.update(case_data())
    wf.do_engine_steps()
    assert {t.task_spec.name for t in wf.get_tasks(state=TaskState.STARTED)} == {
        "inform_treating_physician",
        "inform_mah",
    }
    assert [t.task_spec.name for t in wf.get_tasks(state=TaskState.READY, manual=True)] == ["investigate_oos"]


def test_overdue_sa_notification_escalates_then_flags():
    # REQ: OOS-13 escalation before the 48 h deadline, late notification flagged, task stays open
    wf = _run_until(case_data(imported=False), "approve_sa_notification")
    timers = {
        t.task_spec.name: t
        for t in wf.get_tasks(state=TaskState.WAITING)
        if t.task_spec.name.startswith("sa_deadline_")
    }
    assert set(timers) == {"sa_deadline_escalation", "sa_deadline_overdue"}

    def due_in(name):
        return datetime.fromisoformat(timers[name]._get_internal_data("event_value")) - datetime.now(UTC)

    assert timedelta(hours=35, minutes=59) < due_in("sa_deadline_escalation") <= timedelta(hours=36)
    assert timedelta(hours=47, minutes=59) < due_in("sa_deadline_overdue") <= timedelta(hours=48)

    def pass_time(hours):
        for t in timers.values():
            due = datetime.fromisoformat(t._get_internal_data("event_value"))
            t._set_internal_data(event_value=(due - timedelta(hours=hours)).isoformat())
        wf.do_engine_steps()
        wf.do_engine_steps()  # one refresh makes the timer READY, the next fires it

    pass_time(37)
    names = {t.task_spec.name for t in wf.get_tasks(state=TaskState.STARTED)}
    assert names == {"escalate_sa_deadline"}
    assert wf.get_tasks(state=TaskState.READY, manual=True)[0].task_spec.name == "approve_sa_notification"
    pass_time(12)
    names = {t.task_spec.name for t in wf.get_tasks(state=TaskState.STARTED)}
    assert names == {"escalate_sa_deadline", "flag_sa_notification_overdue"}
    flagged = next(
        t for t in wf.get_tasks(state=TaskState.STARTED) if t.task_spec.name == "flag_sa_notification_overdue"
    )
    assert flagged._get_internal_data(WORK_REQUEST)["params"] == {
        "party": "qa_head",
        "subject": "Supervisory Authority notification overdue",
        "requirement": "OOS-13",
    }
    # the notification itself is still required
    assert wf.get_tasks(state=TaskState.READY, manual=True)[0].task_spec.name == "approve_sa_notification"


# ---------------------------------------------------------------------------- DMN


@pytest.mark.parametrize(
    ("severity", "probability", "expected"),
    [
        (1, 5, "low"),
        (2, 2, "low"),
        (5, 1, "low"),
        (2, 3, "medium"),
        (3, 3, "medium"),
        (5, 2, "medium"),
        (4, 3, "medium"),
        (3, 5, "high"),
        (4, 4, "high"),
        (5, 5, "high"),
    ],
)
def test_risk_level_matrix(severity, probability, expected):
    # REQ: OOS-05 ICH Q9 5x5 matrix: severity x probability >= 15 high, >= 6 medium, else low
    form = {**FORM_DATA["evaluate_risks"], "severity": severity, "probability": probability}
    run = drive(case_data(), forms={"evaluate_risks": form, "physician_decision": DECLINE})
    assert run.workflow.last_task.data["risk_level"] == expected


def test_risk_level_table_covers_every_cell_of_the_matrix():
    # REQ: OOS-05
    spec, _ = load_spec()
    engine = spec.task_specs["determine_risk_level"].dmnEngine

    class _Task:  # the DMN engine only reads .data and .workflow.script_engine
        def __init__(self, data):
            self.data = data
            self.workflow = BpmnWorkflow(spec, script_engine=safe_script_engine())

    for s in range(1, 6):
        for p in range(1, 6):
            score = s * p
            expected = "high" if score >= 15 else "medium" if score >= 6 else "low"
            assert engine.result(_Task({"severity": s, "probability": p})) == {"risk_level": expected}, (s, p)


# ---------------------------------------------------------------------------- forms


@pytest.mark.parametrize("form_file", sorted(p.name for p in FORMS.glob("*.schema.json")))
def test_form_is_a_valid_draft_2020_12_schema(form_file):
    # REQ: OOS-24 (attributable, validated user input)
    schema = json.loads((FORMS / form_file).read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["title"] and REQ_ID.search(schema["description"])
    assert set(schema["required"]) <= set(schema["properties"])
    for name, prop in schema["properties"].items():
        assert prop.get("title") and prop.get("description"), f"{form_file}: {name}"


def test_every_user_task_names_an_existing_form():
    user_tasks = xp("//bpmn:userTask/@id")
    assert len(user_tasks) == 11
    for task_id in user_tasks:
        assert (FORMS / form_of(task_id)).is_file(), task_id
    used = {form_of(t) for t in user_tasks}
    assert used == {p.name for p in FORMS.glob("*.schema.json")}


def test_physician_request_form_enforces_attestations_and_reasons():
    # REQ: OOS-03 OOS-06 OOS-07
    v = validator("physician_request.schema.json")
    request = FORM_DATA["physician_decision"]
    assert v.is_valid(request)
    assert not v.is_valid({k: x for k, x in request.items() if k != "attest_no_suitable_alternative"})
    assert not v.is_valid({k: x for k, x in request.items() if k != "risk_evaluation_version_seen"})
    assert v.is_valid(DECLINE)
    assert not v.is_valid({k: x for k, x in DECLINE.items() if k != "decline_reason"})


def test_verification_forms_only_accept_true():
    # REQ: OOS-09 OOS-16 OOS-18
    assert not validator("qp_batch_verification.schema.json").is_valid(
        {"batch_verifications_performed": False}
    )
    assert not validator("qp_import_verification.schema.json").is_valid({"import_procedures_followed": False})
    assert not validator("close_case.schema.json").is_valid(
        {"records_complete": False, "closure_summary": "x"}
    )
    bad = {**FORM_DATA["confirm_patient_informed_and_administration"], "patient_informed": False}
    assert not validator("administration.schema.json").is_valid(bad)
    assert not validator("supply.schema.json").is_valid(
        {**FORM_DATA["supply_batch"], "supplied_at": "yesterday"}
    )


# ---------------------------------------------------------------------------- model conventions

EXPECTED_LANES = {
    "lane_qa": "Manufacturer QC/QA",
    "lane_physician": "Treating physician",
    "lane_qp": "Qualified Person",
    "lane_mah_ra": "MAH regulatory affairs",
    "lane_sponsor": "Sponsor (clinical trials)",
}


def _flow_nodes():
    return [n for tag in FLOW_NODE_TAGS for n in xp(f"//bpmn:process/bpmn:{tag}")]


def test_pool_lanes_and_roles():
    # REQ: OOS-25 roles come from lanes
    [participant] = xp("//bpmn:participant")
    assert participant.get("processRef") == "oos_case"
    assert participant.get("name") == "OOS exceptional use of a cell/tissue-based ATMP batch"
    assert xp("//bpmn:process[@id='oos_case']/@isExecutable") == ["true"]
    assert {lane.get("id"): lane.get("name") for lane in xp("//bpmn:lane")} == EXPECTED_LANES
    for node in _flow_nodes():
        assert len(xp(f"//bpmn:lane[bpmn:flowNodeRef/text()='{node.get('id')}']")) == 1, node.get("id")
    roles = {
        "physician_decision": "lane_physician",
        "confirm_patient_informed_and_administration": "lane_physician",
        "verify_batch_verifications": "lane_qp",
        "verify_import_procedures": "lane_qp",
        "approve_sa_notification": "lane_mah_ra",
        "record_sponsor_ca_notification": "lane_sponsor",
        "supply_batch": "lane_qa",
        "investigate_oos": "lane_qa",
        "evaluate_risks": "lane_qa",
    }
    for task_id, lane in roles.items():
        assert lane_of(task_id) == lane, task_id


def test_bundle_passes_the_deploy_loader():
    # the same checks as `oospath deploy`: XSD, safe expressions, DMN cells, forms
    assert validate_paths([PROCESSES]) == []


def test_every_element_documents_its_requirements():
    # REQ: OOS-24 traceability: every element cites the requirement it implements
    elements = (
        _flow_nodes()
        + xp("//bpmn:sequenceFlow")
        + xp("//bpmn:lane")
        + xp("//bpmn:participant")
        + xp("//bpmn:process")
        + xp("//bpmn:collaboration")
    )
    for el in elements:
        docs = el.findall(f"{{{NS['bpmn']}}}documentation")
        assert docs and REQ_ID.search(docs[0].text or ""), el.get("id")
    for dmn in DMN_FILES:
        tree = etree.parse(str(dmn))
        for desc in tree.xpath("//dmn:decision/dmn:description", namespaces=NS):
            assert REQ_ID.search(desc.text)


def test_full_diagram_interchange():
    shapes = {s.get("bpmnElement"): s for s in xp("//bpmndi:BPMNShape")}
    edges = {e.get("bpmnElement"): e for e in xp("//bpmndi:BPMNEdge")}
    for node in _flow_nodes() + xp("//bpmn:lane") + xp("//bpmn:participant"):
        assert node.get("id") in shapes, node.get("id")
    for flow in xp("//bpmn:sequenceFlow"):
        assert len(xp("di:waypoint", edges[flow.get("id")])) >= 2, flow.get("id")
    assert len(shapes) == len(_flow_nodes()) + 6 and len(edges) == len(xp("//bpmn:sequenceFlow"))


def test_boundary_timers_are_non_interrupting_with_quoted_durations():
    # REQ: OOS-13 escalate at 36 h, flag overdue at 48 h, never cancel the notification
    expected = {"sa_deadline_escalation": '"PT36H"', "sa_deadline_overdue": '"PT48H"'}
    for timer_id, duration in expected.items():
        [event] = xp(f"//bpmn:boundaryEvent[@id='{timer_id}']")
        assert event.get("attachedToRef") == "approve_sa_notification"
        assert event.get("cancelActivity") == "false"
        assert xp("bpmn:timerEventDefinition/bpmn:timeDuration/text()", event) == [duration]


FORBIDDEN = (ast.Attribute, ast.Import, ast.ImportFrom, ast.Lambda, ast.FunctionDef, ast.ClassDef)


def _safe(expr: str) -> bool:
    text = expr.replace("?", "dmn_input")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        tree = ast.parse(f"dmn_input {text}", mode="eval")  # DMN cell such as ">= 3"
    for node in ast.walk(tree):
        if isinstance(node, FORBIDDEN):
            return False
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            return False
    return True


def test_expressions_stay_in_the_safe_subset():
    exprs = (
        xp("//bpmn:conditionExpression/text()")
        + xp("//bpmn:timeDuration/text()")
        + xp("//spiffworkflow:parameter/@value")
    )
    for dmn in DMN_FILES:
        exprs += etree.parse(str(dmn)).xpath("//dmn:text/text()", namespaces=NS)
    assert len(exprs) > 40
    for expr in exprs:
        if expr.strip() != "-":
            assert _safe(expr), expr
