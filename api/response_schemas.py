"""Response shapes of the HTTP API (JSON Schema 2020-12), published as OpenAPI components.

Written once and referenced by name from each route's declaration (``api.declarations``);
``tests/e2e/test_api_contract.py`` checks real responses against them.
"""

from __future__ import annotations

from typing import Any

from engine.services.identity import ROLES as ALL_ROLES

ROLES = list(ALL_ROLES)
TASK_STATES = ["ready", "waiting", "completed", "cancelled"]
BATCH_STATUSES = ["pending", "within_specification", "out_of_specification", "oos_case_open",
                  "oos_supplied", "oos_not_supplied"]
CASE_STATUSES = ["open", "closed"]


# ---- small schema helpers ------------------------------------------------------------------------
def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema 2020-12 (OpenAPI 3.1) nullability: a type list including "null"."""
    result = dict(schema)
    kind = result.get("type")
    if isinstance(kind, str):
        result["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        result["type"] = [*kind, "null"]
    elif kind is None:
        return {"anyOf": [schema, {"type": "null"}]}
    return result


STRING = {"type": "string"}
TIME = {"type": "string", "format": "date-time"}
OPT_STRING = nullable(STRING)
OPT_TIME = nullable(TIME)
OBJECT = {"type": "object"}


def obj(properties: dict[str, Any], *, title: str | None = None, description: str | None = None,
        required: list[str] | None = None) -> dict[str, Any]:
    """An object schema; every listed property is required unless ``required`` says otherwise."""
    schema: dict[str, Any] = {"type": "object"}
    if title:
        schema["title"] = title
    if description:
        schema["description"] = description
    schema["required"] = list(properties) if required is None else required
    schema["properties"] = properties
    return schema


def items_of(name: str, description: str | None = None) -> dict[str, Any]:
    return obj({"items": {"type": "array", "items": ref(name)}}, description=description)


# ---- response shapes (written once, referenced everywhere) ---------------------------------------
LINKS = {
    "type": "object", "title": "Links", "required": ["self"],
    "description": "Related resources as paths relative to the server root.",
    "additionalProperties": {"type": "string", "format": "uri-reference"},
}

TASK_PROPERTIES: dict[str, Any] = {
    "id": STRING,
    "name": OPT_STRING,
    "element_id": {"type": "string", "description": "BPMN element id of the task in the process definition"},
    "kind": {"enum": ["user", "service"],
             "description": "`user`: done by a person of `role`; `service`: performed by a worker"},
    "role": nullable({"type": "string", "description": f"lane role, one of {', '.join(ROLES)}; "
                      "never null: every user task belongs to a role (OOS-25)"}),
    "state": {"enum": TASK_STATES},
    "case_id": OPT_STRING,
    "batch_id": OPT_STRING,
    "instance_id": STRING,
    "created_at": TIME,
    "due_at": OPT_TIME,
    "assignee": nullable({"type": "string", "description": "user who claimed the task"}),
    "completed_at": OPT_TIME,
    "completed_by": OPT_STRING,
    "links": ref("Links"),
}

CASE_SUMMARY_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "description": "case id (UUID)"},
    "reference": {"type": "string", "description": "human reference, e.g. OOS-2026-0001", "pattern": "^OOS-"},
    "batch_id": STRING,
    "product_code": STRING,
    "product_kind": {"enum": ["authorised", "investigational"],
                     "description": "authorised: MAH and SA are informed (OOS-12); "
                                    "investigational: the sponsor is (OOS-11)"},
    "status": {"enum": CASE_STATUSES},
    "outcome": nullable({"type": "string", "description": "`supplied` or `not_supplied` once closed (OOS-07)"}),
    "opened_at": TIME,
    "closed_at": OPT_TIME,
}

OOS_FINDING = obj({
    "attribute": STRING,
    "measured": nullable({"type": "string", "description": "measured value or result text as reported"}),
    "limit": {"type": "string", "description": "the limit in force, e.g. '≥ 80 %'"},
    "unit": OPT_STRING,
    "reason": {"enum": ["below lower limit", "above upper limit", "result not accepted", "no result reported"]},
}, title="OOS finding", description="OOS-01: one attribute outside the specification version in force.")

TIMER = obj({
    "element_id": STRING, "due_at": TIME, "status": {"enum": ["waiting", "fired", "cancelled"]},
    "fired_at": OPT_TIME,
}, title="Deadline timer", description="OOS-13: a deadline of the process (e.g. 48 h Supervisory "
                                       "Authority notification), visible and never hidden when late.")

NOTIFICATION = obj({
    "party": STRING, "recipient": STRING, "subject": STRING, "requirement": OPT_STRING, "channel": STRING,
    "message_id": STRING, "sha256": {"type": "string", "description": "hash of the delivered payload"},
    "delivered_at": TIME,
}, title="Notification delivery evidence", description="OOS-04, OOS-11..OOS-14: who was told what, and when.")

RECORD = obj({
    "id": STRING, "record_type": STRING, "sha256": STRING, "media_type": STRING,
    "size": {"type": "integer", "minimum": 0}, "captured_by": STRING, "captured_at": TIME,
}, title="Captured GMP record", description="OOS-16, OOS-17: content-addressed, never overwritten or deleted.")

CASE_DETAIL_PROPERTIES: dict[str, Any] = {
    **CASE_SUMMARY_PROPERTIES,
    "specification_version": {"type": "integer", "minimum": 1},
    "findings": {"type": "array", "items": ref("OosFinding")},
    "parties": {"type": "object", "additionalProperties": OPT_STRING,
                "description": "manufacturer, importer, MAH, sponsor, treating site/country, NCA"},
    "exceptional_use_reason": {"type": "string", "description": "OOS-02: why this use is exceptional"},
    "instance": obj({"id": STRING, "status": STRING, "end_event": OPT_STRING}),
    "open_tasks": {"type": "array", "items": ref("Task")},
    "waiting_for_workers": {"type": "array", "items": ref("Task")},
    "deadlines": {"type": "array", "items": ref("Deadline"), "description": "OOS-13/14: due, met, late by"},
    "timers": {"type": "array", "items": ref("Timer")},
    "notifications": {"type": "array", "items": ref("Notification")},
    "records": {"type": "array", "items": ref("Record")},
    "inbound_events": {"type": "array", "description": "acknowledgements, PV references, LIMS results "
                                                       "(OOS-13, OOS-19)",
                       "items": obj({"event_type": STRING, "message_id": STRING, "received_at": TIME,
                                     "payload": OBJECT})},
    "incidents": {"type": "array", "description": "messages of this case dead-lettered after their retries",
                  "items": obj({"id": STRING, "status": {"enum": ["open", "retried"]}, "error": STRING,
                                "routing_key": STRING, "created_at": TIME})},
    "signatures": {"type": "array", "items": ref("SignatureManifestation"),
                   "description": "OOS-24: every signature of the case's decisions (name, time, meaning, SHA-256)"},
    "links": ref("Links"),
}

AUDIT_ENTRY = obj({
    "id": {"type": "integer"},
    "at": TIME,
    "actor": {"type": "string", "description": "who (OOS-24)"},
    "role": OPT_STRING,
    "action": {"type": "string", "description": "what, e.g. case.opened, task.completed"},
    "element_id": OPT_STRING,
    "task_id": OPT_STRING,
    "data_before": nullable(OBJECT),
    "data_after": nullable(OBJECT),
    "reason": nullable({"type": "string", "description": "why"}),
    "row_hash": {"type": "string", "description": "SHA-256 of this row including prev_hash (OOS-17)"},
    "prev_hash": STRING,
}, title="Audit entry", description="OOS-24: an attributable, hash-chained audit trail row.")

INSTANCE_PROPERTIES: dict[str, Any] = {
    "id": STRING,
    "key": {"type": "string", "description": "process definition key"},
    "definition_id": {"type": "integer"},
    "status": {"type": "string", "description": "running or completed"},
    "started_at": TIME,
    "started_by": STRING,
    "completed_at": OPT_TIME,
    "end_event": OPT_STRING,
    "case_id": OPT_STRING,
    "links": ref("Links"),
}

DEFINITION_PROPERTIES: dict[str, Any] = {
    "key": STRING,
    "version": {"type": "integer", "minimum": 1},
    "name": OPT_STRING,
    "sha256": {"type": "string", "description": "hash of the deployed bundle"},
    "deployed_at": TIME,
    "deployed_by": STRING,
    "status": {"enum": ["approved", "awaiting_approval", "rejected"],
               "description": "change control: only approved versions start (OOS-24)"},
    "approved_by": OPT_STRING,
    "approved_at": OPT_TIME,
    "links": ref("Links"),
}

LIMIT_VIEW = obj({
    "attribute": STRING, "unit": OPT_STRING,
    "lower": nullable({"type": "string", "description": "decimal as text (never rounded)"}),
    "lower_inclusive": {"type": "boolean"},
    "upper": nullable({"type": "string", "description": "decimal as text (never rounded)"}),
    "upper_inclusive": {"type": "boolean"},
    "accepted_results": nullable({"type": "array", "items": STRING}),
    "limit": {"type": "string", "description": "human-readable limit, e.g. '≥ 80 %'"},
})

BATCH_SUMMARY_PROPERTIES: dict[str, Any] = {
    "batch_id": STRING, "product_code": STRING,
    "status": {"enum": BATCH_STATUSES}, "manufactured_at": TIME,
}

BATCH_VIEW_PROPERTIES: dict[str, Any] = {
    **BATCH_SUMMARY_PROPERTIES,
    "imported": {"type": "boolean"}, "manufacturer": STRING, "importer": OPT_STRING, "mah": OPT_STRING,
    "sponsor": OPT_STRING, "treating_site": STRING, "treating_country": STRING,
    "specification_version": {"type": "integer", "description": "the version in force at manufacture"},
    "out_of_specification": {"type": "boolean"},
    "findings": {"type": "array", "items": ref("OosFinding")},
    "results": {"type": "array", "items": obj({
        "attribute": STRING, "value": nullable({"type": "number"}), "text": OPT_STRING, "unit": OPT_STRING,
        "reported_at": TIME,
    })},
}

FIELD_ERROR = obj({
    "field": {"type": "string", "description": "JSON path of the field ('a/0/b'); the name of a missing "
                                               "required field; empty for the whole object"},
    "message": STRING,
    "requirement": {"type": "string", "pattern": "^OOS-[0-9]{2}$",
                    "description": "the requirement the field serves, when its form cites one"},
}, title="Field error", required=["field", "message"])

BPMN_PROBLEM = obj({
    "file": {"type": "string", "description": "uploaded file name"},
    "line": nullable({"type": "integer", "description": "line in that file, when known"}),
    "element_id": nullable({"type": "string", "description": "id of the BPMN/DMN element to fix, when known"}),
    "reason": STRING,
}, title="BPMN problem")

PROBLEM = obj({
    "type": {"type": "string", "format": "uri-reference", "default": "about:blank"},
    "title": {"type": "string", "description": "short, stable summary of the problem type"},
    "status": {"type": "integer", "minimum": 400, "maximum": 599},
    "detail": {"type": "string", "description": "what went wrong and what to do about it"},
    "instance": {"type": "string", "format": "uri-reference", "description": "the request path"},
    "errors": {"type": "array", "items": ref("FieldError"),
               "description": "422 validation failures: one entry per invalid field"},
    "problems": {"type": "array", "items": ref("BpmnProblem"),
                 "description": "422 on deploy: every problem of the bundle at once"},
    "requirement": {"type": "string", "pattern": "^OOS-[0-9]{2}$",
                    "description": "the pathway rule that refused the action"},
}, title="Problem details (RFC 9457)", required=["type", "title", "status", "detail", "instance"])

DEPLOYMENT_FILES = {
    "title": "BPMN/DMN/form bundle as JSON", "type": "object", "required": ["files"],
    "properties": {"files": {
        "type": "object", "minProperties": 1, "additionalProperties": {"type": "string"},
        "description": "file name -> content: *.bpmn, *.dmn and form JSON Schemas (*.schema.json)",
    }},
}

DEPLOYMENT_MULTIPART = {
    "title": "BPMN/DMN/form bundle as multipart upload", "type": "object",
    "properties": {"files": {"type": "array", "items": {"type": "string", "contentMediaType":
                                                        "application/octet-stream"}}},
}


REPORT_FILE = obj({
    "sha256": {"type": "string", "description": "SHA-256 of the file (content-addressed record, OOS-17)"},
    "media_type": STRING, "size": {"type": "integer", "minimum": 0}, "filename": STRING,
})

REPORT = obj({
    "id": STRING, "product_code": STRING,
    "period_label": {"type": "string", "description": "e.g. 2026-H1"},
    "period_start": TIME, "period_end": {**TIME, "description": "end of the period, exclusive"},
    "specification_version": {"type": "integer", "description": "the version in force at the end of the period"},
    "dataset_sha256": {"type": "string", "description": "SHA-256 of the canonical input rows (OOS-20: which data)"},
    "dataset_rows": {"type": "integer", "minimum": 0, "description": "batches decided in the periods analysed"},
    "software_version": STRING,
    "signals_count": {"type": "integer", "minimum": 0,
                      "description": "OOS-23: signals above the configured thresholds (each opens CAPA and "
                                     "management review in the review process)"},
    "signals": {"type": "array", "items": obj({
        "kind": {"enum": ["oos_rate_increase", "control_rule", "repeat_failure", "low_capability", "near_limit"]},
        "attribute": OPT_STRING, "detail": {"type": "string", "description": "the rule or test named"},
        "opens": {"type": "array", "items": STRING}, "requirement": STRING})},
    "thresholds": {"type": "object", "description": "the thresholds the signals were judged with (configuration)"},
    "generated_at": TIME, "generated_by": STRING,
    "instance_id": nullable({"type": "string", "description": "the periodic_review instance that asked for it"}),
    "files": {"type": "object", "description": "format (html, pdf, json, csv) -> file",
              "additionalProperties": ref("ReportFile")},
    "links": ref("Links"),
}, title="Periodic review report",
    description="OOS-20, OOS-21, OOS-23: the six-monthly Quality Defect Report of one product and period.")

PERIODIC_REVIEW = obj({
    "id": STRING, "product_code": STRING, "period_start": TIME, "period_end": TIME,
    "instance_id": {"type": "string", "description": "the periodic_review process instance"},
    "status": {"type": "string", "description": "running or completed"},
    "trigger": {"enum": ["scheduler", "manual"]}, "started_at": TIME, "started_by": STRING,
    "signatures": {"type": "array", "items": ref("SignatureManifestation"),
                   "description": "OOS-24: the signed MAH approval of the review and other signed steps"},
    "links": ref("Links"),
}, title="Periodic review (process run)", description="OOS-20, OOS-22: one run of processes/periodic_review.bpmn.")


def response_schemas() -> dict[str, Any]:
    return {
        "Links": LINKS,
        "Health": obj({"status": {"const": "ok"}, "database": {"const": "ok"}}, title="Health"),
        "Task": obj(TASK_PROPERTIES, title="Task",
                    description="A human or worker task (OOS-25: only roles the user holds are listed)."),
        "TaskDetail": obj({
            **TASK_PROPERTIES,
            "form": nullable({"type": "object",
                              "description": "JSON Schema (2020-12) of the form the data must match"}),
            "data": {"type": "object", "description": "the process data the task is decided on, e.g. the OOS "
                                                      "findings and the risk evaluation (OOS-04, OOS-06)"},
            "signature": nullable(obj({"meaning": STRING, "statement": STRING},
                                      description="OOS-24: completing this task is an electronic signature "
                                                  "with this meaning; null when it is not signed")),
            "signatures": {"type": "array", "items": ref("SignatureManifestation")},
        }, title="Task with its form and process data"),
        "TaskList": items_of("Task"),
        "CaseSummary": obj(CASE_SUMMARY_PROPERTIES, title="OOS case summary"),
        "CaseOpened": obj({**CASE_SUMMARY_PROPERTIES, "links": ref("Links")}, title="Opened OOS case"),
        "CaseDetail": obj(CASE_DETAIL_PROPERTIES, title="OOS case",
                          description="Case, batch findings, parties, open tasks, deadlines (OOS-13), "
                                      "notifications and records (OOS-16)."),
        "CaseList": items_of("CaseSummary"),
        "OosFinding": OOS_FINDING,
        "Timer": TIMER,
        "Deadline": obj({
            "name": STRING, "requirement": STRING, "party": STRING, "due_at": TIME, "escalates_at": nullable(TIME),
            "met_at": nullable(TIME), "late_by_hours": nullable({"type": "number"}),
            "status": {"enum": ["open", "met", "late", "overdue"]},
        }, title="A legal deadline of the case"),
        "RiskEvaluationVersions": obj({
            "case_id": STRING,
            "items": {"type": "array", "items": obj({
                "version": {"type": "integer"}, "sha256": STRING, "author": STRING, "approved_by": OPT_STRING,
                "created_at": TIME, "content": OBJECT})},
            "diff": obj({"from": {"type": "integer"}, "to": {"type": "integer"}, "changes": OBJECT}),
        }, title="Risk evaluation versions (OOS-05)", required=["case_id", "items"]),
        "RiskEvaluationVersion": obj({"version": {"type": "integer"}, "sha256": STRING, "author": STRING,
                                      "approved_by": OPT_STRING, "created_at": TIME, "content": OBJECT},
                                     title="Risk evaluation version (OOS-05)"),
        "RecordMultipart": obj({"record_type": STRING, "file": {"type": "string", "contentMediaType":
                                                                "application/octet-stream"}},
                               title="Record upload (multipart)"),
        "SignatureManifestation": obj({
                          "id": STRING, "printed_name": STRING, "signer": STRING, "organisation": OPT_STRING,
                          "signed_at": TIME, "meaning": STRING, "statement": STRING,
                          "sha256": {"type": "string", "description": "SHA-256 of exactly what was signed"},
                          "subject_type": STRING, "subject_id": STRING, "method": STRING},
                         title="Signature manifestation (21 CFR 11.50, OOS-24)"),
        "Certification": obj({"batch_id": STRING, "status": STRING}, title="QP certification"),
        "AdministrationList": obj({"items": {"type": "array", "items": obj({
            "case_id": STRING, "case_reference": STRING, "batch_id": STRING, "product_code": STRING,
            "oos_findings": {"type": "array", "items": ref("OosFinding")}, "administered_at": TIME, "dose": STRING,
            "patient_pseudonym": STRING, "chain_of_identity_id": STRING, "pv_case_reference": STRING,
            "decision_record_sha256": OPT_STRING})}}, title="Administrations linked to OOS decisions (OOS-19)"),
        "Notification": NOTIFICATION,
        "Record": RECORD,
        "AuditEntry": AUDIT_ENTRY,
        "Incident": obj({
            "id": STRING, "case_id": OPT_STRING,
            "queue": {"type": "string", "description": "consumer kind whose queue gave up on the message"},
            "message_id": STRING, "routing_key": STRING,
            "error": {"type": "string", "description": "the error of the last attempt"},
            "attempts": {"type": "integer"}, "status": {"enum": ["open", "retried"]},
            "created_at": TIME, "retried_at": nullable(TIME), "retried_by": OPT_STRING,
            "body": OBJECT, "links": ref("Links"),
        }, title="Incident: a message dead-lettered after its retries"),
        "IncidentList": items_of("Incident"),
        "AuditTrail": obj({
            "case_id": STRING, "reference": STRING,
            "chain_intact": {"type": "boolean", "description": "OOS-17/OOS-24: false if any row was altered"},
            "broken_rows": {"type": "array", "items": {"type": "integer"}},
            "verification": {"type": "string", "description": "what was recomputed and checked against the anchors"},
            "breaks": {"type": "array", "items": STRING, "description": "each break: row or anchor and why"},
            "items": {"type": "array", "items": ref("AuditEntry")},
        }, title="Audit trail of a case"),
        "Instance": obj(INSTANCE_PROPERTIES, title="Process instance"),
        "InstanceDetail": obj({
            **INSTANCE_PROPERTIES,
            "definition": obj({"key": STRING, "version": {"type": "integer"}}),
            "open_tasks": {"type": "array", "items": ref("Task")},
            "timers": {"type": "array", "items": ref("Timer")},
            "data": {"type": "object", "description": "current process data"},
        }, title="Process instance with tasks, timers and data"),
        "InstanceList": items_of("Instance"),
        "Definition": obj({**DEFINITION_PROPERTIES, "created": {
            "type": "boolean", "description": "deploy only: false when identical content was already deployed"}},
            title="Process definition version", required=list(DEFINITION_PROPERTIES)),
        "DefinitionVersion": obj({
            **DEFINITION_PROPERTIES,
            "files": {"type": "array", "items": obj({"filename": STRING, "sha256": STRING, "content": STRING})},
            "elements": {"type": "object", "description": "element id -> role, form, documented requirements"},
        }, title="Process definition version with its files"),
        "DefinitionList": items_of("Definition"),
        "ProductView": obj({
            "code": STRING, "name": STRING, "kind": {"enum": ["authorised", "investigational"]},
            "cell_tissue_based": {"type": "boolean", "description": "OOS-02"}, "atmp_class": STRING,
        }, title="Product"),
        "ProductList": items_of("ProductView"),
        "SpecificationView": obj({
            "product_code": STRING, "version": {"type": "integer"}, "effective_from": TIME,
            "limits": {"type": "array", "items": LIMIT_VIEW},
        }, title="Specification version"),
        "SpecificationList": items_of("SpecificationView"),
        "BatchSummary": obj(BATCH_SUMMARY_PROPERTIES, title="Batch summary"),
        "BatchView": obj(BATCH_VIEW_PROPERTIES, title="Batch assessed against its specification (OOS-01)"),
        "BatchList": items_of("BatchSummary"),
        "Report": REPORT,
        "ReportList": items_of("Report"),
        "PeriodicReview": PERIODIC_REVIEW,
        "PeriodicReviewList": items_of("PeriodicReview"),
        "DeploymentFiles": DEPLOYMENT_FILES,
        "DeploymentMultipart": DEPLOYMENT_MULTIPART,
        "FieldError": FIELD_ERROR,
        "BpmnProblem": BPMN_PROBLEM,
        "Problem": PROBLEM,
        "ReportFile": REPORT_FILE,
    }


