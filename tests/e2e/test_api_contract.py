"""The OpenAPI document at /api/v1/openapi.json is the API's contract, checked against the running app.

(a) every Flask route is described with the same methods, and nothing else is;
(b) the document is well-formed OpenAPI 3.1 (structure, $refs, JSON Schemas), fully validated by
    openapi-spec-validator as well when that package happens to be installed (not a dependency);
(c) real responses match the documented schemas, strictly (an undocumented field fails).
"""

from __future__ import annotations

import importlib.util
import re
from datetime import datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from api import schemas
from api.declarations import declaration_of
from api.openapi import build_document
from engine.clock import FrozenClock
from oospath.scenarios import EXCEPTIONAL_USE_REASON, form_data
from tests.e2e.conftest import Api
from tests.integration.conftest import FIXTURES

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
RULE_PARAMETER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
TEMPLATE_PARAMETER = re.compile(r"{([^{}]+)}")
DIALECT = "https://json-schema.org/draft/2020-12/schema"

AUTHORISED_OOS_BATCH = "CART19-25-0102"
IMP_OOS_BATCH = "BCMA-IMP-25-0007"
# The process data POST /api/v1/cases would give the pathway (the generic surface takes it as is).

# ---- (b) structure: the parts of the OpenAPI 3.1 schema this document uses --------------------------
_REFERENCE = {"type": "object", "required": ["$ref"], "properties": {"$ref": {"type": "string", "minLength": 2}}}
_SCHEMA = {"type": ["object", "boolean"]}
_MEDIA_TYPES = {"type": "object", "minProperties": 1, "propertyNames": {"pattern": r"^[\w.+-]+/[\w.+*-]+$"},
                "additionalProperties": {"type": "object", "required": ["schema"],
                                         "properties": {"schema": _SCHEMA}}}
_EXTENSIONS = {"^x-": {}}
OPENAPI_STRUCTURE: dict[str, Any] = {
    "$schema": DIALECT,
    "type": "object",
    "required": ["openapi", "info", "paths", "components"],
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.1\.\d+$"},
        "jsonSchemaDialect": {"type": "string"},
        "info": {"type": "object", "required": ["title", "version", "description"],
                 "properties": {"title": {"type": "string", "minLength": 1},
                                "version": {"type": "string", "minLength": 1},
                                "description": {"type": "string", "minLength": 1}}},
        "servers": {"type": "array", "items": {"type": "object", "required": ["url"]}},
        "tags": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "security": {"$ref": "#/$defs/security"},
        "paths": {"type": "object", "propertyNames": {"pattern": "^/"},
                  "additionalProperties": {"$ref": "#/$defs/pathItem"}},
        "components": {
            "type": "object",
            "propertyNames": {"enum": ["schemas", "responses", "parameters", "examples", "requestBodies",
                                       "headers", "securitySchemes", "links", "callbacks", "pathItems"]},
            "properties": {
                "schemas": {"type": "object", "propertyNames": {"pattern": r"^[a-zA-Z0-9._-]+$"},
                            "additionalProperties": _SCHEMA},
                "responses": {"type": "object", "additionalProperties": {"$ref": "#/$defs/response"}},
                "securitySchemes": {"type": "object", "additionalProperties": {"$ref": "#/$defs/securityScheme"}},
            },
        },
    },
    "patternProperties": _EXTENSIONS,
    "additionalProperties": False,
    "$defs": {
        "security": {"type": "array", "items": {"type": "object", "additionalProperties": {
            "type": "array", "items": {"type": "string"}}}},
        "pathItem": {
            "type": "object",
            "properties": {**{m: {"$ref": "#/$defs/operation"} for m in HTTP_METHODS},
                           "parameters": {"type": "array", "items": {"$ref": "#/$defs/parameter"}},
                           "summary": {"type": "string"}, "description": {"type": "string"}},
            "patternProperties": _EXTENSIONS, "additionalProperties": False,
        },
        "operation": {
            "type": "object", "required": ["operationId", "responses"],
            "properties": {
                "operationId": {"type": "string", "minLength": 1},
                "tags": {"type": "array", "items": {"type": "string"}},
                "summary": {"type": "string"}, "description": {"type": "string"},
                "parameters": {"type": "array", "items": {"$ref": "#/$defs/parameter"}},
                "requestBody": {"oneOf": [_REFERENCE, {"type": "object", "required": ["content"], "properties": {
                    "content": _MEDIA_TYPES, "required": {"type": "boolean"},
                    "description": {"type": "string"}}, "additionalProperties": False}]},
                "responses": {
                    "type": "object", "minProperties": 1,
                    "propertyNames": {"pattern": "^([1-5][0-9X]{2}|default)$"},
                    "additionalProperties": {"oneOf": [_REFERENCE, {"$ref": "#/$defs/response"}]},
                },
                "security": {"$ref": "#/$defs/security"},
                "deprecated": {"type": "boolean"},
            },
            "patternProperties": _EXTENSIONS, "additionalProperties": False,
        },
        "parameter": {
            "type": "object", "required": ["name", "in", "schema"],
            "properties": {"name": {"type": "string", "minLength": 1},
                           "in": {"enum": ["query", "header", "path", "cookie"]},
                           "required": {"type": "boolean"}, "description": {"type": "string"},
                           "schema": _SCHEMA},
            "if": {"properties": {"in": {"const": "path"}}},
            "then": {"required": ["required"], "properties": {"required": {"const": True}}},
            "patternProperties": _EXTENSIONS, "additionalProperties": False,
        },
        "response": {
            "type": "object", "required": ["description"],
            "properties": {"description": {"type": "string", "minLength": 1}, "content": _MEDIA_TYPES},
            "patternProperties": _EXTENSIONS, "additionalProperties": False,
        },
        "securityScheme": {
            "type": "object", "required": ["type"],
            "properties": {"type": {"enum": ["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"]}},
            "if": {"properties": {"type": {"const": "apiKey"}}},
            "then": {"required": ["name", "in"], "properties": {
                "name": {"type": "string"}, "in": {"enum": ["query", "header", "cookie"]}}},
        },
    },
}


