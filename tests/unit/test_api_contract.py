"""The API contract: the old web client's routes and fields are all here, and template and handlers agree.

The reference is the old service's OpenAPI document (`tests/contract/crowdify-gw-openapi.json`). For every
route the web client uses: same method and path, every query parameter, every request field accepted with a type
the client's value fits, every response field present with a type the client can read, and the same success status.
"""

from __future__ import annotations

import importlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from local.openapi import build_document, handler_modules
from local.sam_template import SamTemplate

REPOSITORY = Path(__file__).resolve().parents[2]
REFERENCE = REPOSITORY / "tests" / "contract" / "crowdify-gw-openapi.json"
TEMPLATE = REPOSITORY / "template.yaml"
# The old service's catch-all CORS preflight: API Gateway answers preflights itself.
NOT_CLIENT_ROUTES = {("options", "/{full_path}")}
HTTP_METHODS = {"get", "post", "put", "delete", "patch"}


@cache
def reference() -> dict[str, Any]:
    if not REFERENCE.exists():
        pytest.fail(f"the reference OpenAPI document is missing at {REFERENCE}")
    return json.loads(REFERENCE.read_text())


@cache
def generated() -> dict[str, Any]:
    return build_document(TEMPLATE)


def reference_routes() -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, operations in reference()["paths"].items()
        for method in operations
        if method in HTTP_METHODS and (method, path) not in NOT_CLIENT_ROUTES
    ]


def resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def alternatives(schema: dict[str, Any], document: dict[str, Any]) -> list[dict[str, Any]]:
    schema = resolve(schema, document)
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return [option for choice in schema[keyword] for option in alternatives(choice, document)]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return alternatives(schema["allOf"][0], document)
    return [schema]


def type_names(schema: dict[str, Any], document: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for option in alternatives(schema, document):
        declared = option.get("type")
        if declared is None:
            names.add("any")
        elif isinstance(declared, list):
            names.update(declared)
        else:
            names.add(declared)
    return names


def properties(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for option in alternatives(schema, document):
        found.update(option.get("properties", {}))
    return found


def readable_by_client(ours: set[str], theirs: set[str]) -> bool:
    """What we send must be something the client already reads for that field."""
    if "any" in theirs:
        return True
    widened = set(theirs) | ({"integer"} if "number" in theirs else set())
    return (ours - {"null"}) <= widened and ("null" not in ours or "null" in theirs)


def accepted_from_client(ours: set[str], theirs: set[str]) -> bool:
    """What the client sends must be something we accept for that field."""
    if "any" in ours:
        return True
    widened = set(ours) | ({"integer"} if "number" in ours else set())
    return (theirs - {"null"}) <= widened and ("null" not in theirs or "null" in ours)


def json_schema(operation: dict[str, Any], status: str | None = None) -> dict[str, Any] | None:
    container = operation.get("requestBody") if status is None else operation.get("responses", {}).get(status)
    if not container:
        return None
    return container.get("content", {}).get("application/json", {}).get("schema")


def success_status(operation: dict[str, Any]) -> str:
    return next(code for code in sorted(operation.get("responses", {})) if code.startswith("2"))


def compare_fields(
    their_schema: dict[str, Any], our_schema: dict[str, Any], direction: str, where: str, problems: list[str]
) -> None:
    theirs_document, ours_document = reference(), generated()
    if "array" in type_names(their_schema, theirs_document):
        their_items = next(o for o in alternatives(their_schema, theirs_document) if o.get("type") == "array")
        our_arrays = [o for o in alternatives(our_schema, ours_document) if o.get("type") == "array"]
        if not our_arrays:
            problems.append(f"{where}: the client expects an array")
            return
        compare_fields(their_items["items"], our_arrays[0]["items"], direction, f"{where}[]", problems)
        return
    their_fields = properties(their_schema, theirs_document)
    our_fields = properties(our_schema, ours_document)
    for name, their_field in their_fields.items():
        if name not in our_fields:
            problems.append(f"{where}.{name}: missing")
            continue
        our_field = our_fields[name]
        their_types = type_names(their_field, theirs_document)
        our_types = type_names(our_field, ours_document)
        compatible = (
            readable_by_client(our_types, their_types)
            if direction == "response"
            else accepted_from_client(our_types, their_types)
        )
        if not compatible:
            problems.append(f"{where}.{name}: ours {sorted(our_types)} vs the client's {sorted(their_types)}")
        elif their_types & {"object", "array"} and their_types - {"null"} and our_types - {"null", "any"}:
            compare_fields(their_field, our_field, direction, f"{where}.{name}", problems)


@pytest.mark.parametrize(("method", "path"), reference_routes(), ids=lambda value: str(value))
def test_reference_route_is_served_compatibly(method: str, path: str) -> None:
    ours = generated()["paths"].get(path, {}).get(method)
    assert ours is not None, f"{method.upper()} {path} is not served"
    theirs = reference()["paths"][path][method]
    problems: list[str] = []

    our_parameters = {(p["name"], p["in"]) for p in ours.get("parameters", [])}
    for parameter in theirs.get("parameters", []):
        if (parameter["name"], parameter["in"]) not in our_parameters:
            problems.append(f"{parameter['in']} parameter {parameter['name']}: missing")

    their_request = json_schema(theirs)
    if their_request is not None:
        our_request = json_schema(ours)
        if our_request is None:
            problems.append("request body: not accepted")
        else:
            compare_fields(their_request, our_request, "request", "request", problems)

    their_status = success_status(theirs)
    if their_status not in ours.get("responses", {}):
        problems.append(f"success status {their_status}: ours is {success_status(ours)}")
    their_response = json_schema(theirs, their_status)
    our_response = json_schema(ours, their_status) if their_status in ours.get("responses", {}) else None
    if their_response and their_response != {} and our_response is not None:
        compare_fields(their_response, our_response, "response", "response", problems)

    assert not problems, f"{method.upper()} {path}:\n  " + "\n  ".join(problems)


def test_every_template_route_has_a_handler_route_and_back() -> None:
    template = SamTemplate.read(TEMPLATE)
    declared = {route.route_key for route in template.routes}
    served = {
        f"{method.upper()} {path}"
        for path, operations in generated()["paths"].items()
        for method in operations
        if method in HTTP_METHODS
    } | routes_kept_out_of_the_document(template)
    assert declared - served == set(), "template routes whose handler module does not serve them"
    assert served - declared == set(), "handler routes that no template route reaches"
    modules = handler_modules(template)
    assert all(modules.values())


def routes_kept_out_of_the_document(template: SamTemplate) -> set[str]:
    """Routes a handler serves but leaves out of openapi.json (the document and Swagger UI themselves)."""
    keys = set()
    for module_name in set(handler_modules(template).values()):
        app = getattr(importlib.import_module(module_name), "app", None)
        routes = [*app._static_routes, *app._dynamic_routes] if app is not None else []
        keys |= {f"{route.method} {route.openapi_path}" for route in routes if not route.include_in_schema}
    return keys


def test_function_module_names_are_unique_across_services() -> None:
    seen: dict[str, Path] = {}
    for module in sorted((REPOSITORY / "functions").glob("*/*.py")):
        assert module.stem not in seen, f"{module} and {seen.get(module.stem)} share a module name"
        seen[module.stem] = module


def test_openapi_json_is_up_to_date() -> None:
    committed = REPOSITORY / "openapi.json"
    assert committed.exists(), "run `make openapi`"
    assert json.loads(committed.read_text()) == json.loads(json.dumps(generated())), "run `make openapi`"
