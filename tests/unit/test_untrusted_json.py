"""Reading untrusted JSON: nesting is refused at the API's limit, whatever the interpreter's recursion limit."""

from __future__ import annotations

import json

import pytest

from crowdify.core.errors import UnreadableBody
from crowdify.http.untrusted_json import MAX_NESTING, parse_untrusted_json


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_a_body_at_the_limit_is_read() -> None:
    assert parse_untrusted_json(nested(MAX_NESTING)) == json.loads(nested(MAX_NESTING))


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 100_000])
def test_a_body_past_the_limit_is_refused(depth: int) -> None:
    with pytest.raises(UnreadableBody, match=f"deeper than {MAX_NESTING} levels"):
        parse_untrusted_json(nested(depth))


def test_wide_bodies_are_not_deep() -> None:
    assert len(parse_untrusted_json(json.dumps([[1]] * 10_000))) == 10_000


def test_text_that_is_not_json_is_left_to_the_caller() -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_untrusted_json("{not json")
