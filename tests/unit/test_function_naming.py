"""One naming scheme in every function folder: a file's name tells an entry point from logic, and a route's
module name is its URL.

- A route module is `<method>_<path>.py`: the path after `/api/v1/`, parameters left out, a word before a
  parameter in the singular, `-` and `.` as `_` (`GET /api/v1/admin/orders/{order_id}` → `get_admin_order.py`).
  A function with several routes is named after its first.
- Other entry points say what starts them: `scheduled_…` (EventBridge), `queue_…` (SQS), `deploy_…` (a
  CloudFormation custom resource).
- Everything else in a function folder is logic, schemas or mapping, and never starts with one of those words.
"""

from __future__ import annotations

from pathlib import Path

from local.sam_template import SamTemplate

REPOSITORY = Path(__file__).resolve().parents[2]
TEMPLATE = SamTemplate.read(REPOSITORY / "template.yaml")
ENTRY_POINT_PREFIXES = ("get_", "post_", "put_", "delete_", "patch_", "scheduled_", "queue_", "deploy_")


def route_module_name(method: str, path: str) -> str:
    segments = [segment for segment in path.split("/") if segment]
    if segments[:2] == ["api", "v1"]:
        segments = segments[2:]
    words = []
    for index, segment in enumerate(segments):
        if segment.startswith("{"):
            continue
        word = segment.replace("-", "_").replace(".", "_")
        if index + 1 < len(segments) and segments[index + 1].startswith("{"):
            word = word.removesuffix("s")
        words.append(word)
    return f"{method.lower()}_{'_'.join(words)}"


def handler_module(handler: str) -> str:
    return handler.rsplit(".", 1)[0]


def test_a_route_module_is_named_after_its_first_route() -> None:
    first_route: dict[str, str] = {}
    for route in TEMPLATE.routes:
        first_route.setdefault(route.function.logical_id, route_module_name(route.method, route.path))
    wrong = {
        logical_id: (handler_module(TEMPLATE.functions[logical_id].handler), expected)
        for logical_id, expected in first_route.items()
        if handler_module(TEMPLATE.functions[logical_id].handler) != expected
    }
    assert wrong == {}, "function: (module, the name its route gives)"


def test_other_entry_points_say_what_starts_them() -> None:
    routed = {route.function.logical_id for route in TEMPLATE.routes}
    expected_prefix = {trigger.function.logical_id: "scheduled_" for trigger in TEMPLATE.schedule_triggers}
    expected_prefix |= {trigger.function.logical_id: "queue_" for trigger in TEMPLATE.sqs_triggers}
    for logical_id, function in TEMPLATE.functions.items():
        if logical_id in routed:
            continue
        prefix = expected_prefix.get(logical_id, "deploy_")
        assert handler_module(function.handler).startswith(prefix), f"{logical_id}: {function.handler}"


def test_no_logic_module_looks_like_an_entry_point() -> None:
    entry_points = {handler_module(function.handler) for function in TEMPLATE.functions.values()}
    impostors = [
        str(module.relative_to(REPOSITORY))
        for module in sorted((REPOSITORY / "functions").glob("*/*.py"))
        if module.stem.startswith(ENTRY_POINT_PREFIXES) and module.stem not in entry_points
    ]
    assert impostors == []


def test_the_naming_rule_reads_urls_as_documented() -> None:
    assert route_module_name("GET", "/api/v1/admin/orders/{order_id}") == "get_admin_order"
    assert route_module_name("GET", "/api/v1/admin/events/{event_id}/tickets.csv") == "get_admin_event_tickets_csv"
    assert route_module_name("POST", "/api/v1/events/{event_id}/ticket-types") == "post_event_ticket_types"
    assert route_module_name("GET", "/health") == "get_health"
