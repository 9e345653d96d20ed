"""Checking tickets in at the door: one verdict per scan, exactly one `accepted` per ticket, each scan logged.

The hot path is built for a queue at the door:
- the QR token's Ed25519 signature is checked first; a tampered, truncated or foreign token is `invalid` without
  any database work (it is logged to the function's structured log instead, so a flood of forged codes cannot
  load the database);
- everything else is ONE SQL statement: the scanner's standing (device not revoked or expired, or user role), the
  nonce of a retry (refused when it was used for another ticket), the event's state (a cancelled event admits no
  one) and, for an offline scan, its claimed time against the admission window, the row lock and conditional update
  `issued → used`, and the check-in log row (an offline scan keeps its claimed time in `device_time` and the time
  it reached us in `recorded_at`). The bearer token is verified locally, so a scan costs one statement (plus
  BEGIN/COMMIT) when the scanner is known;
- a user seen for the first time is created from the token (crowdify.auth.users) and the statement runs again.

Plain SQL through pg8000 alone (crowdify.persistence.pg_connection): the door pays for neither the ORM's import nor
Core's.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crowdify.auth import backend_tokens
from crowdify.auth.callers import Caller, VerifiedToken
from crowdify.auth.qr_tokens import InvalidQrToken, VerifiedTicket, keyring_from_settings
from crowdify.auth.users import find_or_create_user
from crowdify.config.settings import get_settings
from crowdify.core.errors import Conflict, Forbidden, NotAuthenticated
from crowdify.persistence.pg_connection import Connection, transaction

logger = logging.getLogger(__name__)

ACCEPTED = "accepted"
ALREADY_USED = "already_used"
INVALID = "invalid"
WRONG_EVENT = "wrong_event"
CANCELLED = "cancelled"
# The ticket's event was cancelled: none of its tickets admits anyone any more.
EVENT_CANCELLED = "event_cancelled"
# An offline scan whose claimed time is outside the event's admission window or after it reached us (below).
INVALID_SCAN_TIME = "invalid_scan_time"
# Sync only: the scan's nonce was used before with another ticket (online, that is a 409).
NONCE_REUSED = "nonce_reused"

# The admission window an offline scan's claimed time must fall in: from this long before the event starts to this
# long after it ends (its start when it has no end). Doors open hours early and a night can run past the end; half
# a day either side covers both while refusing times no door could have seen (a device clock at 1970, another
# day's event). The scanner bundle states the same window.
ADMISSION_MARGIN = timedelta(hours=12)
# A scan cannot have happened after it reached us; phone clocks run a few minutes fast, which this allows.
DEVICE_CLOCK_SKEW = timedelta(minutes=5)
NONCE_REUSED_DETAIL = "Este nonce ya se usó para escanear otro ticket: genera uno nuevo para cada escaneo"


@dataclass(frozen=True)
class Scanner:
    """Who scans, as the verified bearer token names them: a scanner device or a user (role from the database)."""

    id: uuid.UUID
    is_device: bool
    email: str | None = None
    role_for_new_user: str = "user"

    @classmethod
    def of_caller(cls, caller: Caller) -> Scanner:
        return cls(id=caller.id, is_device=caller.is_device, email=caller.email)

    @classmethod
    def of_token(cls, verified: VerifiedToken) -> Scanner:
        """Whether the device is still active, or the user's role allows scanning, is checked by the check-in
        statement itself, so that a scan costs one statement."""
        return cls(
            id=verified.subject,
            is_device=verified.kind == backend_tokens.DEVICE_TOKEN,
            email=verified.email,
            role_for_new_user=verified.role_for_new_user,
        )


@dataclass(frozen=True)
class Scan:
    qr_signature: str
    requested_event_id: uuid.UUID | None = None
    inspector_id: str | None = None
    nonce: str | None = None
    offline: bool = False
    # Offline scans only: when the device says the guest came in (its clock, not ours).
    device_time: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    status: str
    ticket_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = None
    attendee_name: str | None = None
    ticket_type: str | None = None
    checked_in_at: datetime | None = None
    first_checked_in_at: datetime | None = None
    first_checked_in_by: uuid.UUID | None = None
    offline_conflict: bool = False

    @property
    def valid(self) -> bool:
        return self.status == ACCEPTED

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> Verdict:
        """A verdict from the facts the check-in statement stored in `checkins.response` (a retry reads them back)."""
        return cls(
            status=facts["status"],
            ticket_id=_uuid_or_none(facts.get("ticket_id")),
            event_id=_uuid_or_none(facts.get("event_id")),
            attendee_name=facts.get("attendee_name"),
            ticket_type=facts.get("ticket_type"),
            checked_in_at=_datetime_or_none(facts.get("checked_in_at")),
            first_checked_in_at=_datetime_or_none(facts.get("first_checked_in_at")),
            first_checked_in_by=_uuid_or_none(facts.get("first_checked_in_by")),
            offline_conflict=bool(facts.get("offline_conflict")),
        )


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _datetime_or_none(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# The scanner's standing, evaluated inside the check-in statement. A device must be neither revoked nor expired
# (the same rule as crowdify.auth.callers.authenticate) and covers only its events; a user needs a staff role and covers
# every event.
_DEVICE_STANDING = """
    SELECT revoked_at IS NULL AND expires_at > now() AS permitted, input.event_id = ANY(event_ids) AS covers_event
    FROM scanner_devices, input WHERE id = input.actor_id