# ---- helpers ----------------------------------------------------------------------------------------
def documented(api: Api) -> dict[str, Any]:
    response = api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in doc["paths"].items()
            for method, op in item.items() if method in HTTP_METHODS]


def resolve(doc: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), f"{reference}: only references inside the document are used"
    node: Any = doc
    for part in reference[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{reference} does not resolve"
        node = node[part]
    return node


def references(node: Any, where: str = "#") -> list[tuple[str, str]]:
    """Every $ref in the document with the JSON pointer where it appears."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.append((where, node["$ref"]))
        for key, value in node.items():
            found += references(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += references(value, f"{where}/{index}")
    return found


def strict(schema: Any) -> Any:
    """A copy in which every object schema with properties refuses undocumented properties."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) for key, value in schema.items()}
    if "properties" in result and "additionalProperties" not in result:
        result["additionalProperties"] = False
    return result


FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _utc_date_time(value: object) -> bool:
    """ISO 8601 with a time zone: the API stores and returns aware UTC times."""
    if not isinstance(value, str):
        return True
    return datetime.fromisoformat(value).tzinfo is not None


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """Validate against ``schema`` (usually a $ref into the document) with the document's components."""
    root = {"$schema": DIALECT, "components": {"schemas": strict(doc["components"]["schemas"])}, **schema}
    return Draft202012Validator(root, format_checker=FORMATS)


def assert_matches(doc: dict[str, Any], schema: dict[str, Any], body: Any, what: str) -> None:
    errors = sorted(validator(doc, schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{what} does not match the documented schema:\n" + "\n".join(
        f"  /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:15])


def response_schema(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    responses = doc["paths"][path][method]["responses"]
    response = responses.get(str(status)) or responses["default"]
    if "$ref" in response:
        response = resolve(doc, response["$ref"])
    content = response["content"]
    media = "application/json" if status < 400 else "application/problem+json"
    assert media in content, f"{method.upper()} {path} {status}: no {media} documented"
    return content[media]["schema"]


def open_case(api: Api, batch_id: str) -> str:
    response = api.post("/api/v1/cases", {"batch_id": batch_id, "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
    assert response.status_code == 201, response.json
    return response.json["id"]


def work_case(api: Api, clock: FrozenClock, case_id: str, scenario: str, stop_after: str | None = None) -> None:
    api.work_case(clock, case_id, scenario, stop_after)


def _is_page(app: Any, rule: Any) -> bool:
    """Browser pages (api/web) are not part of the API document; test_page_access.py covers them."""
    declaration = declaration_of(app.view_functions[rule.endpoint])
    return declaration is not None and declaration.page


# ---- (a) every route is documented ------------------------------------------------------------------
def test_every_route_of_the_app_is_documented_with_the_same_methods(api: Api) -> None:
    app = api.client.application
    routes = {(RULE_PARAMETER.sub(r"{\1}", rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.endpoint != "static" and not _is_page(app, rule)
              for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    described = {(path, method) for path, method, _ in operations(documented(api))}
    assert routes - described == set(), "routes missing from the OpenAPI document"
    assert described - routes == set(), "documented operations the app does not serve"
    assert ("/api/v1/process-definitions/{key}/versions/{version}", "get") in described
    assert ("/healthz", "get") in described


def test_path_parameters_match_the_path_templates(api: Api) -> None:
    doc = documented(api)
    for path, method, op in operations(doc):
        declared = {p["name"] for p in doc["paths"][path].get("parameters", []) + op.get("parameters", [])
                    if p["in"] == "path"}
        assert declared == set(TEMPLATE_PARAMETER.findall(path)), f"{method.upper()} {path}"
    version = next(p for p in doc["paths"]["/api/v1/process-definitions/{key}/versions/{version}"]["get"]
                   ["parameters"] if p["name"] == "version")
    assert version["schema"]["type"] == "integer"


def test_query_parameters_the_blueprints_read_are_documented(api: Api) -> None:
    doc = documented(api)

    def query(path: str) -> set[str]:
        return {p["name"] for p in doc["paths"][path]["get"].get("parameters", []) if p["in"] == "query"}

    assert query("/api/v1/tasks") == {"role", "case_id", "state", "limit", "after"}
    assert query("/api/v1/cases") == {"status", "limit", "after"}
    assert query("/api/v1/batches") == {"status"}
    assert query("/api/v1/process-instances") == {"key", "status", "limit", "after"}
    assert query("/api/v1/specifications") == {"product_code"}


def test_the_served_document_is_the_built_document_and_needs_no_identity(api: Api) -> None:
    assert documented(api) == build_document(api.client.application)


# ---- (b) the document is valid OpenAPI 3.1 ----------------------------------------------------------
def test_document_has_the_structure_of_openapi_3_1(api: Api) -> None:
    doc = documented(api)
    errors = list(Draft202012Validator(OPENAPI_STRUCTURE).iter_errors(doc))
    assert not errors, "\n".join(f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:15])
    if importlib.util.find_spec("openapi_spec_validator") is not None:  # optional, never a dependency
        from openapi_spec_validator import validate

        validate(doc)


def test_every_reference_resolves_inside_the_document(api: Api) -> None:
    doc = documented(api)
    found = references(doc)
    assert len(found) > 50
    for where, reference in found:
        assert reference.startswith("#/"), f"{where}: external reference {reference}"
        resolve(doc, reference)


def test_every_component_schema_is_a_valid_json_schema(api: Api) -> None:
    doc = documented(api)
    for name, schema in doc["components"]["schemas"].items():
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            pytest.fail(f"components.schemas.{name}: {exc.message}")


def test_operation_ids_are_unique_and_security_names_known(api: Api) -> None:
    doc = documented(api)
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    schemes = set(doc["components"]["securitySchemes"])
    requirements = doc["security"] + [r for _, _, op in operations(doc) for r in op.get("security", [])]
    assert {name for requirement in requirements for name in requirement} <= schemes


def test_request_bodies_are_the_schemas_the_api_enforces(api: Api) -> None:
    doc = documented(api)
    for name, schema in schemas.ALL.items():
        assert doc["components"]["schemas"][name] == schema, name
    bodies = {(path, method): op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
              for path, method, op in operations(doc) if "requestBody" in op}
    assert bodies[("/api/v1/cases", "post")] == "#/components/schemas/CaseOpen"
    assert bodies[("/api/v1/tasks/{task_id}/complete", "post")] == "#/components/schemas/TaskComplete"
    assert bodies[("/api/v1/batches", "post")] == "#/components/schemas/Batch"
    assert bodies[("/api/v1/specifications", "post")] == "#/components/schemas/Specification"
    assert bodies[("/api/v1/products", "post")] == "#/components/schemas/Product"
    assert bodies[("/api/v1/process-instances", "post")] == "#/components/schemas/InstanceStart"
    used = {reference for _, reference in references(doc["paths"])}
    assert {f"#/components/schemas/{name}" for name in schemas.ALL} <= used


def test_every_4xx_response_is_the_problem_json_response(api: Api) -> None:
    doc = documented(api)
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "instance"}
    assert {"errors", "problems", "requirement"} <= set(problem["properties"])
    assert set(resolve(doc, "#/components/schemas/BpmnProblem")["properties"]) == {
        "file", "line", "element_id", "reason"}
    for path, method, op in operations(doc):
        statuses = [s for s in op["responses"] if s.startswith("4")]
        if method != "get" and not op["x-oospath-policy"]["public"]:
            assert "401" in statuses, f"{method.upper()} {path}: every write needs an identity"
        for status in [*statuses, "default"]:
            response = op["responses"][status]
            assert set(response) == {"$ref"}, f"{method.upper()} {path} {status}: use a shared response"
            content = resolve(doc, response["$ref"])["content"]
            assert content == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def test_authentication_is_a_bearer_token_and_every_operation_states_its_policy(api: Api) -> None:
    # REQ: OOS-25 — the document is generated from the routes' declarations, policy included
    doc = documented(api)
    assert doc["components"]["securitySchemes"] == {"bearer": {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["bearer"][
            "description"]}}
    for path, method, op in operations(doc):
        policy = op["x-oospath-policy"]
        assert policy["public"] or policy["roles"], f"{method.upper()} {path}"
        assert op["security"] == ([{}] if policy["public"] else [{"bearer": []}])


def test_info_describes_the_users_of_the_api(api: Api) -> None:
    info = documented(api)["info"]
    assert info["title"] and info["version"]
    for who in ("QA", "Qualified Person", "physician", "MAH", "sponsor", "Auditors", "Integrations"):
        assert who in info["description"], who


def test_operations_that_document_401_require_the_identity_header_and_others_do_not(api: Api) -> None:
    doc = documented(api)
    for path, method, op in operations(doc):
        url = TEMPLATE_PARAMETER.sub(lambda m: "1" if m.group(1) == "version" else "unknown", path)
        response = api.client.open(url, method=method.upper(), json={})
        if "401" in op["responses"] and not op["x-oospath-policy"]["public"]:
            assert response.status_code == 401, f"{method.upper()} {path} answered {response.status_code}"
            assert_matches(doc, response_schema(doc, path, method, 401), response.json, f"{method} {path} 401")
        else:
            assert op["x-oospath-policy"]["public"], f"{method.upper()} {path} needs identity but does not say so"
            if response.status_code >= 400:
                assert str(response.status_code) in op["responses"], f"{method.upper()} {path}"


# ---- (c) responses match the documented schemas -----------------------------------------------------
def test_case_detail_and_task_responses_match_their_components(api: Api) -> None:
    doc = documented(api)
    opened = api.post("/api/v1/cases", {"batch_id": AUTHORISED_OOS_BATCH,
                                        "exceptional_use_reason": EXCEPTIONAL_USE_REASON})
    assert opened.status_code == 201
    assert_matches(doc, {"$ref": "#/components/schemas/CaseOpened"}, opened.json, "POST /api/v1/cases")
    case = api.get(f"/api/v1/cases/{opened.json['id']}")
    assert case.status_code == 200
    assert_matches(doc, {"$ref": "#/components/schemas/CaseDetail"}, case.json, "GET /api/v1/cases/{id}")
    task_id = next(t["id"] for t in case.json["open_tasks"] if t["role"] == "qa")
    task = api.get(f"/api/v1/tasks/{task_id}", api.persona("qa"))
    assert task.status_code == 200 and task.json["form"] is not None
    assert_matches(doc, {"$ref": "#/components/schemas/TaskDetail"}, task.json, "GET /api/v1/tasks/{id}")


def test_case_detail_with_deadline_notifications_and_records_matches(api: Api, clock: FrozenClock) -> None:
    doc = documented(api)
    supplied = open_case(api, AUTHORISED_OOS_BATCH)
    work_case(api, clock, supplied, "authorised", stop_after="supply_batch")
    closed = open_case(api, IMP_OOS_BATCH)
    work_case(api, clock, closed, "clinical-trial")
    open_detail = api.get(f"/api/v1/cases/{supplied}").json
    assert open_detail["deadlines"] and open_detail["notifications"], "a supplied case shows its 48 h deadline"
    closed_detail = api.get(f"/api/v1/cases/{closed}").json
    assert closed_detail["status"] == "closed" and closed_detail["records"]
    for detail in (open_detail, closed_detail):
        assert_matches(doc, {"$ref": "#/components/schemas/CaseDetail"}, detail, f"case {detail['reference']}")


def test_every_get_operation_answers_its_documented_200_schema(api: Api, clock: FrozenClock) -> None:
    doc = documented(api)
    case_id = open_case(api, AUTHORISED_OOS_BATCH)
    work_case(api, clock, case_id, "authorised", stop_after="evaluate_risks")
    case = api.get(f"/api/v1/cases/{case_id}").json
    physician_task = next(t["id"] for t in case["open_tasks"] if t["role"] == "physician")
    report = api.post("/api/v1/reports", {"product_code": "CART19-AUTH", "from": "2026-01-01", "to": "2026-06-30"},
                      api.persona("mah_ra"))
    assert report.status_code == 201, report.json
    values = {"case_id": case_id, "task_id": physician_task, "instance_id": case["instance"]["id"],
              "batch_id": AUTHORISED_OOS_BATCH, "key": "oos_case", "version": "1", "report_id": report.json["id"],
              "format": "json", "product_code": "CART19-AUTH",
              "sha256": api.get(f"/api/v1/cases/{case_id}").json["records"][0]["sha256"]}
    as_physician = api.as_("dr.lucas.moreau", "physician", "auditor")  # an inspector's read access too
    for path, method, _ in operations(doc):
        if method != "get":
            continue
        missing = set(TEMPLATE_PARAMETER.findall(path)) - set(values)
        assert not missing, f"add a sample value for {missing} of GET {path} to this test"
        url = TEMPLATE_PARAMETER.sub(lambda m: values[m.group(1)], path)
        response = api.get(url, as_physician)
        assert response.status_code == 200, f"GET {url}: {response.json}"
        if "application/json" in doc["paths"][path]["get"]["responses"]["200"]["content"]:
            assert_matches(doc, response_schema(doc, path, "get", 200), response.json, f"GET {url}")
    listed = api.get(f"/api/v1/tasks?case_id={case_id}&state=completed", api.persona("qa")).json
    assert len(listed["items"]) == 2
    assert_matches(doc, {"$ref": "#/components/schemas/TaskList"}, listed, "completed tasks")


def test_write_responses_match_their_documented_schemas(api: Api, clock: FrozenClock) -> None:
    doc = documented(api)
    case_id = open_case(api, AUTHORISED_OOS_BATCH)
    task = api.get(f"/api/v1/tasks?case_id={case_id}", api.persona("qa")).json["items"][0]
    claimed = api.post(f"/api/v1/tasks/{task['id']}/claim", None, api.persona("qa"))
    assert claimed.status_code == 200
    assert_matches(doc, response_schema(doc, "/api/v1/tasks/{task_id}/claim", "post", 200), claimed.json, "claim")
    completed = api.post(f"/api/v1/tasks/{task['id']}/complete",
                         {"data": form_data(task["element_id"], "authorised", clock.now()), "reason": "done"},
                         api.persona("qa"))
    assert completed.status_code == 200 and completed.json["state"] == "completed"
    assert_matches(doc, response_schema(doc, "/api/v1/tasks/{task_id}/complete", "post", 200), completed.json,
                   "complete")
    deployed = api.post("/api/v1/process-definitions", {"files": {
        name: (FIXTURES / name).read_text() for name in ("approval.bpmn", "approve.schema.json")}}, api.designer())
    api.approve("approval", deployed.json["items"][0]["version"])
    started = api.post("/api/v1/process-instances", {"key": "approval", "data": {"note": "generic surface"}})
    assert started.status_code == 201, started.json
    assert_matches(doc, response_schema(doc, "/api/v1/process-instances", "post", 201), started.json, "start")
    product = api.post("/api/v1/products", {"code": "TIL-DEMO", "name": "TIL therapy (demo)",
                                            "kind": "investigational", "cell_tissue_based": True})
    assert product.status_code == 201
    assert_matches(doc, response_schema(doc, "/api/v1/products", "post", 201), product.json, "add product")
    spec = api.post("/api/v1/specifications", {
        "product_code": "TIL-DEMO", "version": 1, "effective_from": "2025-01-01T00:00:00+00:00",
        "limits": [{"attribute": "viability", "unit": "%", "lower": 70},
                   {"attribute": "sterility", "accepted_results": ["no growth"]}]}, api.as_("ben.schmidt", "qa"))
    assert spec.status_code == 201, spec.json
    assert_matches(doc, response_schema(doc, "/api/v1/specifications", "post", 201), spec.json, "add spec")
    approved = api.post("/api/v1/specifications/TIL-DEMO/versions/1/approval", {"signature": api.signature("qa")},
                        api.persona("qa"))  # OOS-24: a version judges batches once another QA user approved it
    assert approved.status_code == 200, approved.json
    assert_matches(doc, response_schema(doc, "/api/v1/specifications/{product_code}/versions/{version}/approval",
                                        "post", 200), approved.json, "approve spec")
    batch = api.post("/api/v1/batches", {
        "batch_id": "TIL-25-0001", "product_code": "TIL-DEMO", "manufactured_at": "2025-06-01T08:00:00Z",
        "manufacturer": "Helix", "treating_site": "Demo hospital", "treating_country": "DE",
        "results": [{"attribute": "viability", "value": 65.5, "unit": "%"},
                    {"attribute": "sterility", "text": "no growth"}]})
    assert batch.status_code == 201, batch.json
    assert_matches(doc, response_schema(doc, "/api/v1/batches", "post", 201), batch.json, "register batch")


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("get", "/api/v1/cases/{case_id}", None, 404),
    ("post", "/api/v1/cases", {"batch_id": "CART19-25-0101", "exceptional_use_reason": "x"}, 422),
    ("post", "/api/v1/cases", {"batch_id": "CART19-25-0102"}, 422),
    ("post", "/api/v1/process-definitions", {"files": {"broken.bpmn": "<bpmn:definitions"}}, 422),
    ("post", "/api/v1/process-definitions", {"nothing": True}, 400),
])
def test_error_responses_match_the_problem_schema(api: Api, method: str, path: str, body: Any,
                                                  status: int) -> None:
    doc = documented(api)
    url = path.replace("{case_id}", "no-such-case")
    headers = api.designer() if "process-definitions" in path else None
    response = api.get(url) if method == "get" else api.post(url, body, headers)
    assert response.status_code == status and response.mimetype == "application/problem+json"
    assert_matches(doc, response_schema(doc, path, method, status), response.json, f"{method} {path} {status}")
