"""Promo codes: what organisers set, what buyers pay, and that no code is redeemed past its maximum nor reserved
seat sold to the general public, under concurrency (real threads, one connection each, real Postgres).

Purchases go through the real handler or `purchases.purchase` and the MercadoPago emulator (its preferences are
read back to check the prices MercadoPago is asked for).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hold_expiry import expire_overdue_holds
from purchase_schemas import PurchaseRequest
from purchases import purchase

from crowdify.adapters.mercadopago_client import payments
from crowdify.auth.callers import Caller
from crowdify.config.settings import reset_settings
from crowdify.core.errors import Conflict, PromoCodeExhausted
from crowdify.domain.vouchers import (
    CODE_ALPHABET,
    GENERATED_CODE_LENGTH,
    IssuedCode,
    issue_personal_code,
    return_lapsed_reservations,
    withdraw_code,
)
from crowdify.persistence.database import transaction
from crowdify.persistence.sessions import db_session
from local.mercadopago_emulator import MercadoPagoEmulator
from tests.support.api_gateway import HttpResponse, call
from tests.support.identities import Identity, create_identity
from tests.support.mercadopago import emulator_call
from tests.support.paid_orders import create_payment, post_notification
from tests.support.purchases import (
    attendee,
    buy,
    cancel,
    claims_are_exact,
    complete_with_tickets,
    create_event,
    create_ticket_type,
    execute,
    purchase_body,
    scalar,
)
from tests.support.races import all_at_once, connection_pools_of

VOUCHERS = "/api/v1/admin/events/{event_id}/vouchers"
VOUCHER = "/api/v1/admin/events/{event_id}/vouchers/{voucher_id}"


def create_codes(admin: Identity, event_id: str, **body: Any) -> HttpResponse:
    return call("post_admin_event_vouchers", "POST", VOUCHERS, {"event_id": event_id}, body=body, token=admin.token)


def one_code(admin: Identity, event_id: str, **body: Any) -> dict[str, Any]:
    created = create_codes(admin, event_id, **body)
    assert created.status == 201, created.body
    [voucher] = created.json()["vouchers"]
    return voucher


def seats(count: int) -> list[dict[str, Any]]:
    return [attendee(f"Asistente{index} Pérez") for index in range(count)]


def check(event_id: str, code: str) -> HttpResponse:
    return call(
        "get_event_voucher", "GET", "/api/v1/events/{event_id}/vouchers/{code}", {"event_id": event_id, "code": code}
    )


def refund(admin: Identity, order_id: str, reason: str) -> HttpResponse:
    return call(
        "post_admin_order_refund",
        "POST",
        "/api/v1/admin/orders/{order_id}/refund",
        {"order_id": order_id},
        body={"reason": reason},
        token=admin.token,
    )


def redeemed(voucher_id: str) -> int:
    return scalar("SELECT redeemed FROM vouchers WHERE id = :id", id=voucher_id)


@pytest.fixture
def many_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with connection_pools_of(50, monkeypatch):
        yield


def test_a_code_discounts_the_order_and_the_checkout_mercadopago_is_asked_for(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, price=10000)
    voucher = one_code(admin, event["id"], code="verano25", discount_type="percent", value=25, max_redemptions=10)
    assert voucher["code"] == "VERANO25", "codes are case-insensitive, kept in upper case"

    placed = buy(buyer, purchase_body(buyer, event["id"], seats(2), voucher_code="Verano25"))

    assert placed.status == 200, placed.body
    answer = placed.json()
    assert Decimal(str(answer["total"])) == 15000 and Decimal(str(answer["discount"])) == 5000
    order = scalar("SELECT row_to_json(o) FROM orders o WHERE id = :id", id=answer["order_id"])
    assert (Decimal(str(order["total"])), Decimal(str(order["discount_total"])), order["voucher_seats"]) == (
        15000,
        5000,
        2,
    )
    preference_id = answer["payment_link"].rsplit("/", 1)[1]
    status_code, preference = emulator_call(checkout, "GET", f"/_emulator/preferences/{preference_id}")
    assert status_code == 200 and preference["external_reference"] == answer["order_id"]
    assert [(item["quantity"], Decimal(str(item["unit_price"]))) for item in preference["items"]] == [(2, 7500)]
    status = call(
        "get_purchase_status",
        "GET",
        "/api/v1/purchases/{order_id}/status",
        {"order_id": answer["order_id"]},
        token=buyer.token,
    )
    assert Decimal(str(status.json()["discount_total"])) == 5000
    assert redeemed(voucher["id"]) == 2


@pytest.mark.parametrize(
    ("discount_type", "value", "unit_price"),
    [
        ("fixed", 3000, 7000),
        ("fixed", 15000, 0),
        ("set_price", 4000, 4000),
        ("set_price", 12000, 10000),
        ("percent", 100, 0),
        ("percent", 33.33, Decimal("6667.00")),
    ],
)
def test_price_effects_never_go_below_zero_nor_above_the_list_price(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, discount_type: str, value: Any, unit_price: Any
) -> None:
    event = create_event(admin, price=10000, services=[])
    one_code(admin, event["id"], code="EFFECT1", discount_type=discount_type, value=value)

    placed = buy(buyer, purchase_body(buyer, event["id"], voucher_code="effect1"))

    assert placed.status == 200, placed.body
    assert Decimal(str(placed.json()["total"])) == Decimal(str(unit_price))
    if unit_price == 0:
        assert placed.json()["status"] == "completed", "an order the code made free has nothing to pay"


def test_a_code_applies_only_to_its_types_and_a_hidden_type_only_with_a_code_naming_it(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, price=10000, services=[])
    hidden = create_ticket_type(admin, event["id"], name="Preventa socios", price=8000, is_hidden=True)
    public = call("get_event", "GET", "/api/v1/events/{event_id}", {"event_id": event["id"]})
    assert hidden["id"] not in [tt["id"] for tt in public.json()["ticket_types"]], "hidden from the public"
    managed = call("get_event", "GET", "/api/v1/events/{event_id}", {"event_id": event["id"]}, token=admin.token)
    assert hidden["id"] in [tt["id"] for tt in managed.json()["ticket_types"]]
    one_code(admin, event["id"], code="SOCIOS", discount_type="percent", value=0, ticket_type_ids=[hidden["id"]])
    one_code(admin, event["id"], code="TODOS10", discount_type="percent", value=10)
    hidden_seat = [attendee(ticket_type_id=hidden["id"])]

    without = buy(buyer, purchase_body(buyer, event["id"], hidden_seat))
    with_other = buy(buyer, purchase_body(buyer, event["id"], hidden_seat, voucher_code="TODOS10"))
    with_its_code = buy(buyer, purchase_body(buyer, event["id"], hidden_seat, voucher_code="socios"))
    general_with_socios = buy(buyer, purchase_body(buyer, event["id"], voucher_code="socios"))

    assert without.status == 422 and with_other.status == 422, (without.body, with_other.body)
    assert with_its_code.status == 200 and Decimal(str(with_its_code.json()["total"])) == 8000
    assert general_with_socios.status == 422
    assert general_with_socios.json()["detail"] == "This promo code does not apply to the tickets chosen"


def test_unknown_expired_inactive_and_used_up_codes_look_alike(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, services=[])
    live = one_code(admin, event["id"], code="LIVE1", discount_type="fixed", value=1000, valid_until="2031-01-01T00:00")
    expired = one_code(admin, event["id"], code="OLD1", discount_type="fixed", value=1000, valid_until="2020-01-01")
    one_code(admin, event["id"], code="USED1", discount_type="fixed", value=1000, max_redemptions=1)
    assert buy(buyer, purchase_body(buyer, event["id"], voucher_code="USED1")).status == 200
    gone = one_code(admin, event["id"], code="GONE1", discount_type="fixed", value=1000)
    deleted = call(
        "delete_admin_event_voucher",
        "DELETE",
        VOUCHER,
        {"event_id": event["id"], "voucher_id": gone["id"]},
        token=admin.token,
    )
    assert deleted.status == 200 and deleted.json()["is_active"] is False

    answer = check(event["id"], "live1")
    assert answer.status == 200, answer.body
    assert set(answer.json()) == {"valid", "code", "discount_type", "value", "ticket_type_ids", "valid_until"}
    assert answer.json()["valid"] is True and answer.json()["code"] == "LIVE1"
    refusals = [check(event["id"], code) for code in ("NOPE99", "OLD1", "GONE1", "USED1", "x" * 41)]
    assert {(r.status, r.body) for r in refusals} == {(404, '{"detail":"Promo code not found"}')}
    assert expired["valid_until"].startswith("2020-01-01T00:00:00-03:00"), "naive times are the event's"
    bought = buy(buyer, purchase_body(buyer, event["id"], voucher_code="OLD1"))
    assert bought.status == 422 and bought.json()["detail"] == "This promo code is not valid for this event"
    assert live["redeemed"] == 0


def test_fifty_buyers_racing_for_a_code_with_five_redemptions_redeem_exactly_five(
    checkout: MercadoPagoEmulator, admin: Identity, many_connections: None
) -> None:
    event = create_event(admin, capacity_total=100, services=[])
    voucher = one_code(admin, event["id"], code="FLASH5", discount_type="percent", value=50, max_redemptions=5)
    buyers = [create_identity("user") for _ in range(50)]

    def attempt(index: int) -> str:
        buyer = buyers[index]
        request = PurchaseRequest.model_validate(purchase_body(buyer, event["id"], voucher_code="FLASH5"))
        try:
            purchase(Caller(id=buyer.user_id, role="user", email=buyer.email), request, None, "http://127.0.0.1")
        except PromoCodeExhausted:
            return "exhausted"
        return "placed"

    outcomes = all_at_once(attempt, 50)

    assert outcomes.count("placed") == 5 and outcomes.count("exhausted") == 45
    assert redeemed(voucher["id"]) == 5
    assert scalar("SELECT sum(voucher_seats) FROM orders WHERE voucher_id = :id", id=voucher["id"]) == 5
    assert claims_are_exact(event["id"])


def test_forty_general_buyers_stop_at_capacity_minus_the_ten_seats_a_code_reserves(
    checkout: MercadoPagoEmulator, admin: Identity, many_connections: None
) -> None:
    event = create_event(admin, capacity_total=30, services=[])
    voucher = one_code(
        admin, event["id"], code="PRENSA", discount_type="percent", value=100, max_redemptions=10, reserve_seats=True
    )
    assert voucher["seats_reserved"] == 10
    listed = call("get_event", "GET", "/api/v1/events/{event_id}", {"event_id": event["id"]})
    assert listed.json()["capacity_available"] == 20, "reserved seats are not on sale"
    buyers = [create_identity("user") for _ in range(40)]

    def attempt(index: int) -> int:
        buyer = buyers[index]
        return buy(buyer, purchase_body(buyer, event["id"])).status

    statuses = all_at_once(attempt, 40)

    assert statuses.count(200) == 20 and statuses.count(409) == 20, statuses
    press = create_identity("user")
    with_code = buy(press, purchase_body(press, event["id"], seats(10), voucher_code="prensa"))
    assert with_code.status == 200, "the code still has its ten seats"
    assert scalar("SELECT seats_reserved FROM vouchers WHERE id = :id", id=voucher["id"]) == 0
    assert claims_are_exact(event["id"])


def test_a_code_cannot_reserve_seats_that_are_not_free(admin: Identity) -> None:
    event = create_event(admin, capacity_total=10, services=[])
    one_code(admin, event["id"], code="HALF", discount_type="percent", value=10, max_redemptions=6, reserve_seats=True)

    refused = create_codes(
        admin, event["id"], code="MORE", discount_type="percent", value=10, max_redemptions=5, reserve_seats=True
    )

    assert refused.status == 409, refused.body
    assert scalar("SELECT seats_claimed FROM events WHERE id = :id", id=event["id"]) == 6


@pytest.mark.usefixtures("aws_resources")
def test_a_cancelled_or_expired_hold_gives_its_redemptions_back_and_a_refund_does_not(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, capacity_total=20, services=[])
    voucher = one_code(
        admin, event["id"], code="BACK3", discount_type="fixed", value=500, max_redemptions=3, reserve_seats=True
    )
    cancelled = buy(buyer, purchase_body(buyer, event["id"], seats(2), voucher_code="BACK3")).json()["order_id"]
    claimed = scalar("SELECT seats_claimed FROM events WHERE id = :id", id=event["id"])
    assert (redeemed(voucher["id"]), claimed) == (2, 3), "two held plus one still reserved"
    cancel(buyer, cancelled)
    assert redeemed(voucher["id"]) == 0
    assert scalar("SELECT seats_reserved FROM vouchers WHERE id = :id", id=voucher["id"]) == 3, "kept for the code"
    assert claims_are_exact(event["id"])

    overdue = buy(buyer, purchase_body(buyer, event["id"], seats(3), voucher_code="BACK3")).json()["order_id"]
    assert redeemed(voucher["id"]) == 3
    execute("UPDATE orders SET hold_expires_at = now() - interval '1 second' WHERE id = :id", id=overdue)
    assert expire_overdue_holds(payments(), lambda: 60.0).as_dict()["expired"] == 1
    assert redeemed(voucher["id"]) == 0
    assert scalar("SELECT seats_reserved FROM vouchers WHERE id = :id", id=voucher["id"]) == 3
    assert claims_are_exact(event["id"])

    placed = buy(buyer, purchase_body(buyer, event["id"], seats(1), voucher_code="BACK3")).json()
    payment_id = create_payment(checkout, placed["order_id"], placed["total"])
    assert post_notification(payment_id).status == 200
    refunded = refund(admin, placed["order_id"], "no asistirá")
    assert refunded.status == 200 and refunded.json()["status"] == "refunded", refunded.body
    assert redeemed(voucher["id"]) == 1, "a refund keeps its redemption"
    assert scalar("SELECT seats_reserved FROM vouchers WHERE id = :id", id=voucher["id"]) == 2


@pytest.mark.usefixtures("aws_resources")
def test_the_exact_recount_keeps_a_codes_reserved_seats_out_of_general_sale(
    checkout: MercadoPagoEmulator, admin: Identity
) -> None:
    event = create_event(admin, capacity_total=100, services=[])
    vip = create_ticket_type(admin, event["id"], capacity=10)
    one_code(
        admin,
        event["id"],
        code="VIP4",
        discount_type="percent",
        value=0,
        max_redemptions=4,
        ticket_type_ids=[vip["id"]],
        reserve_seats=True,
    )
    first, second, third = (create_identity("user") for _ in range(3))
    vip_seats = [attendee(ticket_type_id=vip["id"]) for _ in range(6)]
    paid = buy(first, purchase_body(first, event["id"], vip_seats)).json()
    assert post_notification(create_payment(checkout, paid["order_id"], paid["total"])).status == 200
    refunded = refund(admin, paid["order_id"], "cambio de planes")
    assert refunded.status == 200, refunded.body

    # The refund leaves the counters high: this purchase fits only after the exact recount.
    assert buy(second, purchase_body(second, event["id"], vip_seats)).status == 200
    assert claims_are_exact(event["id"])
    assert buy(third, purchase_body(third, event["id"], vip_seats[:1])).status == 409, "four are the code's"


def test_an_expired_code_returns_its_reservation_to_sale(admin: Identity) -> None:
    event = create_event(admin, capacity_total=10, services=[])
    voucher = one_code(
        admin, event["id"], code="SOON", discount_type="percent", value=10, max_redemptions=4, reserve_seats=True
    )
    execute("UPDATE vouchers SET valid_until = now() - interval '1 second' WHERE id = :id", id=voucher["id"])

    with transaction() as connection:
        assert return_lapsed_reservations(connection) == 1
    with transaction() as connection:
        assert return_lapsed_reservations(connection) == 0, "once"

    assert scalar("SELECT seats_claimed FROM events WHERE id = :id", id=event["id"]) == 0
    assert claims_are_exact(event["id"])


def test_a_code_per_buyer_maximum_holds_when_one_buyer_races_with_itself(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, many_connections: None
) -> None:
    event = create_event(admin, capacity_total=100, services=[])
    voucher = one_code(
        admin, event["id"], code="UNO1", discount_type="percent", value=10, max_redemptions=50, max_per_buyer=2
    )
    caller = Caller(id=buyer.user_id, role="user", email=buyer.email)

    def attempt(_index: int) -> str:
        request = PurchaseRequest.model_validate(purchase_body(buyer, event["id"], voucher_code="UNO1"))
        try:
            purchase(caller, request, str(uuid.uuid4()), "http://127.0.0.1")
        except Conflict:
            return "refused"
        return "placed"

    with_limit = pytest.MonkeyPatch()
    with_limit.setenv("MAX_PENDING_ORDERS_PER_BUYER", "100")
    reset_settings()
    try:
        outcomes = all_at_once(attempt, 12)
    finally:
        with_limit.undo()
        reset_settings()

    assert outcomes.count("placed") == 2
    assert redeemed(voucher["id"]) == 2


def test_organisers_generate_tagged_codes_list_edit_and_export_them(admin: Identity, checkout: Any) -> None:
    event = create_event(admin, services=[])
    created = create_codes(admin, event["id"], count=25, tag="partners", discount_type="fixed", value=2000)
    assert created.status == 201, created.body
    codes = [voucher["code"] for voucher in created.json()["vouchers"]]
    assert len(set(codes)) == 25
    assert all(len(code) == GENERATED_CODE_LENGTH and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert create_codes(admin, event["id"], code="DUP1", count=2, discount_type="fixed", value=1).status == 422
    one_code(admin, event["id"], code="-SUMA", discount_type="fixed", value=1, tag="=HYPERLINK(1)")
    assert create_codes(admin, event["id"], code="-suma", discount_type="fixed", value=1).status == 409

    first = created.json()["vouchers"][0]
    edited = call(
        "put_admin_event_voucher",
        "PUT",
        VOUCHER,
        {"event_id": event["id"], "voucher_id": first["id"]},
        body={"discount_type": "percent", "value": 15, "max_redemptions": 3, "tag": "partners"},
        token=admin.token,
    )
    assert edited.status == 200 and edited.json()["discount_type"] == "percent", edited.body
    listed = call("get_admin_event_vouchers", "GET", VOUCHERS, {"event_id": event["id"]}, token=admin.token)
    assert len(listed.json()) == 26 and all("redeemed" in voucher for voucher in listed.json())

    exported = call(
        "get_admin_event_vouchers_csv", "GET", VOUCHERS + ".csv", {"event_id": event["id"]}, token=admin.token
    )
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.body)))
    formula = next(row for row in table if "SUMA" in row["code"])
    assert formula["code"] == "'-SUMA" and formula["tag"] == "'=HYPERLINK(1)"


def test_event_stats_show_seats_and_revenue_per_tag(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity
) -> None:
    event = create_event(admin, price=10000, services=[])
    one_code(admin, event["id"], code="PARTNER1", tag="partners", discount_type="fixed", value=2000, max_redemptions=9)
    one_code(admin, event["id"], code="RADIO1", tag="radio", discount_type="percent", value=50, max_redemptions=9)
    for code, count in (("PARTNER1", 2), ("RADIO1", 1)):
        placed = buy(buyer, purchase_body(buyer, event["id"], seats(count), voucher_code=code))
        assert placed.status == 200, placed.body
        complete_with_tickets(placed.json()["order_id"])
    buy(buyer, purchase_body(buyer, event["id"], voucher_code="RADIO1"))  # pending: not revenue yet

    stats = call(
        "get_admin_event_stats",
        "GET",
        "/api/v1/admin/events/{event_id}/stats",
        {"event_id": event["id"]},
        token=admin.token,
    )

    assert stats.status == 200, stats.body
    by_tag = {row["tag"]: row for row in stats.json()["promo_codes_by_tag"]}
    assert (by_tag["partners"]["seats"], Decimal(str(by_tag["partners"]["revenue"]))) == (2, 16000)
    assert (by_tag["radio"]["seats"], Decimal(str(by_tag["radio"]["revenue"]))) == (1, 5000)


def test_bad_voucher_input_is_a_422_naming_the_field(admin: Identity) -> None:
    event = create_event(admin, services=[])
    for body in (
        {"discount_type": "percent", "value": 101},
        {"discount_type": "bogus", "value": 1},
        {"discount_type": "fixed", "value": -1},
        {"discount_type": "fixed", "value": 1, "max_redemptions": 0},
        {"discount_type": "fixed", "value": 1, "code": "no spaces allowed"},
        {"discount_type": "fixed", "value": 1, "ticket_type_ids": [str(uuid.uuid4())]},
        {"discount_type": "fixed", "value": 1, "valid_from": "2030-01-02", "valid_until": "2030-01-01"},
    ):
        answer = create_codes(admin, event["id"], **body)
        assert answer.status == 422, (body, answer.body)


def offer_code(session: Any, event_id: str, person: Identity) -> IssuedCode | None:
    """A waiting-list offer's code for two seats of the event, as the offer round issues it."""
    return issue_personal_code(
        session,
        event_id=uuid.UUID(event_id),
        ticket_type_id=None,
        user_id=person.user_id,
        seats=2,
        valid_until=datetime.now(UTC) + timedelta(hours=24),
        tag="waiting-list",
    )


