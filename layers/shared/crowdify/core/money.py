"""Money: `Numeric(12,2)` in the database, Decimal in code, a JSON number on the wire."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import PlainSerializer

# Pydantic would write a Decimal as a JSON string; the web client reads money as a number.
JsonMoney = Annotated[Decimal, PlainSerializer(lambda value: float(value), return_type=float, when_used="json")]
