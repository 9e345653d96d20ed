"""Production code states its checks: `python -O` drops every `assert`, so a check written as one vanishes exactly
where it was meant to hold. An explicit check that raises, or a type that needs no check, says what is meant."""

from __future__ import annotations

import ast
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
PRODUCTION = (REPOSITORY / "functions", REPOSITORY / "layers")


def asserts_in(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]


def production_modules() -> list[Path]:
    return sorted(path for folder in PRODUCTION for path in folder.rglob("*.py") if "site-packages" not in path.parts)


def test_production_code_has_no_assert() -> None:
    modules = production_modules()
    assert len(modules) > 50, "the walk found the functions and the layer"
    found = {f"{path.relative_to(REPOSITORY)}:{line}" for path in modules for line in asserts_in(path)}
    assert not found, f"assert in production code (raise a clear error instead): {sorted(found)}"