def test_a_personal_code_reserves_its_seats_for_one_user_until_withdrawn(
    checkout: MercadoPagoEmulator, admin: Identity, buyer: Identity, other_buyer: Identity
) -> None:
    event = create_event(admin, capacity_total=3, services=[])
    with db_session() as session:
        issued = offer_code(session, event["id"], buyer)
        refused = offer_code(session, event["id"], other_buyer)
    assert issued is not None and refused is None, "only one seat was left for the second"
    assert check(event["id"], issued.code).status == 404, "a personal code is not announced"
    someone_else = buy(other_buyer, purchase_body(other_buyer, event["id"], seats(2), voucher_code=issued.code))
    assert someone_else.status == 422
    assert buy(other_buyer, purchase_body(other_buyer, event["id"], seats(2))).status == 409, "its seats are kept"

    with db_session() as session:
        assert withdraw_code(session, issued.voucher_id) == 2
    with db_session() as session:
        assert withdraw_code(session, issued.voucher_id) == 0
    assert buy(other_buyer, purchase_body(other_buyer, event["id"], seats(2))).status == 200
    assert claims_are_exact(event["id"])


def test_personal_codes_racing_for_the_last_seats_never_oversell_and_a_raced_withdrawal_returns_them_once(
    admin: Identity, many_connections: None
) -> None:
    event = create_event(admin, capacity_total=10, services=[])
    users = [create_identity("user") for _ in range(12)]

    def issue(index: int) -> uuid.UUID | None:
        with db_session() as session:
            issued = issue_personal_code(
                session,
                event_id=uuid.UUID(event["id"]),
                ticket_type_id=None,
                user_id=users[index].user_id,
                seats=2,
                valid_until=datetime.now(UTC) + timedelta(hours=1),
                tag="waiting-list",
            )
        return issued.voucher_id if issued else None

    issued = [voucher_id for voucher_id in all_at_once(issue, 12) if voucher_id is not None]

    assert len(issued) == 5, "ten seats, two per code"
    assert scalar("SELECT seats_claimed FROM events WHERE id = :id", id=event["id"]) == 10
    assert claims_are_exact(event["id"])

    def withdraw(_index: int) -> int:
        with db_session() as session:
            return withdraw_code(session, issued[0])

    assert sorted(all_at_once(withdraw, 8)) == [0] * 7 + [2]
    assert scalar("SELECT seats_claimed FROM events WHERE id = :id", id=event["id"]) == 8
    assert claims_are_exact(event["id"])
