"""The MercadoPago webhook against real Postgres, the MercadoPago emulator over HTTP and moto SQS."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from crowdify.auth.qr_tokens import keyring_from_settings
from crowdify.config.settings import get_settings
from crowdify.persistence.database import engine
from crowdify.persistence.models import OutboxMessage, Payment, Refund, Ticket
from tests.support.identities import Identity
from tests.support.mercadopago import emulator_call
from tests.support.orders import create_event, create_pending_order
from tests.support.paid_orders import (
    AwsResources,
    create_payment,
    fetch_payment,
    post_notification,
    signature_headers,
)
from tests.support.races import all_at_once

pytestmark = pytest.mark.usefixtures("mercadopago", "aws_resources")


def order_row(order_id: uuid.UUID) -> dict:
    with engine().connect() as connection:
        return dict(connection.execute(text("SELECT * FROM orders WHERE id = :id"), {"id": order_id}).mappings().one())


def tickets_of(order_id: uuid.UUID) -> list[Ticket]:
    from crowdify.persistence.sessions import db_session

    with db_session() as session:
        return list(session.scalars(select(Ticket).where(Ticket.order_id == order_id).order_by(Ticket.issued_at)))


def count(model: type, **where: object) -> int:
    from crowdify.persistence.sessions import db_session

    with db_session() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return session.scalar(query)


def payment_row(provider_payment_id: str) -> Payment:
    from crowdify.persistence.sessions import db_session

    with db_session() as session:
        return session.scalars(select(Payment).where(Payment.provider_payment_id == provider_payment_id)).one()


def test_approved_payment_completes_the_order_issues_signed_tickets_and_publishes_one_message(
    buyer: Identity, mercadopago, aws_resources: AwsResources
) -> None:
    event = create_event()
    order = create_pending_order(event, buyer.user_id, attendees=3)
    payment_id = create_payment(mercadopago, order.id, order.total)

    answer = post_notification(payment_id)

    assert answer.status == 200, answer.body
    assert answer.json() == {"received": True, "action": "completed"}
    row = order_row(order.id)
    assert row["status"] == "completed"
    assert row["payment_id"] == payment_id
    assert row["paid_at"] is not None
    tickets = tickets_of(order.id)
    assert len(tickets) == 3
    signer = keyring_from_settings(get_settings())
    for ticket in tickets:
        verified = signer.verify(ticket.qr_signature)
        assert (verified.ticket_id, verified.event_id) == (ticket.id, event.id)
        assert ticket.status == "issued"
    assert {ticket.holder_first_name for ticket in tickets} == {"Asistente1", "Asistente2", "Asistente3"}
    messages = aws_resources.received_messages()
    assert len(messages) == 1
    assert messages[0]["order_id"] == str(order.id)
    assert messages[0]["reason"] == "paid"
    assert count(OutboxMessage) == 1
    with engine().connect() as connection:
        published = connection.execute(text("SELECT published_at FROM outbox_messages")).scalar_one()
    assert published is not None
    assert str(messages[0]["message_id"])
    assert payment_row(payment_id).status == "approved"


def test_the_same_notification_again_changes_nothing(buyer: Identity, mercadopago, aws_resources) -> None:
    order = create_pending_order(create_event(), buyer.user_id)
    payment_id = create_payment(mercadopago, order.id, order.total)
    assert post_notification(payment_id).json()["action"] == "completed"

    again = post_notification(payment_id)

    assert again.status == 200
    assert again.json()["action"] == "already_applied"
    assert len(tickets_of(order.id)) == 2
    assert count(OutboxMessage) == 1
    assert len(aws_resources.received_messages()) == 1


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"x-signature": "ts=1742505638683,v1=" + "0" * 64, "x-request-id": "r-1"}, id="forged"),
        pytest.param({}, id="missing-header"),
        pytest.param({"x-signature": "garbage", "x-request-id": "r-1"}, id="malformed"),
        pytest.param("wrong-secret", id="wrong-secret"),
        pytest.param("moved", id="signature-of-another-data-id"),
    ],
)
def test_unsigned_or_forged_notifications_are_refused_and_change_nothing(
    buyer: Identity, mercadopago, aws_resources, headers
) -> None:
    order = create_pending_order(create_event(), buyer.user_id)
    payment_id = create_payment(mercadopago, order.id, order.total)
    other_payment_id = create_payment(mercadopago, order.id, order.total)
    if headers == "wrong-secret":
        headers = signature_headers(payment_id, secret="not-the-webhook-secret")
    elif headers == "moved":
        # A genuine signature, captured from the notification of another payment.
        headers = signature_headers(payment_id, signed_data_id=other_payment_id)

    answer = post_notification(payment_id, headers=headers)

    assert answer.status == 401
    assert "detail" in answer.json()
    assert order_row(order.id)["status"] == "pending"
    assert count(Payment) == 0
    assert count(Ticket) == 0
    assert count(OutboxMessage) == 0
    assert aws_resources.received_messages() == []


def test_a_body_naming_another_payment_than_the_signed_query_is_refused(buyer: Identity, mercadopago) -> None:
    order = create_pending_order(create_event(), buyer.user_id)
    payment_id = create_payment(mercadopago, order.id, order.total)
    from tests.support.api_gateway import call

    answer = call(
        "post_purchases_webhook",
        "POST",
        "/api/v1/purchases/webhook",
        query={"data.id": "1", "type": "payment"},
        body={"type": "payment", "data": {"id": payment_id}},
        headers=signature_headers("1"),
    )

    assert answer.status == 401
    assert order_row(order.id)["status"] == "pending"


def test_other_topics_are_acknowledged_and_ignored(buyer: Identity, mercadopago) -> None:
    answer = post_notification("123456", topic="merchant_order")

    assert answer.status == 200
    assert answer.json()["action"] == "ignored"
    assert count(Payment) == 0


@pytest.mark.parametrize(
    ("amount_delta", "currency", "problem"),
    [(Decimal("-1"), "CLP", "amount_mismatch"), (Decimal("0"), "ARS", "currency_mismatch")],
)
def test_a_payment_that_does_not_match_its_order_is_recorded_refunded_once_and_never_completes_it(
    buyer: Identity, mercadopago, aws_resources, amount_delta, currency, problem
) -> None:
    order = create_pending_order(create_event(), buyer.user_id)
    payment_id = create_payment(mercadopago, order.id, order.total + amount_delta, currency=currency)

    answer = post_notification(payment_id)

    assert answer.status == 200
    assert answer.json()["action"] == problem
    assert order_row(order.id)["status"] == "pending"
    recorded = payment_row(payment_id)
    assert (recorded.problem, recorded.order_id) == (problem, order.id)
    assert count(Ticket) == 0
    assert aws_resources.received_messages() == []
    at_mercadopago = fetch_payment(mercadopago, payment_id)
    assert at_mercadopago["status"] == "refunded"
    assert len(at_mercadopago["refunds"]) == 1
    refund = _refund_of(payment_id)
    assert (refund.reason, refund.provider_refund_id) == (problem, str(at_mercadopago["refunds"][0]["id"]))

    # Redeliveries (MercadoPago's own, and its notice of the refund) refund nothing more and keep the order pending.
    for _ in range(3):
        assert post_notification(payment_id).status == 200
    assert len(fetch_payment(mercadopago, payment_id)["refunds"]) == 1
    assert count(Refund) == 1
    assert order_row(order.id)["status"] == "pending"
    assert post_notification(create_payment(mercadopago, order.id, order.total)).json()["action"] == "completed"


def test_concurrent_deliveries_of_a_mismatched_payment_refund_it_once(buyer: Identity, mercadopago) -> None:
    from crowdify.domain.payment_settlement import settle_payment

    order = create_pending_order(create_event(), buyer.user_id)
    payment_id = create_payment(mercadopago, order.id, order.total + 1)
    actions = all_at_once(lambda _: settle_payment(payment_id).action, racers=6)

    assert set(actions) == {"amount_mismatch"}
    at_mercadopago = fetch_payment(mercadopago, payment_id)
    assert len(at_mercadopago["refunds"]) == 1
    assert at_mercadopago["transaction_amount_refunded"] == at_mercadopago["transaction_amount"]
    assert count(Refund) == 1
    assert _refund_of(payment_id).provider_refund_id == str(at_mercadopago["refunds"][0]["id"])
    assert order_row(order.id)["status"] == "pending"


def test_a_payment_id_that_already_belongs_to_another_order_is_recorded_and_answered_200(
    buyer: Identity, mercadopago, aws_resources
) -> None:
    first = create_pending_order(create_event(), buyer.user_id)
    second = create_pending_order(create_event(), buyer.user_id)
    first_payment = create_payment(mercadopago, first.id, first.total)
    assert post_notification(first_payment).json()["action"] == "completed"
    reused = create_payment(mercadopago, second.id, second.total)
    # As after an emulator restart (or a forged notification in production): the database already holds this
    # payment id, recorded for the first order, and MercadoPago now says it pays the second.
    with engine().begin() as connection:
        connection.execute(text("UPDATE orders SET payment_id = :new WHERE id = :id"), {"new": reused, "id": first.id})
        connection.execute(
            text("UPDATE payments SET provider_payment_id = :new WHERE provider_payment_id = :old"),
            {"new": reused, "old": first_payment},
        )

    answers = [post_notification(reused) for _ in range(3)]

    assert [answer.status for answer in answers] == [200] * 3, answers[0].body
    assert {answer.json()["action"] for answer in answers} == {"payment_id_conflict"}
    assert order_row(second.id)["status"] == "pending"
    first_row = order_row(first.id)
    assert (first_row["status"], first_row["payment_id"]) == ("completed", reused)
    recorded = payment_row(reused)
    assert (recorded.order_id, recorded.external_reference) == (first.id, str(first.id))
    with engine().connect() as connection:
        entries = connection.execute(
            text("SELECT entity_id, before, after FROM audit_log WHERE action = 'payment.id_conflict'")
        ).all()
    assert len(entries) == 1
    assert entries[0].entity_id == reused
    assert entries[0].before["external_reference"] == str(first.id)
    assert entries[0].after["external_reference"] == str(second.id)
    assert len(tickets_of(second.id)) == 0
    assert len(aws_resources.received_messages()) == 1


def test_a_payment_for_no_known_order_is_recorded(mercadopago) -> None:
    payment_id = create_payment(mercadopago, uuid.uuid4(), "1000")

    answer = post_notification(payment_id)

    assert answer.status == 200
    assert answer.json()["action"] == "unknown_order"
    assert payment_row(payment_id).problem == "unknown_order"


def test_a_rejected_payment_is_recorded_and_the_buyer_may_pay_again(buyer: Identity, mercadopago) -> None:
    order = create_pending_order(create_event(), buyer.user_id)
    rejected_id = create_payment(mercadopago, order.id, order.total, status="rejected")

    assert post_notification(rejected_id).json()["action"] == "recorded"
    assert order_row(order.id)["status"] == "pending"
    assert payment_row(rejected_id).status == "rejected"

    approved_id = create_payment(mercadopago, order.id, order.total)
    assert post_notification(approved_id).json()["action"] == "completed"
    assert order_row(order.id)["payment_id"] == approved_id


def test_mercadopago_down_answers_5xx_so_mercadopago_retries(buyer: Identity, mercadopago) -> None:
    order = create_pending_order(create_event(), buyer.user_id)
    payment_id = create_payment(mercadopago, order.id, order.total)
    emulator_call(mercadopago, "POST", "/_emulator/faults", {"mode": "500", "count": 5})

    answer = post_notification(payment_id)

    assert answer.status == 503
    assert order_row(order.id)["status"] == "pending"
    assert count(Payment) == 0
    emulator_call(mercadopago, "POST", "/_emulator/faults", {"mode": "500", "count": 0})
    assert post_notification(payment_id).json()["action"] == "completed"


def test_five_concurrent_deliveries_of_one_approval_complete_the_order_once(
    buyer: Identity, mercadopago, aws_resources
) -> None:
    from crowdify.domain.payment_settlement import settle_payment

    order = create_pending_order(create_event(), buyer.user_id, attendees=4)
    payment_id = create_payment(mercadopago, order.id, order.total)
    actions = all_at_once(lambda _: settle_payment(payment_id).action, racers=5)

    assert sorted(actions) == ["already_applied"] * 4 + ["completed"]
    assert order_row(order.id)["status"] == "completed"
    assert len(tickets_of(order.id)) == 4
    assert count(OutboxMessage) == 1
    assert count(Payment) == 1
    assert len(aws_resources.received_messages()) == 1


def test_a_second_approved_payment_is_refunded_as_a_duplicate_and_changes_nothing_else(
    buyer: Identity, mercadopago, aws_resources
) -> None:
    order = create_pending_order(create_event(), buyer.user_id)
    first_id = create_payment(mercadopago, order.id, order.total)
    assert post_notification(first_id).json()["action"] == "completed"
    tickets_before = {ticket.id for ticket in tickets_of(order.id)}
    second_id = create_payment(mercadopago, order.id, order.total)

    answer = post_notification(second_id)

    assert answer.json()["action"] == "duplicate_payment"
    row = order_row(order.id)
    assert (row["status"], row["payment_id"]) == ("completed", first_id)
    assert {ticket.id for ticket in tickets_of(order.id)} == tickets_before
    assert count(OutboxMessage) == 1
    refunded = fetch_payment(mercadopago, second_id)
    assert refunded["status"] == "refunded"
    assert len(refunded["refunds"]) == 1
    refund = _refund_of(second_id)
    assert (refund.reason, refund.provider_refund_id) == ("duplicate_payment", str(refunded["refunds"][0]["id"]))
    assert payment_row(second_id).problem == "duplicate_payment"

    # MercadoPago then tells us the duplicate was refunded: that is not the order's payment, so nothing changes.
    assert post_notification(second_id).status == 200
    assert order_row(order.id)["status"] == "completed"
    assert all(ticket.status == "issued" for ticket in tickets_of(order.id))


def test_a_refund_that_fails_after_the_commit_is_made_by_the_redelivery_and_only_once(
    buyer: Identity, mercadopago
) -> None:
    from crowdify.adapters.mercadopago_client import payments
    from crowdify.core.errors import DependencyUnavailable
    from crowdify.domain.order_payments import apply_payment, perform_refunds
    from crowdify.persistence.sessions import db_session

    order = create_pending_order(create_event(), buyer.user_id)
    first_id = create_payment(mercadopago, order.id, order.total)
    assert post_notification(first_id).json()["action"] == "completed"
    second_id = create_payment(mercadopago, order.id, order.total)
    with db_session() as session:
        outcome = apply_payment(session, payments().get_payment(second_id))
    assert [refund.reason for refund in outcome.refunds] == ["duplicate_payment"]
    emulator_call(mercadopago, "POST", "/_emulator/faults", {"mode": "500", "count": 1})
    with pytest.raises(DependencyUnavailable):
        perform_refunds(outcome.refunds)
    assert _refund_of(second_id).provider_refund_id is None

    assert post_notification(second_id).json()["action"] == "duplicate_payment"
    assert post_notification(second_id).status == 200

    payment = fetch_payment(mercadopago, second_id)
    assert len(payment["refunds"]) == 1
    assert _refund_of(second_id).provider_refund_id == str(payment["refunds"][0]["id"])
    assert count(Refund) == 1


def _refund_of(provider_payment_id: str) -> Refund:
    from crowdify.persistence.sessions import db_session

    with db_session() as session:
        return session.scalars(select(Refund).where(Refund.provider_payment_id == provider_payment_id)).one()


@pytest.mark.parametrize(("status", "order_status"), [("refunded", "refunded"), ("charged_back", "charged_back")])
def test_a_refund_or_chargeback_of_the_orders_payment_cancels_every_ticket(
    buyer: Identity, mercadopago, status, order_status
) -> None:
    from tests.support.paid_orders import update_payment

    order = create_pending_order(create_event(), buyer.user_id, attendees=3)
    payment_id = create_payment(mercadopago, order.id, order.total)
    assert post_notification(payment_id).json()["action"] == "completed"
    update_payment(mercadopago, payment_id, status)

    answer = post_notification(payment_id)

    assert answer.json()["action"] == order_status
    assert order_row(order.id)["status"] == order_status
    tickets = tickets_of(order.id)
    assert [ticket.status for ticket in tickets] == ["cancelled"] * 3
    assert all(ticket.cancelled_at is not None for ticket in tickets)
    if status == "refunded":
        assert order_row(order.id)["refunded_amount"] == order.total


def test_a_partial_refund_cancels_only_the_tickets_it_names(buyer: Identity, mercadopago) -> None:
    from crowdify.adapters.mercadopago_client import payments
    from crowdify.persistence.sessions import db_session

    event = create_event()
    order = create_pending_order(event, buyer.user_id, attendees=3)
    payment_id = create_payment(mercadopago, order.id, order.total)
    assert post_notification(payment_id).json()["action"] == "completed"
    named, *kept = tickets_of(order.id)
    # As the admin's refund route does: the refund with the tickets it pays back, then MercadoPago's refund.
    with db_session() as session:
        session.add(
            Refund(
                order_id=order.id,
                provider_payment_id=payment_id,
                amount=event.price,
                reason="admin_refund",
                idempotency_key=f"test-{uuid.uuid4()}",
                ticket_ids=[named.id],
            )
        )
    payments().refund(payment_id, event.price, idempotency_key=f"test-{uuid.uuid4()}")

    answer = post_notification(payment_id)

    assert answer.json()["action"] == "partially_refunded"
    row = order_row(order.id)
    assert (row["status"], row["refunded_amount"]) == ("partially_refunded", event.price)
    statuses = {ticket.id: ticket.status for ticket in tickets_of(order.id)}
    assert statuses[named.id] == "cancelled"
    assert [statuses[ticket.id] for ticket in kept] == ["issued", "issued"]


def test_out_of_order_and_stale_notifications_change_nothing(buyer: Identity) -> None:
    from datetime import UTC, datetime

    from crowdify.adapters.mercadopago_client import Payment as MercadoPagoPayment
    from crowdify.domain.order_payments import apply_payment
    from crowdify.persistence.sessions import db_session

    order = create_pending_order(create_event(), buyer.user_id)

    def payment(status: str, refunded: Decimal = Decimal(0)) -> MercadoPagoPayment:
        return MercadoPagoPayment(
            id="5550001",
            status=status,
            status_detail=None,
            external_reference=str(order.id),
            transaction_amount=order.total,
            currency_id="CLP",
            date_approved=datetime.now(UTC) if status != "pending" else None,
            transaction_amount_refunded=refunded,
        )

    def apply(status: str, refunded: Decimal = Decimal(0)) -> str:
        with db_session() as session:
            return apply_payment(session, payment(status, refunded)).action

    assert apply("approved") == "completed"
    assert apply("pending") == "stale"
    assert (order_row(order.id)["status"], payment_row("5550001").status) == ("completed", "approved")
    assert apply("refunded", order.total) == "refunded"
    # An approval or a partial refund fetched before the full refund arrives after it.
    assert apply("approved") == "stale"
    assert apply("approved", Decimal(1)) == "stale"
    assert order_row(order.id)["status"] == "refunded"
    assert payment_row("5550001").status == "refunded"
    assert count(OutboxMessage) == 1
    assert len(tickets_of(order.id)) == 2


def test_a_late_payment_on_an_expired_order_completes_it_when_the_seats_are_free(
    buyer: Identity, mercadopago, aws_resources
) -> None:
    from datetime import UTC, datetime, timedelta

    event = create_event(capacity=10)
    order = create_pending_order(
        event, buyer.user_id, attendees=2, status="expired", hold_expires_at=datetime.now(UTC) - timedelta(minutes=5)
    )
    payment_id = create_payment(mercadopago, order.id, order.total)

    answer = post_notification(payment_id)

    assert answer.json()["action"] == "completed"
    assert order_row(order.id)["status"] == "completed"
    assert len(tickets_of(order.id)) == 2
    assert len(aws_resources.received_messages()) == 1
    with engine().connect() as connection:
        claimed = connection.execute(text("SELECT seats_claimed FROM events WHERE id = :id"), {"id": event.id})
        assert claimed.scalar_one() == 2


def test_a_late_payment_when_the_seats_are_gone_is_refunded_and_recorded(
    buyer: Identity, other_buyer: Identity, mercadopago, aws_resources
) -> None:
    from datetime import UTC, datetime, timedelta

    event = create_event(capacity=2)
    late = create_pending_order(
        event, buyer.user_id, attendees=2, status="expired", hold_expires_at=datetime.now(UTC) - timedelta(minutes=5)
    )
    create_pending_order(event, other_buyer.user_id, attendees=2)  # holds the last two seats
    payment_id = create_payment(mercadopago, late.id, late.total)

    answer = post_notification(payment_id)

    assert answer.status == 200
    assert answer.json()["action"] == "late_payment_no_capacity"
    assert order_row(late.id)["status"] == "expired"
    assert tickets_of(late.id) == []
    assert aws_resources.received_messages() == []
    refunded = fetch_payment(mercadopago, payment_id)
    assert refunded["status"] == "refunded"
    refund = _refund_of(payment_id)
    assert (refund.reason, refund.provider_refund_id, refund.order_id) == (
        "late_payment_no_capacity",
        str(refunded["refunds"][0]["id"]),
        late.id,
    )
    assert refund.amount == late.total
    assert payment_row(payment_id).problem == "late_payment_no_capacity"


def test_a_payment_past_the_hold_of_a_still_pending_order_is_checked_against_capacity(
    buyer: Identity, other_buyer: Identity, mercadopago
) -> None:
    from datetime import UTC, datetime, timedelta

    event = create_event(capacity=2)
    lapsed = create_pending_order(
        event, buyer.user_id, attendees=2, hold_expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    create_pending_order(event, other_buyer.user_id, attendees=2)
    payment_id = create_payment(mercadopago, lapsed.id, lapsed.total)

    assert post_notification(payment_id).json()["action"] == "late_payment_no_capacity"
    assert order_row(lapsed.id)["status"] == "pending"


def test_concurrent_applications_of_one_approval_issue_one_set_of_tickets(buyer: Identity, aws_resources) -> None:
    """The domain alone, so every thread reaches the database at once (no HTTP call to spread them out)."""
    from datetime import UTC, datetime

    from crowdify.adapters.mercadopago_client import Payment as MercadoPagoPayment
    from crowdify.domain.order_payments import apply_payment
    from crowdify.persistence.sessions import db_session

    order = create_pending_order(create_event(), buyer.user_id, attendees=3)
    payment = MercadoPagoPayment(
        id="7770001",
        status="approved",
        status_detail="accredited",
        external_reference=str(order.id),
        transaction_amount=order.total,
        currency_id="CLP",
        date_approved=datetime.now(UTC),
        transaction_amount_refunded=Decimal(0),
    )
    barrier = threading.Barrier(4)
    actions: list[str] = []
    errors: list[BaseException] = []

    def apply() -> None:
        try:
            with db_session() as session:
                barrier.wait()
                actions.append(apply_payment(session, payment).action)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=apply) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(actions) == ["already_applied"] * 3 + ["completed"]
    assert len(tickets_of(order.id)) == 3
    assert count(OutboxMessage) == 1


def test_a_payment_for_an_event_cancelled_meanwhile_is_refunded_and_issues_nothing(
    buyer: Identity, mercadopago, aws_resources
) -> None:
    event = create_event()
    order = create_pending_order(event, buyer.user_id, attendees=2)
    with engine().begin() as connection:
        connection.execute(text("UPDATE events SET status = 'cancelled' WHERE id = :id"), {"id": event.id})
    payment_id = create_payment(mercadopago, order.id, order.total)

    answer = post_notification(payment_id)

    assert answer.status == 200 and answer.json()["action"] == "event_cancelled"
    assert order_row(order.id)["status"] == "pending"
    assert tickets_of(order.id) == []
    assert aws_resources.received_messages() == []
    assert fetch_payment(mercadopago, payment_id)["status"] == "refunded"
    assert _refund_of(payment_id).reason == "event_cancelled"
