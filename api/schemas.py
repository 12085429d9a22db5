"""JSON Schemas of request bodies: validated on input and published in the OpenAPI document."""

from __future__ import annotations

from typing import Any

SIGNATURE = {
    "title": "Electronic signature", "type": "object", "additionalProperties": False,
    "anyOf": [{"required": ["password"]}, {"required": ["id_token"]}],
    "description": "OOS-24 (21 CFR 11.200): the password re-entered at signing (the user name too at the first "
                   "signature of a login), or for an OIDC login the ID token of a fresh authentication",
    "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 200},
                   "password": {"type": "string", "minLength": 1, "maxLength": 1000},
                   "id_token": {"type": "string", "minLength": 1, "maxLength": 20000}},
}

NUMBER_OR_NULL = {"type": ["number", "string", "null"]}

PRODUCT = {
    "title": "Product", "type": "object", "additionalProperties": False,
    "required": ["code", "name", "kind", "cell_tissue_based"],
    "properties": {
        "code": {"type": "string", "minLength": 1, "maxLength": 100},
        "name": {"type": "string", "minLength": 1, "maxLength": 300},
        "kind": {"enum": ["authorised", "investigational"]},
        "cell_tissue_based": {"type": "boolean", "description": "OOS-02: the pathway applies only when true"},
        "atmp_class": {"type": "string", "default": "CTGTP", "maxLength": 100},
    },
}

LIMIT = {
    "type": "object", "additionalProperties": False, "required": ["attribute"],
    "properties": {
        "attribute": {"type": "string", "minLength": 1, "maxLength": 200},
        "unit": {"type": ["string", "null"], "maxLength": 50},
        "lower": NUMBER_OR_NULL, "lower_inclusive": {"type": "boolean"},
        "upper": NUMBER_OR_NULL, "upper_inclusive": {"type": "boolean"},
        "accepted_results": {"type": ["array", "null"], "items": {"type": "string", "maxLength": 300}},
    },
}

SPECIFICATION = {
    "title": "Specification version", "type": "object", "additionalProperties": False,
    "required": ["product_code", "version", "effective_from", "limits"],
    "properties": {
        "product_code": {"type": "string", "minLength": 1, "maxLength": 100},
        "version": {"type": "integer", "minimum": 1, "maximum": 2147483647},
        "effective_from": {"type": "string", "format": "date-time"},
        "limits": {"type": "array", "minItems": 1, "items": LIMIT},
    },
}

TEST_RESULT = {
    "type": "object", "additionalProperties": False, "required": ["attribute"],
    "properties": {"attribute": {"type": "string", "minLength": 1, "maxLength": 200},
                   "value": {"type": ["number", "null"]},
                   "text": {"type": ["string", "null"], "maxLength": 300},
                   "unit": {"type": ["string", "null"], "maxLength": 50}},
}

BATCH = {
    "title": "Batch with release results", "type": "object", "additionalProperties": False,
    "required": ["batch_id", "product_code", "manufactured_at", "manufacturer", "treating_site",
                 "treating_country", "results"],
    "properties": {
        "batch_id": {"type": "string", "minLength": 1, "maxLength": 100},
        "product_code": {"type": "string", "minLength": 1, "maxLength": 100},
        "manufactured_at": {"type": "string", "format": "date-time"}, "imported": {"type": "boolean"},
        "manufacturer": {"type": "string", "minLength": 1, "maxLength": 300},
        "importer": {"type": ["string", "null"], "maxLength": 300},
        "mah": {"type": ["string", "null"], "maxLength": 300},
        "sponsor": {"type": ["string", "null"], "maxLength": 300},
        "treating_site": {"type": "string", "minLength": 1, "maxLength": 300},
        "treating_country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "results": {"type": "array", "maxItems": 500, "items": TEST_RESULT},
    },
}

CASE_OPEN = {
    "title": "Open an OOS case", "type": "object", "additionalProperties": False,
    "required": ["batch_id", "exceptional_use_reason"],
    "properties": {"batch_id": {"type": "string", "minLength": 1, "maxLength": 100},
                   "exceptional_use_reason": {"type": "string", "minLength": 1, "maxLength": 5000,
                                              "description": "OOS-02: why this use is exceptional"}},
}

