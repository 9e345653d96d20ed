"""JSON from outside (request bodies, notifications) read without letting its shape crash the function.

`json.loads` recurses once per nesting level: a body of a thousand `[` raises RecursionError, which would be a 500
with a long traceback. No request of this API nests anywhere near MAX_NESTING levels.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from crowdify.errors import UnreadableBody

logger = logging.getLogger(__name__)

MAX_NESTING = 32


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
    """How many arrays and objects deep `value` goes; walked with a list, not recursion, for the same reason."""
    deepest = 0
    pending = [(value, 1)] if isinstance(value, dict | list) else []
    while pending:
        container, depth = pending.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            break
        children = container.values() if isinstance(container, dict) else container
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _too_deep() -> UnreadableBody:
    # One line, no traceback: a flood of these must not flood the logs.
    logger.warning("refused a JSON body nested deeper than %d levels", MAX_NESTING)
    return UnreadableBody(f"The JSON body is nested deeper than {MAX_NESTING} levels")
