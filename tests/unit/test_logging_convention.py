"""One way to get a logger.

Entry points (the template's handler modules, and crowdify.http.api, which is every API function's entry) build the
Powertools `Logger()` that injects the Lambda context; every other module takes `logging.getLogger(__name__)`. In
Lambda the layer's loggers (`crowdify.…`) are children of the Powertools logger (the service is `crowdify`), so their
records come out in its JSON; the runtime's JSON log format covers the function folders' own modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

from local.sam_template import SamTemplate

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCES = [
    path
    for folder in ("functions", "layers/shared/crowdify")
    for path in sorted((REPOSITORY / folder).rglob("*.py"))
    if "versions" not in path.parts
]
ENTRY_MODULES = {
    function.handler.rsplit(".", 1)[0] for function in SamTemplate.read(REPOSITORY / "template.yaml").functions.values()
} | {"api"}


def logger_calls(path: Path) -> list[ast.Call]:
    calls = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in {"Logger", "getLogger"}:
                calls.append(node)
    return calls


def test_only_entry_points_build_a_powertools_logger_and_the_rest_name_their_module() -> None:
    wrong = []
    for path in SOURCES:
        for call in logger_calls(path):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else call.func.id
            where = f"{path.relative_to(REPOSITORY)}:{call.lineno}"
            if name == "Logger" and (path.stem not in ENTRY_MODULES or call.keywords or call.args):
                wrong.append(f"{where} Logger(...) outside an entry point, or with arguments")
            if name == "getLogger" and not (
                len(call.args) == 1 and isinstance(call.args[0], ast.Name) and call.args[0].id == "__name__"
            ):
                wrong.append(f"{where} getLogger without __name__")
    assert wrong == []


def test_the_rule_sees_both_kinds_of_call(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import logging\nfrom aws_lambda_powertools import Logger\na = Logger(child=True)\nb = logging.getLogger('x')\n"
    )
    assert len(logger_calls(sample)) == 2
