"""JSON from outside (request bodies, notifications) read without letting its shape crash the function.

`json.loads` recurses once per nesting level: a body of a thousand `[` raises RecursionError, which would be a 500
with a long traceback. No request of this API nests anywhere near MAX_NESTING levels.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from crowdify.core.errors import UnreadableBody

logger = logging.getLogger(__name__)

MAX_NESTING = 32
_CONTAINERS = (dict, list)


def parse_untrusted_json(text: str | bytes) -> Any:
    """The parsed value; UnreadableBody (422) when nested deeper than MAX_NESTING, json.JSONDecodeError when no JSON."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep() from None
    if _nesting(value) > MAX_NESTING:
        raise _too_deep()
    return value


def _nesting(value: Any) -> int:
    """How many arrays and objects deep `value` goes, counted level by level (no recursion, for the same reason);
    stops counting past MAX_NESTING. json.loads makes only dicts and lists, so exact type checks are enough."""
    level = [value] if type(value) in _CONTAINERS else []
    depth = 0
    while level and depth <= MAX_NESTING:
        depth += 1
        below: list[Any] = []
        for container in level:
            children = container.values() if type(container) is dict else container
            below += [child for child in children if type(child) in _CONTAINERS]
        level = below
    return depth


def _too_deep() -> UnreadableBody:
    # One line, no traceback: a flood of these must not flood the logs.
    logger.warning("refused a JSON body nested deeper than %d levels", MAX_NESTING)
    return UnreadableBody(f"The JSON body is nested deeper than {MAX_NESTING} levels")