"""
_USER_STANDING = """
    SELECT role IN ('scanner', 'coordinator', 'admin') AS permitted, true AS covers_event
    FROM users, input WHERE id = input.actor_id
"""

# One statement per scan. Why it is exact under concurrency: `ticket` takes the row lock (FOR NO KEY UPDATE); a
# concurrent scan of the same ticket waits for it and then, under READ COMMITTED, sees the row as the winner left
# it (status 'used', its time and scanner), so it answers `already_used` naming the first check-in. Every write
# (the ticket update, the log row) depends on `attempt`, which is empty when the scanner is not permitted or the
# nonce was answered before: then the statement changes nothing.
# Each parameter is cast once, in `input`, and the text is compacted: a kept connection prepares it once, but behind
# a pooler it is sent and parsed on every scan (crowdify.persistence.pg_connection), where a short text is a faster
# scan.
_CHECK_IN = """
WITH input AS (
    SELECT CAST(:actor_id AS uuid) AS actor_id, CAST(:device_id AS uuid) AS device_id,
           CAST(:user_id AS uuid) AS user_id, CAST(:ticket_id AS uuid) AS ticket_id,
           CAST(:event_id AS uuid) AS event_id, CAST(:requested_event_id AS uuid) AS requested_event_id,
           CAST(:inspector_id AS varchar) AS inspector_id, CAST(:nonce AS varchar) AS nonce,
           CAST(:offline AS boolean) AS offline, CAST(:device_time AS timestamptz) AS device_time
),
actor AS ({standing}),
prior AS (
    SELECT response, checkins.ticket_id IS DISTINCT FROM input.ticket_id AS other_ticket
    FROM checkins, input WHERE checkins.actor_id = input.actor_id AND checkins.nonce = input.nonce
),
attempt AS (
    SELECT actor.covers_event AND (requested_event_id IS NULL OR requested_event_id = event_id) AS in_scope
    FROM actor, input
    WHERE actor.permitted AND NOT EXISTS (SELECT 1 FROM prior)
),
ticket AS (
    SELECT id, event_id, status, used_at, used_by_device_id, used_by_user_id,
           holder_first_name, holder_last_name, ticket_type_id
    FROM tickets
    WHERE id = (SELECT ticket_id FROM input) AND (SELECT in_scope FROM attempt)
    FOR NO KEY UPDATE
),
event AS (
    SELECT status = 'cancelled' AS cancelled,
           input.device_time IS NOT NULL
           AND NOT (input.device_time >= starts_at - interval '{admission_margin}'
                    AND input.device_time <= COALESCE(ends_at, starts_at) + interval '{admission_margin}'
                    AND input.device_time <= now() + interval '{clock_skew}') AS bad_time
    FROM events, input
    WHERE events.id = input.event_id AND (SELECT in_scope FROM attempt)
),
claimed AS (
    UPDATE tickets
    SET status = 'used', used_at = LEAST(COALESCE(input.device_time, now()), now()), validated_at = now(),
        used_by_device_id = input.device_id, used_by_user_id = input.user_id, updated_at = now()
    FROM ticket, input, event
    WHERE tickets.id = ticket.id AND ticket.status = 'issued' AND ticket.event_id = input.event_id
      AND NOT event.cancelled AND NOT event.bad_time
    RETURNING tickets.used_at
),
outcome AS (
    SELECT CASE
               WHEN NOT attempt.in_scope THEN 'wrong_event'
               WHEN claimed.used_at IS NOT NULL THEN 'accepted'
               WHEN ticket.id IS NULL OR ticket.event_id <> input.event_id THEN 'invalid'
               WHEN event.cancelled THEN 'event_cancelled'
               WHEN event.bad_time THEN 'invalid_scan_time'
               WHEN ticket.status = 'used' THEN 'already_used'
               WHEN ticket.status = 'cancelled' THEN 'cancelled'
               ELSE 'invalid'
           END AS result,
           ticket.used_at AS first_used_at,
           COALESCE(ticket.used_by_device_id, ticket.used_by_user_id) AS first_used_by,
           NULLIF(TRIM(CONCAT_WS(' ', ticket.holder_first_name, ticket.holder_last_name)), '') AS attendee_name,
           ticket_types.name AS ticket_type, claimed.used_at AS checked_in_at
    FROM attempt
    CROSS JOIN input
    LEFT JOIN ticket ON true
    LEFT JOIN claimed ON true
    LEFT JOIN event ON true
    LEFT JOIN ticket_types ON ticket_types.id = ticket.ticket_type_id
),
verdict AS (
    SELECT result, jsonb_build_object(
        'status', result,
        'ticket_id', input.ticket_id,
        'event_id', input.event_id,
        'attendee_name', CASE WHEN result <> 'invalid' THEN attendee_name END,
        'ticket_type', CASE WHEN result <> 'invalid' THEN ticket_type END,
        'checked_in_at', checked_in_at,
        'first_checked_in_at', CASE WHEN result = 'already_used' THEN first_used_at END,
        'first_checked_in_by', CASE WHEN result = 'already_used' THEN first_used_by END,
        'offline_conflict', result = 'already_used' AND input.offline
    ) AS facts
    FROM outcome, input
),
logged AS (
    INSERT INTO checkins (ticket_id, event_id, device_id, user_id, actor_id, inspector_id, result, nonce,
                          offline, device_time, response)
    SELECT ticket_id, event_id, device_id, user_id, actor_id, inspector_id, result, nonce, offline, device_time,
           facts
    FROM verdict, input
    ON CONFLICT (actor_id, nonce) WHERE nonce IS NOT NULL DO NOTHING
    RETURNING id
)
SELECT actor.permitted, prior.response AS prior_response, prior.other_ticket AS nonce_of_other_ticket, verdict.facts,
       EXISTS (SELECT 1 FROM logged) AS logged
