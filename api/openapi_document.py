"""The OpenAPI 3.1 description of the oospath HTTP API, served at ``/api/v1/openapi.json``.

Request bodies are the JSON Schemas the API validates with (``api.schemas.ALL``), so the
published contract and the enforced one cannot drift apart. Response shapes mirror
``api.views`` and the blueprints; ``tests/e2e/test_api_contract.py`` checks that every
route is described and that real responses match these schemas.
"""

from __future__ import annotations

import copy
from importlib import metadata
from typing import Any

from api import schemas
from api.blueprints.reports import SCHEMAS as REPORT_SCHEMAS
from api.identity import ROLES_HEADER, USER_HEADER

PROBLEM_MEDIA_TYPE = "application/problem+json"
JSON = "application/json"

DESCRIPTION = """\
oospath runs the EU exceptional-use pathway for out-of-specification (OOS) batches of
cell/tissue-based ATMPs (EU GMP Part IV section 11.5 and the EMA Q&A) as an executable
BPMN process. Every rule the API enforces cites its requirement ID (OOS-01 .. OOS-25).

Who uses it:
* **Manufacturer QA/QC** (role `qa`): registers batches and release results, opens OOS
  cases (OOS-01, OOS-02), investigates the OOS and evaluates the risks (OOS-05).
* **Treating physician** (role `physician`): receives the OOS information and risk
  evaluation, requests or declines the batch with the OOS-03 attestations (OOS-06, OOS-07).
* **Qualified Person** (role `qp`): performs batch and import verifications (OOS-08, OOS-09).
* **MAH regulatory affairs** (role `mah_ra`): approves Supervisory Authority and NCA
  notifications within 48 hours of supply (OOS-12 .. OOS-14).
* **Clinical-trial sponsor** (role `sponsor`): records the competent-authority
  notification for investigational products (OOS-11).
* **Auditors and inspectors**: read cases, deadlines, notifications, records and the
  hash-chained audit trail (OOS-16, OOS-17, OOS-24).
* **Integrations** (LIMS, MES, QMS, process designers): push products, specifications and
  batches with results, deploy BPMN/DMN/form bundles and start process instances.

Errors are `application/problem+json` (RFC 9457) with a `detail` that says what to do;
422 responses add `errors` (one entry per invalid field), `problems` (BPMN deploy: file,
line, element id, reason) or `requirement` (the pathway rule that refused the action).
Users only see and complete tasks of roles they hold (OOS-25).

**Identity is DEVELOPMENT ONLY**: the user and roles are taken from the
`X-Oospath-User` and `X-Oospath-Roles` headers and anyone can claim any role. Never
expose this API beyond a development machine.
"""

IDENTITY_WARNING = (
    "DEVELOPMENT ONLY: anyone can send any value, there is no authentication and no "
    "re-authentication for signatures (OOS-24). Never expose this API beyond a development machine."
)

ROLES = ["qa", "physician", "qp", "mah_ra", "sponsor"]
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
                      "null: any user (OOS-25)"}),
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
}, title="Field error")

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
    "links": ref("Links"),
}, title="Periodic review (process run)", description="OOS-20, OOS-22: one run of processes/periodic_review.bpmn.")


def _response_schemas() -> dict[str, Any]:
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
        **REPORT_SCHEMAS,
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


