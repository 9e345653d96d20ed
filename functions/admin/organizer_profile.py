"""The installation's organiser (one per installation for now): read it, change its contact details."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crowdify.core.errors import NotFound
from crowdify.domain.audit import record_change
from crowdify.persistence.models import Organizer

EDITABLE_FIELDS = ("org_name", "contact_email", "contact_phone")


def _default_organizer(session: Session, lock: bool = False) -> Organizer:
    query = select(Organizer).where(Organizer.is_default)
    if lock:
        query = query.with_for_update()
    organizer = session.scalars(query).first()
    if organizer is None:
        raise NotFound("Organizer not found")
    return organizer


def get_organizer(session: Session) -> Organizer:
    return _default_organizer(session)


def update_organizer(session: Session, changes: dict[str, Any], actor_id: uuid.UUID) -> Organizer:
    """Applies the fields that were sent; `org_name` cannot be emptied."""
    organizer = _default_organizer(session, lock=True)
    before = {field: getattr(organizer, field) for field in EDITABLE_FIELDS}
    for field, value in changes.items():
        if field in EDITABLE_FIELDS and not (field == "org_name" and value is None):
            setattr(organizer, field, value)
    session.flush()
    after = {field: getattr(organizer, field) for field in EDITABLE_FIELDS}
    if after != before:
        record_change(session, actor_id, "organizer.update", "organizer", organizer.id, before, after)
    session.flush()
    session.refresh(organizer)
    return organizer
