"""`make openapi`: one OpenAPI document for the whole API, generated from the handlers' own models.

Every route in template.yaml is served by a Powertools resolver (`app`) in its handler module; each resolver
describes its routes from the same Pydantic models that validate them. This merges those descriptions.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from local.sam_template import SamTemplate

REPOSITORY = Path(__file__).resolve().parent.parent
TEMPLATE = REPOSITORY / "template.yaml"
# Built into the docs function, which serves it; `openapi.json` at the root is a link to it.
OUTPUT = REPOSITORY / "functions" / "docs" / "openapi.json"
TITLE = "Crowdify API"
VERSION = "1.0.0"


def handler_modules(template: SamTemplate) -> dict[str, str]:
    """Route key (`GET /api/v1/events/{event_id}`) -> handler module name, from the template."""
    for directory in [*template.layer_directories, *{route.function.code_directory for route in template.routes}]:
        if str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
    return {route.route_key: route.function.handler.rsplit(".", 1)[0] for route in template.routes}


def build_document(template_path: Path = TEMPLATE) -> dict[str, Any]:
    template = SamTemplate.read(template_path)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION},
        "paths": {},
        "components": {
            "schemas": {},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
    for module_name in sorted(set(handler_modules(template).values())):
        app = getattr(importlib.import_module(module_name), "app", None)
        if app is None:
            continue  # scheduled and queue consumers have no HTTP routes
        schema = app.get_openapi_schema(title=TITLE, version=VERSION).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        for path, operations in schema.get("paths", {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        document["components"]["schemas"].update(schema.get("components", {}).get("schemas", {}))
    describe_errors(document)
    document["paths"] = dict(sorted(document["paths"].items()))
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document


ERROR_RESPONSES = {
    "401": "Not signed in, or the token is invalid, expired or revoked",
    "403": "Signed in, but not allowed",
    "404": "Not found (or not yours)",
    "409": "Conflicts with the current state (sold out, already paid, …)",
    "503": "A dependency is unavailable; retry",
}


def describe_errors(document: dict[str, Any]) -> None:
    """Every error is `{"detail": …}` (crowdify.http.api); validation errors keep the old service's list form."""
    schemas = document["components"]["schemas"]
    schemas["HTTPError"] = {
        "title": "HTTPError",
        "type": "object",
        "properties": {"detail": {"type": "string", "title": "Detail"}},
        "required": ["detail"],
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"]["content"] = {
                    "application/json": {
                        "schema": {
                            "anyOf": [
                                {"$ref": "#/components/schemas/HTTPValidationError"},
                                {"$ref": "#/components/schemas/HTTPError"},
                            ]
                        }
                    }
                }
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(status, {"description": description, "content": error})


def main() -> None:
    OUTPUT.write_text(json.dumps(build_document(), indent=2, sort_keys=False) + "\n")
    print(f"wrote {OUTPUT.relative_to(REPOSITORY)}")


if __name__ == "__main__":
    main()