INSTANCE_START = {
    "title": "Start a process instance", "type": "object", "additionalProperties": False,
    "required": ["key"],
    "properties": {"key": {"type": "string", "minLength": 1, "maxLength": 200},
                   "version": {"type": "integer", "minimum": 1, "maximum": 2147483647}, "data": {"type": "object"}},
}

TASK_COMPLETE = {
    "title": "Complete a task", "type": "object", "additionalProperties": False, "required": ["data"],
    "properties": {"data": {"type": "object", "description": "validated against the task's form schema"},
                   "reason": {"type": "string", "maxLength": 2000},
                   "signature": SIGNATURE},
}

RECORD_UPLOAD = {
    "title": "Upload a record", "type": "object", "additionalProperties": False,
    "required": ["record_type", "filename", "content_base64"],
    "properties": {
        "record_type": {"enum": ["batch_manufacture_record", "testing_records", "transport_storage_records",
                                 "other"], "description": "OOS-16: the records QA uploads"},
        "filename": {"type": "string", "minLength": 1, "maxLength": 300},
        "media_type": {"type": "string", "minLength": 3, "maxLength": 100, "pattern": "^[\\w.+-]+/[\\w.+-]+$"},
        "content_base64": {"type": "string", "minLength": 1},
    },
}

RISK_EVALUATION_REVISION = {
    "title": "Revised risk evaluation", "type": "object", "minProperties": 1,
    "description": "the fields of the deployed risk evaluation form (risk_evaluation.schema.json), which the "
                   "engine validates them against (OOS-05), and `signature` (OOS-24: the revision is signed)",
    "properties": {"signature": SIGNATURE},
}

DAY = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}

PERIOD_REQUEST = {
    "title": "A product and review period", "type": "object", "additionalProperties": False,
    "required": ["product_code", "from", "to"],
    "properties": {
        "product_code": {"type": "string", "minLength": 1, "maxLength": 100},
        "from": {**DAY, "description": "first day of the period (UTC), e.g. 2026-01-01"},
        "to": {**DAY, "description": "last day of the period, inclusive (UTC), e.g. 2026-06-30"},
    },
}
REPORT_REQUEST = {**PERIOD_REQUEST, "title": "Generate a periodic review report"}
REVIEW_REQUEST = {**PERIOD_REQUEST, "title": "Start a periodic review"}

LOGIN = {
    "title": "Log in", "type": "object", "additionalProperties": False, "required": ["username", "password"],
    "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 200},
                   "password": {"type": "string", "minLength": 1, "maxLength": 1000},
                   "organisation": {"type": "string", "minLength": 1, "maxLength": 300,
                                    "description": "the organisation to act for, when the user belongs to several"}},
}

DEFINITION_APPROVAL = {
    "title": "Approve a process definition version", "type": "object", "additionalProperties": False,
    "required": ["signature"], "properties": {"signature": SIGNATURE},
}

DEFINITION_REJECTION = {
    "title": "Reject a process definition version", "type": "object", "additionalProperties": False,
    "required": ["signature", "reason"],
    "properties": {"signature": SIGNATURE, "reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
}

SPECIFICATION_APPROVAL = {
    "title": "Approve a specification version", "type": "object", "additionalProperties": False,
    "required": ["signature"], "properties": {"signature": SIGNATURE},
}

SPECIFICATION_REJECTION = {
    "title": "Reject a specification version", "type": "object", "additionalProperties": False,
    "required": ["signature", "reason"],
    "properties": {"signature": SIGNATURE, "reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
}

ALL: dict[str, dict[str, Any]] = {
    "SpecificationApproval": SPECIFICATION_APPROVAL, "SpecificationRejection": SPECIFICATION_REJECTION,
    "DefinitionApproval": DEFINITION_APPROVAL, "DefinitionRejection": DEFINITION_REJECTION,
    "ReportRequest": REPORT_REQUEST, "ReviewStart": REVIEW_REQUEST, "Login": LOGIN,
    "Product": PRODUCT, "Specification": SPECIFICATION, "Batch": BATCH, "CaseOpen": CASE_OPEN,
    "InstanceStart": INSTANCE_START, "TaskComplete": TASK_COMPLETE, "RecordUpload": RECORD_UPLOAD,
    "RiskEvaluationRevision": RISK_EVALUATION_REVISION,
}
