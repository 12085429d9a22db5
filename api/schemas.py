"""JSON Schemas of request bodies: validated on input and published in the OpenAPI document."""

from __future__ import annotations

from typing import Any

NUMBER_OR_NULL = {"type": ["number", "string", "null"]}

PRODUCT = {
    "title": "Product", "type": "object", "additionalProperties": False,
    "required": ["code", "name", "kind", "cell_tissue_based"],
    "properties": {
        "code": {"type": "string", "minLength": 1, "maxLength": 100},
        "name": {"type": "string", "minLength": 1},
        "kind": {"enum": ["authorised", "investigational"]},
        "cell_tissue_based": {"type": "boolean", "description": "OOS-02: the pathway applies only when true"},
        "atmp_class": {"type": "string", "default": "CTGTP"},
    },
}

LIMIT = {
    "type": "object", "additionalProperties": False, "required": ["attribute"],
    "properties": {
        "attribute": {"type": "string", "minLength": 1}, "unit": {"type": ["string", "null"]},
        "lower": NUMBER_OR_NULL, "lower_inclusive": {"type": "boolean"},
        "upper": NUMBER_OR_NULL, "upper_inclusive": {"type": "boolean"},
        "accepted_results": {"type": ["array", "null"], "items": {"type": "string"}},
    },
}

SPECIFICATION = {
    "title": "Specification version", "type": "object", "additionalProperties": False,
    "required": ["product_code", "version", "effective_from", "limits"],
    "properties": {
        "product_code": {"type": "string"}, "version": {"type": "integer", "minimum": 1},
        "effective_from": {"type": "string", "format": "date-time"},
        "limits": {"type": "array", "minItems": 1, "items": LIMIT},
    },
}

TEST_RESULT = {
    "type": "object", "additionalProperties": False, "required": ["attribute"],
    "properties": {"attribute": {"type": "string"}, "value": {"type": ["number", "null"]},
                   "text": {"type": ["string", "null"]}, "unit": {"type": ["string", "null"]}},
}

BATCH = {
    "title": "Batch with release results", "type": "object", "additionalProperties": False,
    "required": ["batch_id", "product_code", "manufactured_at", "manufacturer", "treating_site",
                 "treating_country", "results"],
    "properties": {
        "batch_id": {"type": "string", "minLength": 1}, "product_code": {"type": "string"},
        "manufactured_at": {"type": "string", "format": "date-time"}, "imported": {"type": "boolean"},
        "manufacturer": {"type": "string"}, "importer": {"type": ["string", "null"]},
        "mah": {"type": ["string", "null"]}, "sponsor": {"type": ["string", "null"]},
        "treating_site": {"type": "string"}, "treating_country": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "results": {"type": "array", "items": TEST_RESULT},
    },
}

CASE_OPEN = {
    "title": "Open an OOS case", "type": "object", "additionalProperties": False,
    "required": ["batch_id", "exceptional_use_reason"],
    "properties": {"batch_id": {"type": "string"},
                   "exceptional_use_reason": {"type": "string", "minLength": 1,
                                              "description": "OOS-02: why this use is exceptional"}},
}

INSTANCE_START = {
    "title": "Start a process instance", "type": "object", "additionalProperties": False,
    "required": ["key"],
    "properties": {"key": {"type": "string"}, "version": {"type": "integer"}, "data": {"type": "object"}},
}

TASK_COMPLETE = {
    "title": "Complete a task", "type": "object", "additionalProperties": False, "required": ["data"],
    "properties": {"data": {"type": "object", "description": "validated against the task's form schema"},
                   "reason": {"type": "string"}},
}

RECORD_UPLOAD = {
    "title": "Upload a record", "type": "object", "additionalProperties": False,
    "required": ["record_type", "filename", "content_base64"],
    "properties": {
        "record_type": {"enum": ["batch_manufacture_record", "testing_records", "transport_storage_records",
                                 "other"], "description": "OOS-16: the records QA uploads"},
        "filename": {"type": "string", "minLength": 1}, "media_type": {"type": "string"},
        "content_base64": {"type": "string", "minLength": 1},
    },
}

RISK_EVALUATION_REVISION = {
    "title": "Revised risk evaluation", "type": "object", "minProperties": 1,
    "description": "the fields of the deployed risk evaluation form (risk_evaluation.schema.json), which the "
                   "engine validates them against (OOS-05)",
}

ALL: dict[str, dict[str, Any]] = {
    "Product": PRODUCT, "Specification": SPECIFICATION, "Batch": BATCH, "CaseOpen": CASE_OPEN,
    "InstanceStart": INSTANCE_START, "TaskComplete": TASK_COMPLETE, "RecordUpload": RECORD_UPLOAD,
    "RiskEvaluationRevision": RISK_EVALUATION_REVISION,
}
