"""The API's own document at GET /openapi.json and Swagger UI at GET /docs, served with no CDN."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tests.support.api_gateway import call

REPOSITORY = Path(__file__).resolve().parents[2]


def test_openapi_json_serves_the_generated_document() -> None:
    response = call("get_docs", "GET", "/openapi.json")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads((REPOSITORY / "openapi.json").read_text())
    assert "/api/v1/purchases" in response.json()["paths"]


def test_docs_page_loads_swagger_ui_from_this_api_only() -> None:
    page = call("get_docs", "GET", "/docs")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="/docs/swagger-ui-bundle.min.js"' in page.body
    assert 'href="/docs/swagger-ui.min.css"' in page.body
    assert 'url: "/openapi.json"' in page.body
    assert "http://" not in page.body and "https://" not in page.body


def test_swagger_assets_are_served_compressed_to_a_browser_that_asks() -> None:
    script = call(
        "get_docs",
        "GET",
        "/docs/<asset>",
        {"asset": "swagger-ui-bundle.min.js"},
        headers={"accept-encoding": "gzip"},
    )
    assert script.status == 200 and script.headers["content-type"].startswith("text/javascript")
    assert script.raw["isBase64Encoded"] is True
    assert script.headers["content-encoding"] == "gzip"
    assert b"SwaggerUIBundle" in gzip.decompress(script.body.encode("latin-1"))


def test_an_unknown_asset_is_a_404_that_says_so() -> None:
    response = call("get_docs", "GET", "/docs/<asset>", {"asset": "..%2Fapi_docs.py"})
    assert response.status == 404
    assert "detail" in response.json()
