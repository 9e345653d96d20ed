"""Orders after the purchase: their status, cancelling one, the buyer's tickets and where the tickets PDF is."""

from __future__ import annotations

import uuid
from typing import Any

from purchase_schemas import OrderStatusResponse
from sqlalchemy import Connection, text

from crowdify.auth.callers import MANAGER_ROLES, Caller
from crowdify.core.errors import Conflict, Gone, NotFound
from crowdify.core.statuses import ORDER_CANCELLED, ORDERS_WITH_VALID_TICKETS, PAID_ORDER_STATUSES
from crowdify.domain.seat_holds import release_hold
from crowdify.domain.ticket_views import TICKET_VIEW_COLUMNS, TicketResponse, ticket_response

_ORDER = text(
    """
    SELECT id, user_id, event_id, status, total, currency, payment_provider, payment_id, created_at, paid_at,
           discount_total,
           hold_expires_at, payment_link, pdf_object_key
      FROM orders WHERE id = :order_id
    """
)

# Whether any ticket of the order still admits someone: not cancelled (a refund or chargeback cancels them), of an
# order not refunded or charged back as a whole (a ticket already used stays `used`), of an event not cancelled.
_TICKETS_PDF = text(
    f"""
    SELECT o.user_id, o.status, o.pdf_object_key,
           o.status IN ({", ".join(f"'{status}'" for status in ORDERS_WITH_VALID_TICKETS)}) AND e.status <> 'cancelled'
           AND EXISTS (SELECT 1 FROM tickets t WHERE t.order_id = o.id AND t.status <> 'cancelled') AS admits
      FROM orders o JOIN events e ON e.id = o.event_id
     WHERE o.id = :order_id
    """  # noqa: S608 - constant statuses, no input
)
TICKETS_NO_LONGER_VALID = (
    "Estas entradas ya no son válidas: la compra fue reembolsada o anulada, o el evento fue cancelado"
)

_USER_TICKETS = text(
    f"""
    SELECT {TICKET_VIEW_COLUMNS}
      FROM orders o
      JOIN tickets t ON t.order_id = o.id
      JOIN events e ON e.id = t.event_id
      LEFT JOIN ticket_types tt ON tt.id = t.ticket_type_id
     WHERE o.user_id = :user_id
     ORDER BY e.starts_at, t.created_at, t.id
    """  # noqa: S608 - a constant column list, no input
)


def _order_row(connection: Connection, order_id: uuid.UUID) -> Any:
    row = connection.execute(_ORDER, {"order_id": order_id}).first()
    if row is None:
        raise NotFound("Order not found")
    return row


def _visible_order(connection: Connection, order_id: uuid.UUID, caller: Caller, *, staff_may_see: bool) -> Any:
    """Another buyer's order is a 404, exactly like one that does not exist."""
    row = _order_row(connection, order_id)
    if row.user_id != caller.id and not (staff_may_see and caller.has_role(*MANAGER_ROLES)):
        raise NotFound("Order not found")
    return row


def _status_response(row: Any) -> OrderStatusResponse:
    return OrderStatusResponse(
        order_id=row.id,
        status=row.status,
        total=row.total,
        currency=row.currency,
        payment_provider=row.payment_provider,
        payment_reference=row.payment_id,
        created_at=row.created_at,
        paid_at=row.paid_at,
        event_id=row.event_id,
        hold_expires_at=row.hold_expires_at,
        payment_link=row.payment_link,
        discount_total=row.discount_total,
    )


def order_status(connection: Connection, order_id: uuid.UUID, caller: Caller) -> OrderStatusResponse:
    """The owner, coordinators and admins see an order's status."""
    return _status_response(_visible_order(connection, order_id, caller, staff_may_see=True))


def cancel_order(connection: Connection, order_id: uuid.UUID, caller: Caller) -> OrderStatusResponse:
    """The owner gives a pending order's seats back; any other state is a 409."""
    row = _visible_order(connection, order_id, caller, staff_may_see=False)
    if not release_hold(connection, order_id, ORDER_CANCELLED):
        # Read again: the order may have been paid or expired since `row` was read.
        raise Conflict(f"Only a pending order can be cancelled; this one is {_order_row(connection, order_id).status}")
    return _status_response(row).model_copy(update={"status": ORDER_CANCELLED})


def user_tickets(connection: Connection, user_id: uuid.UUID, caller: Caller) -> list[TicketResponse]:
    """A user's tickets, every status, with the event each is for; only that user and admins may look."""
    if user_id != caller.id and not caller.is_admin:
        raise NotFound("User not found")
    return [ticket_response(row) for row in connection.execute(_USER_TICKETS, {"user_id": user_id})]


def tickets_pdf_key(connection: Connection, order_id: uuid.UUID, owner: Caller | None) -> str:
    """The S3 key of an order's tickets PDF; `owner` is None when a download token already named the order.

    Gone (410) once no ticket of a paid order admits anyone: the emailed link outlives the tickets it served.
    """
    row = connection.execute(_TICKETS_PDF, {"order_id": order_id}).first()
    if row is None or (owner is not None and row.user_id != owner.id):
        raise NotFound("Order not found")
    if row.status in PAID_ORDER_STATUSES and not row.admits:
        raise Gone(TICKETS_NO_LONGER_VALID)
    if not row.pdf_object_key:
        raise NotFound("The tickets PDF is not ready yet")
    return row.pdf_object_key
