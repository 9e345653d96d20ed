"""The Powertools Tracer, built on first use and only when tracing is switched on.

Building a Tracer imports the X-Ray SDK, and with it botocore: on every cold start, more than the rest of an API
function's imports together (bench/coldstart.py measures the functions). Lambda's active tracing already records
each invocation without it, so the SDK (for subsegments and annotations) is opt-in: POWERTOOLS_TRACE_DISABLED=false.
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer


@cache
def tracer() -> Tracer | None:
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").lower() in ("1", "true", "yes"):
        return None
    from aws_lambda_powertools import Tracer

    return Tracer()
