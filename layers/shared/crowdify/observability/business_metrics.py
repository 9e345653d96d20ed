"""The business figures an operator watches, as CloudWatch embedded metric format (EMF) lines through Powertools.

One line per fact, printed when it happens: Lambda's log agent turns each into a metric, with no API call on the
request path. Every figure is a count or an amount with at most one dimension, so the dashboard in template.yaml
can chart it with a SEARCH over that dimension.
"""

from __future__ import annotations

import os
from decimal import Decimal

from aws_lambda_powertools.metrics import MetricUnit, single_metric

# The template sets POWERTOOLS_METRICS_NAMESPACE for every function; a process without it (a script, the local
# stack's jobs) still emits valid lines under the same name.
DEFAULT_NAMESPACE = "Crowdify"

# How a payment notification's outcome (crowdify.domain.order_payments.PaymentOutcome.action) is counted.
PAYMENT_OUTCOMES = {
    "completed": "applied",
    "amount_mismatch": "mismatched",
    "currency_mismatch": "mismatched",
    "duplicate_payment": "refunded",
    "late_payment_no_capacity": "refunded",
    "order_cancelled": "refunded",
}


def tickets_sold(count: int, revenue: Decimal, currency: str) -> None:
    """An order was completed: its tickets and what the buyer paid, in the event's currency."""
    _emit("TicketsSold", MetricUnit.Count, count, currency=currency)
    _emit("Revenue", MetricUnit.NoUnit, float(revenue), currency=currency)


def hold_refused(reason: str) -> None:
    """A purchase found no seats to hold (`sold_out`) or was refused a hold for another reason."""
    _emit("HoldsRefused", MetricUnit.Count, 1, reason=reason)


def payment_settled(action: str) -> None:
    """A payment MercadoPago told us about was applied, found not to match its order, or refunded automatically."""
    outcome = PAYMENT_OUTCOMES.get(action)
    if outcome is not None:
        _emit("Payments", MetricUnit.Count, 1, outcome=outcome)


def checked_in(verdict: str, count: int = 1) -> None:
    """A door verdict: accepted, already_used, invalid, wrong_event, cancelled, … (the API's own words)."""
    _emit("CheckIns", MetricUnit.Count, count, verdict=verdict)


def email_delivered(sent: bool) -> None:
    _emit("EmailsSent" if sent else "EmailsFailed", MetricUnit.Count, 1)


def outbox_backlog(messages: int) -> None:
    """Paid-order messages still unpublished when the relay looked: above zero for long means SQS is failing us."""
    _emit("OutboxBacklog", MetricUnit.Count, messages)


def _emit(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
    with single_metric(name=name, unit=unit, value=value, namespace=namespace, default_dimensions=dimensions):
        pass
