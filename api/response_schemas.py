"""Response schemas of the HTTP API (JSON Schema 2020-12), published as OpenAPI components.

Written once and referenced by name from each route's declaration (``api.declarations``);
``tests/e2e/test_api_contract.py`` checks real responses against them.
"""

from __future__ import annotations

from typing import Any

from api.response_shapes import (
    AUDIT_ENTRY,
    BATCH_SUMMARY_PROPERTIES,
    BATCH_VIEW_PROPERTIES,
    BPMN_PROBLEM,
    CASE_DETAIL_PROPERTIES,
    CASE_SUMMARY_PROPERTIES,
    DEFINITION_PROPERTIES,
    DEPLOYMENT_FILES,
    DEPLOYMENT_MULTIPART,
    FIELD_ERROR,
    INSTANCE_PROPERTIES,
    LINKS,
    NOTIFICATION,
    OBJECT,
    OOS_FINDING,
    OPT_STRING,
    PAGE_PROPERTIES,
    PERIODIC_REVIEW,
    PROBLEM,
    RECORD,
    REPORT,
    REPORT_FILE,
    SPECIFICATION_VIEW_PROPERTIES,
    STRING,
    TASK_PROPERTIES,
    TIME,
    TIMER,
    items_of,
    nullable,
    obj,
    page_of,
    ref,
)

COMPONENTS: dict[str, Any] = {
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
    "TaskList": page_of("Task"),
    "CaseSummary": obj(CASE_SUMMARY_PROPERTIES, title="OOS case summary"),
    "CaseOpened": obj({**CASE_SUMMARY_PROPERTIES, "links": ref("Links")}, title="Opened OOS case"),
    "CaseDetail": obj(CASE_DETAIL_PROPERTIES, title="OOS case",
                      description="Case, batch findings, parties, open tasks, deadlines (OOS-13), "
                                  "notifications and records (OOS-16)."),
    "CaseList": page_of("CaseSummary"),
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
    "IncidentList": page_of("Incident"),
    "AuditTrail": obj({
        "case_id": STRING, "reference": STRING,
        "chain_intact": {"type": "boolean", "description": "OOS-17/OOS-24: false if any row was altered"},
        "broken_rows": {"type": "array", "items": {"type": "integer"}},
        "verification": {"type": "string", "description": "what was recomputed and checked against the anchors"},
        "breaks": {"type": "array", "items": STRING, "description": "each break: row or anchor and why"},
        "items": {"type": "array", "items": ref("AuditEntry")}, **PAGE_PROPERTIES,
    }, title="Audit trail of a case", description="One page of the entries, by sequence; the chain check "
                                                     "covers the whole trail"),
    "Instance": obj(INSTANCE_PROPERTIES, title="Process instance"),
    "InstanceDetail": obj({
        **INSTANCE_PROPERTIES,
        "definition": obj({"key": STRING, "version": {"type": "integer"}}),
        "open_tasks": {"type": "array", "items": ref("Task")},
        "timers": {"type": "array", "items": ref("Timer")},
        "data": {"type": "object", "description": "current process data"},
    }, title="Process instance with tasks, timers and data"),
    "InstanceList": page_of("Instance"),
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
    "SpecificationView": obj(SPECIFICATION_VIEW_PROPERTIES, title="Specification version"),
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


def response_schemas() -> dict[str, Any]:
    """The component schemas by name (a copy: callers may change it)."""
    return dict(COMPONENTS)
