"""The OpenAPI 3.1 document, generated with apispec from the routes' declarations.

apispec (not flask-smorest or spectree) because oospath's contracts are JSON Schema already:
the request schemas the API validates with (``api.schemas``), the task forms and the message
contracts. apispec publishes JSON Schema components as they are, with no second schema
language (marshmallow models, pydantic classes) to keep in step. Each operation carries its
policy as ``x-oospath-policy`` (roles, organisation scope), which the route × role ×
organisation matrix test reads.
"""

from __future__ import annotations

import copy
import re
from importlib import metadata
from typing import Any

from apispec import APISpec
from flask import Flask

from api import schemas
from api.declarations import Declaration, declaration_of
from api.response_schemas import response_schemas
from api.response_shapes import ref

PROBLEM = "application/problem+json"
ERROR_RESPONSES = {
    "400": ("BadRequest", "Malformed request: the body is not a JSON object, or a required upload is missing."),
    "401": ("Unauthenticated", "No valid bearer token (missing, expired, revoked) or a signature's credentials "
                               "were wrong (OOS-24)."),
    "403": ("Forbidden", "OOS-25: the user does not hold a role this route or task needs."),
    "404": ("NotFound", "The resource does not exist, or is not shared with the caller's organisation (OOS-25)."),
    "409": ("Conflict", "The resource is not in a state that allows this (already completed, claimed by "
                        "someone else, already exists, changed concurrently)."),
    "413": ("TooLarge", "The request body exceeds the configured size limit."),
    "422": ("UnprocessableContent", "Well-formed but refused: schema validation (`errors`), BPMN deploy "
                                    "problems (`problems`), a domain data error or a pathway rule "
                                    "(`requirement`)."),
    "429": ("TooManyRequests", "Too many failed logins for this user name: wait and retry."),
}
DESCRIPTION = """\
oospath runs the EU exceptional-use pathway for out-of-specification (OOS) batches of
cell/tissue-based ATMPs (EU GMP Part IV section 11.5 and the EMA Q&A) as an executable
BPMN process. Every rule the API enforces cites its requirement ID (OOS-01 .. OOS-25).

Who uses it:
* **Manufacturer QA/QC** (role `qa`): registers batches and release results, opens OOS cases (OOS-01,
  OOS-02), investigates the OOS and evaluates the risks (OOS-05), approves process versions.
* **Treating physician** (role `physician`): receives the OOS information and risk evaluation, requests
  or declines the batch with the OOS-03 attestations (OOS-06, OOS-07), signed.
* **Qualified Person** (role `qp`): performs batch and import verifications, signed (OOS-08, OOS-09).
* **MAH regulatory affairs** (role `mah_ra`): approves Supervisory Authority and NCA notifications within
  48 hours of supply (OOS-12 .. OOS-14) and the periodic review (OOS-20).
* **Clinical-trial sponsor** (role `sponsor`): the competent-authority notification (OOS-11).
* **Auditors and inspectors** (role `auditor`): read cases, records and the hash-chained audit trail (OOS-24).
* **Process designers** (role `process_designer`) deploy versions that QA approves; **Integrations**
  (LIMS, QMS) push catalogue data and talk to the message queue.

Authentication: `POST /api/v1/auth/token` with user name and password returns a bearer
token (or send a token of the configured OIDC issuer). Each route states the roles it needs
(`x-oospath-policy`); cases, their tasks, records and audit trail are visible only to the
organisations party to the case (OOS-25). Signed decisions carry `signature` with the
password re-entered (OOS-24). Errors are `application/problem+json` (RFC 9457).
"""
TAGS = {
    "auth": "Log in, log out, who am I",
    "cases": "OOS cases: the pathway for one batch (OOS-01 .. OOS-19)",
    "tasks": "Task lists by role, forms, claim and complete (OOS-25)",
    "catalogue": "Products, specification versions, batches and results",
    "process definitions": "Deploy, approve and inspect BPMN/DMN/form bundles",
    "process instances": "Generic engine surface for any deployed process",
    "periodic review": "Six-monthly Quality Defect Report: reports and the review process (OOS-20 .. OOS-23)",
    "operations": "Health and this document",
}


def _version() -> str:
    try:
        return metadata.version("oospath")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def build_document(app: Flask) -> dict[str, Any]:
    spec = APISpec(title="oospath API: exceptional use of OOS cell/tissue-based ATMP batches",
                   version=_version(), openapi_version="3.1.0",
                   info={"description": DESCRIPTION, "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
                   servers=[{"url": "/", "description": "this server"}],
                   tags=[{"name": name, "description": text} for name, text in TAGS.items()])
    for name, schema in {**schemas.ALL, **response_schemas()}.items():
        spec.components.schema(name, copy.deepcopy(schema))
    for name, text in ERROR_RESPONSES.values():
        spec.components.response(name, _problem(text))
    spec.components.response("Error", _problem("Any other error (e.g. 405, 500), also as problem+json."))
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                               "description": "a token from POST /api/v1/auth/token or the "
                                                              "configured OIDC issuer"})
    for path, operations in _operations(app).items():
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    document["jsonSchemaDialect"] = "https://spec.openapis.org/oas/3.1/dialect/base"
    document["security"] = [{"bearer": []}]
    return document


def _problem(text: str) -> dict[str, Any]:
    return {"description": text, "content": {PROBLEM: {"schema": ref("Problem")}}}


def _operations(app: Flask) -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        declaration = declaration_of(app.view_functions.get(rule.endpoint))
        if declaration is None or declaration.page:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_0-9]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = operation(declaration)
    return paths


def operation(d: Declaration) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": d.operation_id, "tags": [d.tag], "summary": d.summary}
    if d.description:
        op["description"] = d.description
    parameters = [{"name": n, "in": "path", "required": True, "description": p.description, "schema": p.schema}
                  for n, p in d.path.items()]
    parameters += [{"name": n, "in": "query", "required": False, "description": p.description,
                    "schema": p.schema} for n, p in d.query.items()]
    if parameters:
        op["parameters"] = parameters
    if d.body or d.body_alternatives:
        content = {"application/json": {"schema": ref(d.body)}} if d.body else {}
        content.update({media: {"schema": ref(name)} for media, name in d.body_alternatives.items()})
        op["requestBody"] = {"required": True, "content": content}
    responses: dict[str, Any] = {}
    for status, (text, schema) in d.ok.items():
        body = ref(schema) if isinstance(schema, str) else schema
        responses[status] = {"description": text, "content": {d.media_type: {"schema": body}}}
    statuses = set(d.errors) | (set() if d.policy.public else {"401", "403"})
    statuses |= {"422"} if d.query or d.body or d.path else set()  # parameters that are not valid text
    if d.policy.scope:
        statuses.add("404")
    for status in sorted(statuses):
        responses[status] = {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
    responses["default"] = {"$ref": "#/components/responses/Error"}
    op["responses"] = responses
    op["security"] = [{}] if d.policy.public else [{"bearer": []}]
    op["x-oospath-policy"] = {"public": d.policy.public, "roles": sorted(d.policy.roles), "scope": d.policy.scope}
    if d.policy.service_token:
        op["x-oospath-policy"]["service_token"] = d.policy.service_token
    return op
