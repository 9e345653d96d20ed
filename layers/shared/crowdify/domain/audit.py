"""The audit trail: who changed what, when, from which state to which."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from crowdify.core.json_encoding import json_safe
from crowdify.persistence.models import AuditEntry


def record_change(
    session: Session,
    actor_user_id: uuid.UUID | None,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    reason: str | None = None,
) -> None:
    session.add(
        AuditEntry(
            actor_user_id=actor_user_id,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            before=json_safe(before) if before is not None else None,
            after=json_safe(after) if after is not None else None,
            reason=reason,
        )
    )