# ---- responses, parameters, operations -----------------------------------------------------------
ERROR_RESPONSES = {
    "400": ("BadRequest", "Malformed request: the body is not a JSON object, or a required upload is missing."),
    "401": ("Unauthenticated", f"No {USER_HEADER} header (development-only identity)."),
    "403": ("Forbidden", "OOS-25: the user does not hold the role the task or list belongs to."),
    "404": ("NotFound", "The resource does not exist; `detail` names the id."),
    "409": ("Conflict", "The resource is not in a state that allows this (already completed, claimed by "
                        "someone else, already exists, changed concurrently)."),
    "422": ("UnprocessableContent", "Well-formed but refused: schema validation (`errors`), BPMN deploy "
                                    "problems (`problems`), a domain data error (e.g. unit mismatch) or a "
                                    "pathway rule (`requirement`, e.g. OOS-01, OOS-02)."),
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": ref("Problem")}}}


def _responses() -> dict[str, Any]:
    result = {name: _error_response(text) for name, text in ERROR_RESPONSES.values()}
    result["Error"] = _error_response("Any other error (e.g. 405, 500), also as problem+json.")
    return result


def _ok(description: str, schema: str | dict[str, Any], media_type: str = JSON) -> dict[str, Any]:
    body = ref(schema) if isinstance(schema, str) else schema
    return {"description": description, "content": {media_type: {"schema": body}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or STRING}


def _path(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema or STRING}


def _body(name: str, description: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"required": True, "content": {JSON: {"schema": ref(name)}}}
    if description:
        body["description"] = description
    return body


def operation(
    operation_id: str, tag: str, summary: str, ok: dict[str, dict[str, Any]], *, errors: tuple[str, ...] = (),
    description: str | None = None, parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None, identity: bool = True,
) -> dict[str, Any]:
    """One operation; ``errors`` are the 4xx statuses it can answer (each a problem+json response)."""
    op: dict[str, Any] = {"operationId": operation_id, "tags": [tag], "summary": summary}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = body
    statuses = set(errors) | ({"401"} if identity else set())
    responses: dict[str, Any] = dict(ok)
    for status in sorted(statuses):
        responses[status] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    op["responses"] = responses
    if not identity:
        op["security"] = [{}]  # open: liveness and this document
    return op


CASE_ID = _path("case_id", "case id (UUID) or case reference (e.g. OOS-2026-0001)")
TASK_ID = _path("task_id", "task id")
REPORT_ID = _path("report_id", "report id")


def _paths() -> dict[str, Any]:
    return {
        "/healthz": {"get": operation(
            "health", "operations", "Liveness and database readiness", {"200": _ok("Healthy", "Health")},
            identity=False)},
        "/api/v1/openapi.json": {"get": operation(
            "openapi", "operations", "This OpenAPI 3.1 document",
            {"200": _ok("The document", {"type": "object"})}, identity=False)},
        "/api/v1/process-definitions": {
            "get": operation("listProcessDefinitions", "process definitions", "Every deployed version",
                             {"200": _ok("Definitions by key and version", "DefinitionList")}),
            "post": operation(
                "deployProcessDefinitions", "process definitions", "Deploy a BPMN/DMN/form bundle",
                {"200": _ok("Unchanged: identical content is already deployed (`created` false)", "DefinitionList"),
                 "201": _ok("A new version of at least one process (`created` true)", "DefinitionList")},
                errors=("400", "422"), identity=True,
                description="The bundle is validated as a whole (well-formed XML without DTDs or entities, "
                            "BPMN/DMN schema, safe expressions, forms) before anything is stored; a refused "
                            "bundle leaves the deployed definitions unchanged and the 422 problem lists every "
                            "problem with file, line and element id. Re-deploying identical content is a no-op.",
                body={"required": True, "content": {
                    JSON: {"schema": ref("DeploymentFiles")},
                    "multipart/form-data": {"schema": ref("DeploymentMultipart")}}}),
        },
        "/api/v1/process-definitions/{key}/versions/{version}": {"get": operation(
            "getProcessDefinitionVersion", "process definitions", "One version with its files and elements",
            {"200": _ok("The version, its BPMN/DMN/form files and element metadata", "DefinitionVersion")},
            errors=("404",), parameters=[_path("key", "process definition key, e.g. oos_case"),
                                         _path("version", "version number", {"type": "integer", "minimum": 1})])},
        "/api/v1/products": {
            "get": operation("listProducts", "catalogue", "Products",
                             {"200": _ok("Products by code", "ProductList")}),
            "post": operation("addProduct", "catalogue", "Add a product",
                              {"201": _ok("Created", "ProductView")}, errors=("400", "409", "422"),
                              identity=True, body=_body("Product"),
                              description="OOS-02: only cell/tissue-based products can enter the pathway."),
        },
        "/api/v1/specifications": {
            "get": operation("listSpecifications", "catalogue", "Specification versions",
                             {"200": _ok("Versions by product and version", "SpecificationList")},
                             parameters=[_query("product_code", "only this product's versions")]),
            "post": operation(
                "addSpecification", "catalogue", "Approve a specification version",
                {"201": _ok("Created", "SpecificationView")}, errors=("400", "404", "409", "422"),
                identity=True, body=_body("Specification"),
                description="OOS-01: approved versions are never changed; add the next version instead."),
        },
        "/api/v1/batches": {
            "get": operation("listBatches", "catalogue", "Batches",
                             {"200": _ok("Batches, newest first", "BatchList")},
                             parameters=[_query("status", "only batches in this status",
                                                {"enum": BATCH_STATUSES})]),
            "post": operation(
                "registerBatch", "catalogue", "Register a batch with its release results",
                {"201": _ok("Registered and assessed against the specification in force", "BatchView")},
                errors=("400", "404", "409", "422"), identity=True, body=_body("Batch"),
                description="OOS-01: the results are judged against the specification version in force at "
                            "manufacture; the status is `within_specification` or `out_of_specification` "
                            "with findings. Units must match the specification exactly (a mismatch is 422)."),
        },
        "/api/v1/batches/{batch_id}": {"get": operation(
            "getBatch", "catalogue", "A batch assessed against its specification",
            {"200": _ok("The batch, its results and OOS findings", "BatchView")}, errors=("404", "422"),
            parameters=[_path("batch_id", "batch id, e.g. CART19-25-0102")])},
        "/api/v1/process-instances": {
            "get": operation("listProcessInstances", "process instances", "Process instances",
                             {"200": _ok("Instances", "InstanceList")},
                             parameters=[_query("key", "only instances of this process definition key"),
                                         _query("status", "only instances in this status (running, completed)")]),
            "post": operation(
                "startProcessInstance", "process instances", "Start any deployed process",
                {"201": _ok("Started", "Instance")}, errors=("400", "404", "422"), identity=True,
                body=_body("InstanceStart"),
                description="Generic engine surface; OOS cases are opened with POST /api/v1/cases."),
        },
        "/api/v1/process-instances/{instance_id}": {"get": operation(
            "getProcessInstance", "process instances", "An instance with open tasks, timers and data",
            {"200": _ok("The instance", "InstanceDetail")}, errors=("404",),
            parameters=[_path("instance_id", "process instance id")])},
        "/api/v1/cases": {
            "get": operation("listCases", "cases", "OOS cases",
                             {"200": _ok("Cases, newest first", "CaseList")},
                             parameters=[_query("status", "only cases in this status", {"enum": CASE_STATUSES})]),
            "post": operation(
                "openCase", "cases", "Open an OOS case for a batch",
                {"201": _ok("Opened; the first tasks are the investigation and risk evaluation (OOS-10)",
                            "CaseOpened")},
                errors=("400", "404", "409", "422"), identity=True, body=_body("CaseOpen"),
                description="Refused with 422 naming the rule when the batch is within specification "
                            "(OOS-01) or the product is not cell/tissue-based (OOS-02); every case records "
                            "why its use is exceptional (OOS-02). 409 when the batch already has an open case."),
        },
        "/api/v1/cases/{case_id}": {"get": operation(
            "getCase", "cases", "A case with findings, parties, tasks, deadlines, notifications and records",
            {"200": _ok("The case", "CaseDetail")}, errors=("404",), parameters=[CASE_ID],
            description="OOS-13: deadlines are visible; OOS-16: records captured for the case.")},
        "/api/v1/cases/{case_id}/audit": {"get": operation(
            "getCaseAudit", "cases", "The case's audit trail with its hash-chain check",
            {"200": _ok("Every attributable action of the case (OOS-24)", "AuditTrail")},
            errors=("404",), parameters=[CASE_ID])},
        "/api/v1/cases/{case_id}/records": {"post": operation(
            "uploadCaseRecord", "cases", "Upload a record the case must keep (OOS-16)",
            {"201": _ok("Stored content-addressed by SHA-256, never overwritten (OOS-17)", "Record")},
            errors=("400", "403", "404", "422"), parameters=[CASE_ID],
            description="QA uploads the batch manufacture record, testing records and transport/storage records; "
                        "the case cannot close while any of the six required records is missing.",
            body={"required": True, "content": {
                JSON: {"schema": ref("RecordUpload")},
                "multipart/form-data": {"schema": obj({"record_type": STRING, "file": {
                    "type": "string", "contentMediaType": "application/octet-stream"}})}}})},
        "/api/v1/cases/{case_id}/risk-evaluations": {
            "get": operation(
                "listRiskEvaluations", "cases", "Versions of the case's risk evaluation, optionally a diff",
                {"200": _ok("Every version with its SHA-256 (OOS-05, OOS-06)", "RiskEvaluationVersions")},
                errors=("404", "422"), parameters=[CASE_ID, _query("diff", "two versions to compare, e.g. 1,2")]),
            "post": operation(
                "reviseRiskEvaluation", "cases", "Revise the risk evaluation (QA)",
                {"201": _ok("The new version", obj({"version": {"type": "integer"}, "sha256": STRING,
                                                   "author": STRING, "approved_by": OPT_STRING,
                                                   "created_at": TIME, "content": OBJECT}))},
                errors=("400", "403", "404", "409", "422"), parameters=[CASE_ID],
                description="A new version with its SHA-256. A physician's request made on an earlier version "
                            "is void: the case returns to the physician's decision (OOS-06). Refused after supply.",
                body=_body("RiskEvaluationRevision")),
        },
        "/api/v1/batches/{batch_id}/certification": {"post": operation(
            "certifyBatch", "catalogue", "QP certification of a batch",
            {"200": _ok("Certified (a batch within specification)", "Certification")},
            errors=("403", "404", "422"), parameters=[_path("batch_id", "batch id")],
            description="OOS-08: refused with a problem naming OOS-08 for any batch with an OOS case; the attempt "
                        "is recorded in the audit trail.")},
        "/api/v1/pharmacovigilance/administrations": {"get": operation(
            "findAdministrations", "pharmacovigilance", "Find administered OOS doses",
            {"200": _ok("Matching administrations with their OOS decision and PV reference", "AdministrationList")},
            errors=("422",), parameters=[_query(k, f"match on {k}") for k in (
                "pv_case_reference", "patient_pseudonym", "chain_of_identity_id", "case_id", "batch_id")])},
        "/api/v1/incidents": {"get": operation(
            "listIncidents", "incidents", "Dead-lettered messages",
            {"200": _ok("Incidents, newest first", "IncidentList")},
            parameters=[_query("case_id", "only this case's incidents"),
                        _query("status", "open or retried")])},
        "/api/v1/incidents/{incident_id}/retry": {"post": operation(
            "retryIncident", "incidents", "Re-publish a dead-lettered message",
            {"200": _ok("Re-published through the outbox under a new message id", "Incident")},
            errors=("404", "409"), parameters=[_path("incident_id", "incident id")])},
        "/api/v1/reports": {
            "get": operation("listReports", "periodic review", "Periodic review reports",
                             {"200": _ok("Reports, newest first", "ReportList")},
                             parameters=[_query("product_code", "only this product's reports")]),
            "post": operation(
                "generateReport", "periodic review", "Generate the periodic review report of a product and period",
                {"201": _ok("Generated; its HTML, PDF, JSON and CSV files are linked", "Report")},
                errors=("400", "403", "404", "422"), body=_body("ReportRequest"),
                description="OOS-20, OOS-21, OOS-23: synchronous. OOS batches administered versus batches released "
                            "to specification, aggregated in the database; the baseline is the configured number of "
                            "six-month periods before the period. Roles qa or mah_ra (403 otherwise); 422 when the "
                            "period has not ended or no specification is in force."),
        },
        "/api/v1/reports/{report_id}": {"get": operation(
            "getReport", "periodic review", "One report", {"200": _ok("The report and its files", "Report")},
            errors=("404",), parameters=[REPORT_ID])},
        "/api/v1/reports/{report_id}/{format}": {"get": operation(
            "downloadReport", "periodic review", "Download one of the report's files",
            {"200": {"description": "The file (its SHA-256 is in the report's `files`)", "content": {
                "text/html": {"schema": STRING}, "application/pdf": {"schema": {"type": "string",
                                                                                  "contentMediaType":
                                                                                  "application/pdf"}},
                JSON: {"schema": OBJECT}, "text/csv": {"schema": STRING}}}},
            errors=("404",), parameters=[REPORT_ID, _path("format", "html, pdf, json or csv (the annex)",
                                                          {"enum": ["html", "pdf", "json", "csv"]})])},
        "/api/v1/periodic-reviews": {
            "get": operation("listPeriodicReviews", "periodic review", "Periodic review process runs",
                             {"200": _ok("Reviews, newest first", "PeriodicReviewList")},
                             parameters=[_query("product_code", "only this product's reviews")]),
            "post": operation(
                "startPeriodicReview", "periodic review", "Start the periodic review process for a period",
                {"201": _ok("Started; the reporting worker assembles the report, then QA reviews it",
                            "PeriodicReview")},
                errors=("400", "403", "404", "409", "422"), body=_body("ReviewStart"),
                description="OOS-20, OOS-22: the scheduler starts a review every six months; this starts one by "
                            "hand. Roles qa or mah_ra; 409 while a review of the product and period is running; "
                            "422 when the period has not ended."),
        },
        "/api/v1/tasks": {"get": operation(
            "listTasks", "tasks", "The caller's task list",
            {"200": _ok("Tasks of roles the caller holds, and tasks open to any user (OOS-25)", "TaskList")},
            errors=("403",), identity=True,
            parameters=[_query("role", "only this role's tasks; 403 if the caller does not hold it (OOS-25)",
                               {"type": "string", "examples": ROLES}),
                        _query("case_id", "only tasks of this case (case id)"),
                        _query("state", "task state (default `ready`; empty for every state)",
                               {"enum": [*TASK_STATES, ""], "default": "ready"})])},
        "/api/v1/tasks/{task_id}": {"get": operation(
            "getTask", "tasks", "A task with the JSON Schema of its form and the data it is decided on",
            {"200": _ok("The task", "TaskDetail")}, errors=("403", "404"), identity=True, parameters=[TASK_ID],
            description="OOS-25: only a user holding the task's role sees it (403 otherwise).")},
        "/api/v1/tasks/{task_id}/claim": {"post": operation(
            "claimTask", "tasks", "Claim a task so that only the caller can complete it",
            {"200": _ok("Claimed", "Task")}, errors=("403", "404", "409"), identity=True, parameters=[TASK_ID],
            description="OOS-25: only a user holding the task's role can claim it.")},
        "/api/v1/tasks/{task_id}/complete": {"post": operation(
            "completeTask", "tasks", "Complete a user task with its form data",
            {"200": _ok("Completed; the process advanced", "Task")},
            errors=("400", "403", "404", "409", "422"), identity=True, parameters=[TASK_ID],
            body=_body("TaskComplete", "`data` is validated against the task's form schema; 422 lists "
                                       "every invalid field in `errors`."),
            description="OOS-25: 403 when the caller does not hold the task's role; 409 when the task is "
                        "not open (already completed) or claimed by another user. The completion is "
                        "recorded in the audit trail with who, when, what and why (OOS-24).")},
    }


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API (a new dict on every call)."""
    try:
        version = metadata.version("oospath")
    except metadata.PackageNotFoundError:  # running from a source tree without installation
        version = "0.0.0"
    component_schemas: dict[str, Any] = copy.deepcopy(schemas.ALL)
    for name, schema in _response_schemas().items():
        if name in component_schemas:
            raise ValueError(f"component schema {name} is defined twice")
        component_schemas[name] = copy.deepcopy(schema)
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "oospath API: exceptional use of OOS cell/tissue-based ATMP batches",
            "version": version,
            "summary": "Executable EU exceptional-use pathway for out-of-specification ATMP batches",
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/", "description": "this server"}],
        "tags": [
            {"name": "cases", "description": "OOS cases: the pathway for one batch (OOS-01 .. OOS-19)"},
            {"name": "tasks", "description": "Task lists by role, forms, claim and complete (OOS-25)"},
            {"name": "catalogue", "description": "Products, specification versions, batches and results"},
            {"name": "process definitions", "description": "Deploy and inspect BPMN/DMN/form bundles"},
            {"name": "process instances", "description": "Generic engine surface for any deployed process"},
            {"name": "periodic review", "description": "Six-monthly Quality Defect Report: reports and the review "
                                                       "process (OOS-20 .. OOS-23)"},
            {"name": "operations", "description": "Health and this document"},
        ],
        "security": [{"developmentUser": [], "developmentRoles": []}, {"developmentUser": []}],
        "paths": _paths(),
        "components": {
            "schemas": component_schemas,
            "responses": _responses(),
            "securitySchemes": {
                "developmentUser": {
                    "type": "apiKey", "in": "header", "name": USER_HEADER,
                    "description": f"DEVELOPMENT ONLY identity: the user name, e.g. `anna.keller`. "
                                   f"{IDENTITY_WARNING}",
                },
                "developmentRoles": {
                    "type": "apiKey", "in": "header", "name": ROLES_HEADER,
                    "description": f"DEVELOPMENT ONLY identity: comma-separated roles the user claims "
                                   f"({', '.join(ROLES)}), e.g. `qa,qp`. {IDENTITY_WARNING}",
                },
            },
        },
    }
