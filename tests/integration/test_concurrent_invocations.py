"""One handler invoked from many threads at once (as the race tests and benchmarks do) answers each invocation from
its own event: Powertools keeps per-invocation state on the resolver, which crowdify.http.api keeps per thread."""

from __future__ import annotations

from tests.support.api_gateway import call
from tests.support.identities import create_identity
from tests.support.orders import create_event, create_pending_order
from tests.support.races import all_at_once

BUYERS = 12
CALLS_EACH = 8


def test_concurrent_invocations_of_one_handler_never_mix_their_callers_or_routes(db: str) -> None:
    event = create_event(capacity=1000)
    buyers = [create_identity("user") for _ in range(BUYERS)]
    orders = {buyer.token: create_pending_order(event, buyer.user_id, attendees=1).id for buyer in buyers}
    tokens = list(orders)

    def ask_for_own_order(index: int) -> list[tuple[int, str]]:
        token = tokens[index]
        answers = []
        for _ in range(CALLS_EACH):
            answer = call(
                "get_purchase_status",
                "GET",
                "/api/v1/purchases/{order_id}/status",
                {"order_id": str(orders[token])},
                token=token,
            )
            answers.append((answer.status, answer.json().get("order_id", answer.body)))
        return answers

    results = dict(zip(tokens, all_at_once(ask_for_own_order, BUYERS), strict=True))

    wrong = [
        (str(orders[token]), answer)
        for token, answers in results.items()
        for answer in answers
        if answer != (200, str(orders[token]))
    ]
    assert wrong == [], f"{len(wrong)} of {BUYERS * CALLS_EACH} answers were another invocation's or failed"
