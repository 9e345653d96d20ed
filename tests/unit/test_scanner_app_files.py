"""The local gateway serves the door app's build at /scan/, and nothing outside web/scanner/dist.

Needs the built app (`make build`, which `make test` runs first).
"""

from __future__ import annotations

from local.state import REPOSITORY_ROOT
from local.static_files import read_static_file, static_folder_for

DIST = REPOSITORY_ROOT / "web" / "scanner" / "dist"


def answer(path: str):
    folder = static_folder_for(path)
    assert folder is not None and folder.folder == DIST
    return read_static_file(folder, path)


def test_scan_serves_index_html_and_the_files_with_their_types() -> None:
    index = answer("/scan/")
    assert index.status == 200 and index.body == (DIST / "index.html").read_bytes()
    assert index.content_type == "text/html; charset=utf-8"
    worker = answer("/scan/service-worker.js")
    assert worker.status == 200 and worker.content_type.startswith(("text/javascript", "application/javascript"))
    assert answer("/scan/pair").body == index.body, "the app's own routes load the app"


def test_nothing_outside_the_build() -> None:
    for path in ("/scan/../../../template.yaml", "/scan/%2e%2e/%2e%2e/%2e%2e/template.yaml", "/scan/missing.js"):
        assert answer(path).status == 404
    assert static_folder_for("/api/v1/events") is None
    assert static_folder_for("/scanner") is None
