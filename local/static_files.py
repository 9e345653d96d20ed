"""The web pages the local gateway serves beside the API: the apps' builds and the local stack's own pages.

On AWS these are static sites of their own (S3 and CloudFront); locally one address serves everything, so a
page calls the API on its own origin.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from html import escape
from pathlib import Path

from local.state import REPOSITORY_ROOT


@dataclass(frozen=True)
class StaticFolder:
    prefix: str  # the URL prefix, with its slashes: /scan/
    folder: Path
    missing_hint: str  # what to do when the folder is not there (an app not built yet)


STATIC_FOLDERS = (
    StaticFolder("/scan/", REPOSITORY_ROOT / "web" / "scanner" / "dist", "build the door app in web/scanner"),
    StaticFolder("/queue/", REPOSITORY_ROOT / "web" / "queue" / "dist", "build the waiting-room page in web/queue"),
    StaticFolder("/local/", REPOSITORY_ROOT / "local" / "pages", "it is part of the repository: restore local/pages"),
)
INDEX = "index.html"


@dataclass(frozen=True)
class StaticAnswer:
    status: int
    content_type: str
    body: bytes


def static_folder_for(path: str) -> StaticFolder | None:
    """The folder serving `path`; the prefix without its last slash counts too (it is redirected)."""
    for static in STATIC_FOLDERS:
        if path.startswith(static.prefix) or path == static.prefix.rstrip("/"):
            return static
    return None


def read_static_file(static: StaticFolder, path: str) -> StaticAnswer:
    """The file for `path` below `static`; a path without a file of its own gets the nearest index.html above it,
    so an app's own routes (/scan/pair, /local/purchase/success) load the app."""
    folder = static.folder.resolve()
    if not folder.is_dir():
        return _missing_folder(static)
    relative = path.removeprefix(static.prefix).lstrip("/")
    candidate = (folder / relative).resolve()
    if not candidate.is_relative_to(folder):
        return _not_found(path)
    if candidate.is_dir():
        candidate = candidate / INDEX
    if not candidate.is_file():
        if Path(relative).suffix:
            return _not_found(path)
        candidate = _nearest_index(folder, candidate)
        if candidate is None:
            return _not_found(path)
    content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
        content_type += "; charset=utf-8"
    return StaticAnswer(200, content_type, candidate.read_bytes())


def _nearest_index(folder: Path, candidate: Path) -> Path | None:
    for directory in candidate.parents:
        if not directory.is_relative_to(folder):
            return None
        if (directory / INDEX).is_file():
            return directory / INDEX
    return None


def _not_found(path: str) -> StaticAnswer:
    return StaticAnswer(404, "text/html; charset=utf-8", _page("Not found", f"Nothing is served at {path}."))


def _missing_folder(static: StaticFolder) -> StaticAnswer:
    folder = static.folder.relative_to(REPOSITORY_ROOT)
    text = f"{static.prefix} serves {folder}/, which does not exist yet: {static.missing_hint}, then reload this page."
    return StaticAnswer(404, "text/html; charset=utf-8", _page("Not built yet", text))


def _page(title: str, text: str) -> bytes:
    return (
        f"<!doctype html><html lang='en'><meta charset='utf-8'><title>{escape(title)}</title>"
        "<body style='font-family: sans-serif; margin: 2rem'>"
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p></body></html>"
    ).encode()
