"""The local gateway's door-app hook: the built files at /scan/, nothing outside web/scanner/dist."""

from __future__ import annotations

from http import HTTPStatus

from local.gateway import SCANNER_APP_DIRECTORY, _scanner_app_response


def test_scan_serves_index_html_and_the_files_with_their_types() -> None:
    status, headers, body = _scanner_app_response("GET", "/scan/")
    assert status == HTTPStatus.OK and body == (SCANNER_APP_DIRECTORY / "index.html").read_bytes()
    assert ("content-type", "text/html; charset=utf-8") in headers
    status, headers, _ = _scanner_app_response("GET", "/scan/service-worker.js")
    assert status == HTTPStatus.OK and ("content-type", "text/javascript; charset=utf-8") in headers
    assert _scanner_app_response("GET", "/scan")[:2] == (HTTPStatus.MOVED_PERMANENTLY, [("location", "/scan/")])


def test_nothing_outside_the_build_and_no_other_route() -> None:
    for path in ("/scan/../../../template.yaml", "/scan/%2e%2e/%2e%2e/%2e%2e/template.yaml", "/scan/missing.js"):
        assert _scanner_app_response("GET", path)[0] == HTTPStatus.NOT_FOUND
    assert _scanner_app_response("POST", "/scan/") is None
    assert _scanner_app_response("GET", "/api/v1/events") is None
    assert _scanner_app_response("GET", "/scanner") is None