FROM (VALUES (1)) AS one (x)
LEFT JOIN actor ON true
LEFT JOIN prior ON true
LEFT JOIN verdict ON true
"""


def _compact(statement: str) -> str:
    # Whitespace runs become one space (no literal in these statements holds more than one): a shorter text.
    return re.sub(r"\s+", " ", statement).strip()


def _check_in_statement(standing: str) -> str:
    return _compact(
        _CHECK_IN.format(
            standing=standing,
            admission_margin=f"{int(ADMISSION_MARGIN.total_seconds())} seconds",
            clock_skew=f"{int(DEVICE_CLOCK_SKEW.total_seconds())} seconds",
        )
    )


_DEVICE_CHECK_IN = _check_in_statement(_DEVICE_STANDING)
_USER_CHECK_IN = _check_in_statement(_USER_STANDING)

# An offline scan whose code does not verify: nothing to look up, but the sync log keeps every scan.
_LOG_INVALID_SCAN = """
    INSERT INTO checkins (device_id, user_id, actor_id, inspector_id, result, nonce, offline, device_time, response)
    VALUES (CAST(:device_id AS uuid), CAST(:user_id AS uuid), CAST(:actor_id AS uuid),
            CAST(:inspector_id AS varchar), 'invalid', CAST(:nonce AS varchar), CAST(:offline AS boolean),
            CAST(:device_time AS timestamptz), CAST(:response AS jsonb))
    ON CONFLICT (actor_id, nonce) WHERE nonce IS NOT NULL DO NOTHING
"""

_PRIOR_RESPONSE = """
    SELECT response, ticket_id IS DISTINCT FROM CAST(:ticket_id AS uuid) AS nonce_of_other_ticket
      FROM checkins WHERE actor_id = :actor_id AND nonce = :nonce
