"""Building blocks of the HTTP API's response schemas (JSON Schema 2020-12): helpers and the
shapes several components share. ``api.response_schemas`` names the components."""

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


URI_REFERENCE = {"type": "string", "format": "uri-reference"}
#: what a paged list adds to its items: the next page's path and query (null on the last page)
PAGE_PROPERTIES: dict[str, Any] = {
    "next": nullable({**URI_REFERENCE, "description": "the next page (path and query), null on the last page"}),
    "links": obj({"self": URI_REFERENCE, "next": nullable(URI_REFERENCE)}, title="Page links"),
}


def page_of(name: str, description: str | None = None) -> dict[str, Any]:
    """One page of a list (``limit`` rows at most, in the list's documented order)."""
    return obj({"items": {"type": "array", "items": ref(name)}, **PAGE_PROPERTIES}, description=description)


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


SPECIFICATION_VIEW_PROPERTIES: dict[str, Any] = {
    "product_code": STRING, "version": {"type": "integer"}, "effective_from": TIME,
    "limits": {"type": "array", "items": LIMIT_VIEW},
    "status": {"enum": ["approved", "awaiting_approval", "rejected"],
               "description": "change control: only an approved version judges batches (OOS-24)"},
    "created_by": STRING, "approved_by": OPT_STRING, "approved_at": nullable(TIME),
    "signature": {"anyOf": [ref("SignatureManifestation"), {"type": "null"}],
                  "description": "QA's signed approval or rejection (21 CFR 11.50); null while awaiting it"},
    "links": LINKS,
}
