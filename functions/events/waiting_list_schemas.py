"""Request and response models of a person's own waiting-list entry (crowdify.domain.waiting_list)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WaitingListStatus = Literal["waiting", "offered", "bought", "expired", "left", "removed"]


class WaitingListJoin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Omitted: the event-wide list (any ticket type).
    ticket_type_id: uuid.UUID | None = None
    # At most the type's per-order maximum (the event-wide list: the largest of its types'); checked on joining.
    seats: int = Field(default=1, ge=1, le=1000)


class WaitingListEntryResponse(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID
    ticket_type_id: uuid.UUID | None
    seats: int
    status: WaitingListStatus
    # Place in line while `waiting` (1 = next); null otherwise.
    position: int | None
    joined_at: datetime
    # While `offered`: the personal code (emailed) reserves `offer_seats` of this type until `offer_expires_at`.
    offer_ticket_type_id: uuid.UUID | None = None
    offer_seats: int | None = None
    offer_expires_at: datetime | None = None
