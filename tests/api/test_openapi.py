"""The OpenAPI 3.1 document and the docs page: generated from the routes and the schemas."""

from __future__ import annotations

import json
import re

import pytest
import schemathesis

from webapp import inputs
from webapp.api.openapi import OPERATIONS, api_rules, openapi_spec
from webapp.services import member_list


@pytest.fixture
def spec(client):  # type: ignore[no-untyped-def]
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def _operations(spec):  # type: ignore[no-untyped-def]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_is_openapi_3_1_and_loads_in_schemathesis(spec):
    assert spec["openapi"].startswith("3.1")
    loaded = schemathesis.openapi.from_dict(spec)
    assert len([r for r in loaded.get_all_operations() if r.ok()]) == len(OPERATIONS)


def test_the_served_document_is_the_generated_one(spec):
    assert spec == openapi_spec()


def test_every_api_route_is_documented_and_nothing_else(app):
    routes = {(endpoint, method) for endpoint, _, _, method in api_rules()}
    assert routes == set(OPERATIONS)


def test_the_twelve_operations_of_the_design(spec):
    documented = {(method.upper(), path) for path, method, _ in _operations(spec)}
    assert {
        ("GET", "/organizations"),
        ("POST", "/organizations"),
        ("PUT", "/organizations"),
        ("PUT", "/organizations/{organization_id}"),
        ("GET", "/organizations/{organization_id}"),
        ("DELETE", "/organizations/{organization_id}"),
        ("GET", "/organizations/{organization_id}/leave"),
        ("POST", "/organizations/{organization_id}/leave"),
        ("DELETE", "/organizations/{organization_id}/leave"),
        ("GET", "/organizations/{organization_id}/role"),
        ("GET", "/organizations/{organization_id}/summary"),
        ("GET", "/organizations/{organization_id}/users"),
        ("POST", "/organizations/{organization_id}/users"),
        ("PUT", "/organizations/{organization_id}/users"),
        ("DELETE", "/organizations/{organization_id}/users/{user_ids}"),
    } <= documented
    assert spec["servers"] == [{"url": "/api"}]


def test_every_reference_resolves(spec):
    """A dangling $ref would leave a client (and the fuzzer) with no body to send."""
    refs = set(re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', json.dumps(spec)))
    assert refs
    missing = {(kind, name) for kind, name in refs if name not in spec["components"][kind]}
    assert not missing


def test_request_bodies_are_the_validating_pydantic_models(spec):
    components = spec["components"]["schemas"]
    for model in (inputs.CreateAccount, inputs.UpdateAccount, inputs.AddMembers):
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
        assert components[model.__name__]["properties"] == generated["properties"]
    assert components["UpdateMembers"]["anyOf"] == [
        {"required": ["role"]},
        {"required": ["is_active"]},
    ]


def test_every_error_is_a_problem_and_every_operation_can_401_429_500(spec):
    responses = spec["components"]["responses"]
    for status, response in responses.items():
        assert response["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }, status
    assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert responses["429"]["headers"]["Retry-After"]["required"] is True
    for path, method, op in _operations(spec):
        assert {"401", "429", "500"} <= op["responses"].keys(), (method, path)
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert response == {"$ref": f"#/components/responses/{status}"}
    problem = spec["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])


def test_security_schemes_bearer_and_cookie(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["cookieAuth"]["in"] == "cookie"
    assert "X-CSRFToken" in schemes["cookieAuth"]["description"]
    assert spec["security"] == [{"bearerAuth": []}, {"cookieAuth": []}]


def test_the_member_query_parameters_use_the_service_limits(spec):

    op = spec["paths"]["/organizations/{organization_id}/users"]["get"]
    params = {p["name"]: p["schema"] for p in op["parameters"]}
    assert params["page_size"]["maximum"] == inputs.PAGE_SIZE_MAX
    assert params["page_size"]["default"] == inputs.PAGE_SIZE_DEFAULT
    assert params["page_number"]["maximum"] == inputs.PAGE_NUMBER_MAX
    assert params["sort_by"]["enum"] == list(member_list.SORT_KEYS)
    assert params["q"]["maxLength"] == inputs.QUERY_MAX


def test_201_documents_location_and_leave_documents_no_store(spec):
    created = spec["paths"]["/organizations"]["post"]["responses"]["201"]
    assert created["headers"]["Location"]["required"] is True
    for method in ("get", "post", "delete"):
        ok = spec["paths"]["/organizations/{organization_id}/leave"][method]["responses"]["200"]
        assert ok["headers"]["Cache-Control"]["schema"]["const"] == "no-store"


def test_docs_page_renders_every_operation_with_nothing_from_elsewhere(client, spec):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for path, method, op in _operations(spec):
        assert f'id="op-{op["operationId"]}"' in html, (method, path)
    assert "deprecated" in html
    assert not re.search(r"<script(?![^>]*\ssrc=\"/static/)", html)  # no inline script
    assert not re.search(r"\sstyle=", html) and "<style" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    stylesheet = client.get("/static/api-docs.css")
    assert stylesheet.status_code == 200
    stylesheet.close()


def test_docs_and_document_need_no_credentials(client):
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/docs").status_code == 200