"""


class _AnsweredConcurrently(Exception):
    """A retry with the same nonce was answered by a concurrent request first: its answer stands, ours is undone."""


class NonceReused(Conflict):
    """A nonce already answered for another ticket: that answer belongs to the other ticket and is never shown."""

    def __init__(self) -> None:
        super().__init__(NONCE_REUSED_DETAIL)


def verify_code(qr_signature: str, scanner: Scanner) -> VerifiedTicket | None:
    """The ticket a QR code names, or None when the code is tampered, truncated or signed by a foreign key."""
    try:
        return keyring_from_settings(get_settings()).verify(qr_signature)
    except InvalidQrToken as error:
        # The online path records these here rather than in `checkins`: a forged code costs no database work.
        logger.info(
            "invalid ticket code",
            extra={"reason": str(error), "scanner_id": str(scanner.id), "scanner_is_device": scanner.is_device},
        )
        return None


def check_in(scanner: Scanner, scan: Scan) -> Verdict:
    """Check one ticket in (online scan). Raises NotAuthenticated / Forbidden for a scanner that may not scan."""
    ticket = verify_code(scan.qr_signature, scanner)
    if ticket is None:
        return Verdict(status=INVALID)
    try:
        with transaction() as connection:
            return check_in_verified(connection, scanner, scan, ticket)
    except _AnsweredConcurrently:
        with transaction() as connection:
            return _prior_verdict(connection, scanner, scan, ticket)


def check_in_verified(connection: Connection, scanner: Scanner, scan: Scan, ticket: VerifiedTicket) -> Verdict:
    """Check in a ticket whose code verified, in the caller's transaction (one statement when the scanner is known).

    Raises NonceReused (409) when the scan's nonce was answered before for another ticket.
    """
    parameters = {
        "actor_id": scanner.id,
        "device_id": scanner.id if scanner.is_device else None,
        "user_id": None if scanner.is_device else scanner.id,
        "ticket_id": ticket.ticket_id,
        "event_id": ticket.event_id,
        "requested_event_id": scan.requested_event_id,
        "inspector_id": scan.inspector_id,
        "nonce": scan.nonce,
        "offline": scan.offline,
        "device_time": scan.device_time,
    }
    statement = _DEVICE_CHECK_IN if scanner.is_device else _USER_CHECK_IN
    row = connection.one(statement, parameters)
    if row.permitted is None and not scanner.is_device:
        # A user seen for the first time (e.g. a Supabase user whose app_metadata names a role): create them as
        # every other route would, then scan.
        find_or_create_user(connection, scanner.id, scanner.email, scanner.role_for_new_user)
        row = connection.one(statement, parameters)
    if not row.permitted:
        if scanner.is_device:
            raise NotAuthenticated("Scanner device revoked, expired or unknown")
        raise Forbidden("Not allowed for your role")
    if row.prior_response is not None:
        if row.nonce_of_other_ticket:
            raise NonceReused
        return Verdict.from_facts(row.prior_response)
    if not row.logged:
        raise _AnsweredConcurrently
    return Verdict.from_facts(row.facts)


def _prior_verdict(connection: Connection, scanner: Scanner, scan: Scan, ticket: VerifiedTicket) -> Verdict:
    prior = connection.one(
        _PRIOR_RESPONSE, {"actor_id": scanner.id, "nonce": scan.nonce, "ticket_id": ticket.ticket_id}
    )
    if prior.nonce_of_other_ticket:
        raise NonceReused
    return Verdict.from_facts(prior.response)


def sync_offline_scans(scanner: Scanner, scans: list[Scan]) -> list[Verdict]:
    """Apply a device's offline scans in arrival order, in one transaction: the first applied wins.

    Every scan is logged with `offline = true` and its device time. A ticket that had already been used when its
    offline scan arrives is a double entry made offline: `already_used` with `offline_conflict` set, so the event's
    stats count it (checkins rows with result 'already_used' and offline true). Nonces make a resent batch
    answer as the first time did.
    """
    try:
        with transaction() as connection:
            return _apply_offline_scans(connection, scanner, scans)
    except _AnsweredConcurrently:
        # The same batch was being applied by a concurrent request (a client retry): now that it committed, every
        # nonce of ours finds its first answer.
        with transaction() as connection:
            return _apply_offline_scans(connection, scanner, scans)


def _apply_offline_scans(connection: Connection, scanner: Scanner, scans: list[Scan]) -> list[Verdict]:
    verdicts = []
    for scan in scans:
        ticket = verify_code(scan.qr_signature, scanner)
        if ticket is None:
            verdicts.append(_log_invalid_offline_scan(connection, scanner, scan))
            continue
        try:
            verdicts.append(check_in_verified(connection, scanner, scan, ticket))
        except NonceReused:
            # One scan's bad nonce must not hold back the rest of the batch: refused alone, nothing written.
            verdicts.append(Verdict(status=NONCE_REUSED))
    return verdicts


def _log_invalid_offline_scan(connection: Connection, scanner: Scanner, scan: Scan) -> Verdict:
    connection.execute(
        _LOG_INVALID_SCAN,
        {
            "actor_id": scanner.id,
            "device_id": scanner.id if scanner.is_device else None,
            "user_id": None if scanner.is_device else scanner.id,
            "inspector_id": scan.inspector_id,
            "nonce": scan.nonce,
            "offline": scan.offline,
            "device_time": scan.device_time,
            "response": '{"status": "invalid"}',
        },
    )
    return Verdict(status=INVALID)
