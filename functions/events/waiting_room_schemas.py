"""The waiting room's answer to a visitor (crowdify.domain.waiting_room)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

QueueState = Literal["waiting", "admitted", "sold_out", "closed", "not_joined"]


class QueueStatusResponse(BaseModel):
    event_id: uuid.UUID
    state: QueueState
    # The visitor's place in line (1 = first) once drawn at the opening, or lined up after it; null before.
    position: int | None
    # People in line before the visitor and not yet let in.
    ahead: int | None
    estimated_wait_seconds: int | None
    opens_at: datetime | None
    joined_at: datetime | None
    # While admitted: buy before this time, once.
    admitted_until: datetime | None
    # Why the room is closed to the visitor: admission_used, admission_expired or event_closed.
    reason: str | None
    # When sold out: where to join the event's waiting list (POST, body {"seats": n}).
    waiting_list_url: str | None
    # While waiting: ask again after this long (2 to 30 seconds: often as the turn comes, seldom far back).
    poll_after_seconds: int | None
