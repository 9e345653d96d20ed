"""The shared layer's parts and which may import which (docs/architecture.md, "The layer's parts").

Each part of `crowdify` has one role; imports run one way, from the edge (http) down to the vocabulary (core), so
that a rule never depends on how it is served and an adapter never on the rules that use it. Part packages are
empty of imports, so importing one costs a cold start nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
LAYER = REPOSITORY / "layers" / "shared" / "crowdify"

# part -> the parts it may import (itself always included)
ALLOWED_IMPORTS: dict[str, set[str]] = {
    "config": set(),
    "core": set(),
    "observability": {"config"},
    "persistence": {"config", "core"},
    "adapters": {"config", "core"},
    "auth": {"config", "core", "persistence"},
    "domain": {"config", "core", "persistence", "adapters", "auth", "observability"},
    "http": {"config", "core", "persistence", "adapters", "auth", "domain", "observability"},
}


def layer_modules() -> list[Path]:
    return sorted(path for path in LAYER.rglob("*.py") if "versions" not in path.parts)


def part_of(path: Path) -> str:
    relative = path.relative_to(LAYER)
    return relative.parts[0] if len(relative.parts) > 1 else ""


def crowdify_parts_imported(path: Path) -> set[str]:
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "crowdify" else [f"crowdify.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        parts |= {name.split(".")[1] for name in names if name.startswith("crowdify.")}
    return parts


def test_every_layer_module_belongs_to_a_known_part() -> None:
    loose = [
        path.name for path in layer_modules() if part_of(path) not in ALLOWED_IMPORTS and path.name != "__init__.py"
    ]
    assert loose == [], f"modules outside the layer's parts: {loose}"
    assert {path.name for path in LAYER.iterdir() if path.is_dir() and path.name != "__pycache__"} == set(
        ALLOWED_IMPORTS
    )


@pytest.mark.parametrize("module", layer_modules(), ids=lambda path: str(path.relative_to(LAYER)))
def test_a_layer_module_imports_only_the_parts_below_it(module: Path) -> None:
    part = part_of(module)
    if part not in ALLOWED_IMPORTS:
        return  # the package's own __init__
    wrong = crowdify_parts_imported(module) - ALLOWED_IMPORTS[part] - {part}
    assert wrong == set(), f"crowdify.{part} may not import {sorted(wrong)}"


def test_part_packages_import_nothing() -> None:
    for init in [*sorted(LAYER.glob("*/__init__.py")), LAYER / "__init__.py"]:
        body = ast.parse(init.read_text()).body
        assert all(isinstance(node, ast.Expr) for node in body), f"{init.relative_to(LAYER)} runs code on import"


def test_only_functions_import_the_http_part() -> None:
    importers = [
        str(path.relative_to(REPOSITORY))
        for path in LAYER.rglob("*.py")
        if part_of(path) != "http" and "http" in crowdify_parts_imported(path)
    ]
    assert importers == []


def test_the_rule_catches_a_wrong_import(tmp_path: Path) -> None:
    # The check itself: a domain module that imports the HTTP edge is found.
    wrong = tmp_path / "wrong.py"
    wrong.write_text("from crowdify.http.api import api_app\nfrom crowdify import settings\n")
    assert crowdify_parts_imported(wrong) == {"http", "settings"}
