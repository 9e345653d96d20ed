"""Response models of the admin's view of an event's waiting list."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from crowdify.core.statuses import WAITING_LIST_STATUSES
from crowdify.domain.waiting_list import Entry

WaitingListStatus = Literal["waiting", "offered", "bought", "expired", "left", "removed"]


class AdminWaitingListEntry(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    user_email: str | None
    seats: int
    status: WaitingListStatus
    position: int | None
    joined_at: datetime
    offer_ticket_type_id: uuid.UUID | None
    offer_seats: int | None
    offered_at: datetime | None
    offer_expires_at: datetime | None


class AdminWaitingList(BaseModel):
    # Null: the event-wide list (any ticket type).
    ticket_type_id: uuid.UUID | None
    # Entries per status, every status named.
    counts: dict[str, int]
    entries: list[AdminWaitingListEntry]


class AdminWaitingListResponse(BaseModel):
    event_id: uuid.UUID
    lists: list[AdminWaitingList]

    @classmethod
    def of(cls, event_id: uuid.UUID, entries: list[Entry]) -> AdminWaitingListResponse:
        by_type: dict[uuid.UUID | None, list[Entry]] = {}
        for entry in entries:
            by_type.setdefault(entry.ticket_type_id, []).append(entry)
        lists = []
        for ticket_type_id, members in by_type.items():
            counted = Counter(entry.status for entry in members)
            lists.append(
                AdminWaitingList(
                    ticket_type_id=ticket_type_id,
                    counts={status: counted[status] for status in WAITING_LIST_STATUSES},
                    entries=[AdminWaitingListEntry.model_validate(entry, from_attributes=True) for entry in members],
                )
            )
        return cls(event_id=event_id, lists=lists)
