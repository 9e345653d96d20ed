"""Free-text search: what a person typed, as a LIKE pattern that finds it anywhere in a value, taken literally."""

LIKE_ESCAPE = "\\"


def contains_pattern(search: str) -> str:
    """`%term%`, with `%`, `_` and the escape character in the term matching themselves (use `escape=LIKE_ESCAPE`)."""
    escaped = search.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
