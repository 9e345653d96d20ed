"""Orders to response models."""

from __future__ import annotations

from admin_orders import OrderDetail, OrderRow
from admin_schemas import (
    AdminOrderDetail,
    AdminOrderSummary,
    AuditView,
    OrderItemView,
    OrderPaymentView,
    OrderRefundView,
    OrderTicketView,
)


def order_summary(row: OrderRow) -> AdminOrderSummary:
    order = row.order
    return AdminOrderSummary(
        id=order.id,
        event_id=order.event_id,
        event_name=row.event_name,
        user_id=order.user_id,
        buyer_email=order.buyer_email,
        status=order.status,
        currency=order.currency,
        total=order.total,
        refunded_amount=order.refunded_amount,
        ticket_count=row.ticket_count,
        payment_id=order.payment_id,
        hold_expires_at=order.hold_expires_at,
        paid_at=order.paid_at,
        created_at=order.created_at,
    )


def order_detail_response(detail: OrderDetail) -> AdminOrderDetail:
    order = detail.row.order
    return AdminOrderDetail(
        **order_summary(detail.row).model_dump(),
        items=[
            OrderItemView(
                id=item.id,
                ticket_type_id=item.ticket_type_id,
                event_service_id=item.event_service_id,
                name=detail.item_names[item.id],
                quantity=item.quantity,
                unit_price=item.unit_price,
                subtotal=item.unit_price * item.quantity,
            )
            for item in order.items
        ],
        tickets=[OrderTicketView.model_validate(ticket, from_attributes=True) for ticket in detail.tickets],
        payments=[OrderPaymentView.model_validate(payment, from_attributes=True) for payment in detail.payments],
        refunds=[OrderRefundView.model_validate(refund, from_attributes=True) for refund in detail.refunds],
        history=[AuditView.model_validate(entry, from_attributes=True) for entry in detail.history],
    )
