"""Request and response models of the promo-code routes (docs/architecture.md, "Promo codes")."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from crowdify.core.money import JsonMoney

Code = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=4, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
]
Tag = Annotated[str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
DiscountValue = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
MAX_CODES_PER_REQUEST = 1000


class VoucherTermsInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: Tag = None
    discount_type: Literal["percent", "fixed", "set_price"]
    value: DiscountValue
    ticket_type_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    max_redemptions: int = Field(default=1, ge=1, le=1_000_000)
    max_per_buyer: int | None = Field(default=None, ge=1, le=1_000_000)
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @model_validator(mode="after")
    def _percent_at_most_100(self) -> VoucherTermsInput:
        if self.discount_type == "percent" and self.value > 100:
            raise ValueError("a percent discount is at most 100")
        return self


class VoucherCreate(VoucherTermsInput):
    code: Code | None = None
    count: int = Field(default=1, ge=1, le=MAX_CODES_PER_REQUEST)
    reserve_seats: bool = False

    @model_validator(mode="after")
    def _code_or_count(self) -> VoucherCreate:
        if self.count > 1 and self.code is not None:
            raise ValueError("give either a code or a count above 1, not both: many codes are generated")
        return self


class VoucherUpdate(VoucherTermsInput):
    reserve_seats: bool = False


class VoucherResponse(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    code: str
    tag: str | None
    discount_type: str
    value: JsonMoney
    ticket_type_ids: list[uuid.UUID]
    max_redemptions: int
    max_per_buyer: int | None
    valid_from: datetime | None
    valid_until: datetime | None
    reserve_seats: bool
    seats_reserved: int
    redeemed: int
    is_active: bool
    # A personal code (a waiting-list offer) only this user may redeem.
    user_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime | None


class VouchersCreated(BaseModel):
    vouchers: list[VoucherResponse]
