"""Domain errors. The API layer maps each class to one HTTP status in one table (crowdify.http.api)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a client can act on. `detail` is what the client shows."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotAuthenticated(DomainError):
    pass


class Forbidden(DomainError):
    pass


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class SoldOut(Conflict):
    pass


class InvalidTransition(Conflict):
    pass


class PromoCodeExhausted(Conflict):
    """A promo code has fewer redemptions left (in all, or for this buyer) than the order needs."""


class PurchaseLimitReached(Conflict):
    """The buyer already holds or owns as much of this event as one buyer may (pending orders, tickets)."""


class Gone(DomainError):
    """What was asked for existed but is no longer valid (a refunded order's tickets): 410."""


class EventCancelled(Conflict):
    """The event was cancelled: it sells nothing more, whatever pays for it."""


class InvalidRequest(DomainError):
    """A request that is well formed but breaks a business rule (422)."""


class UnreadableBody(InvalidRequest):
    """A JSON body this API refuses to read at all: nested deeper than any request it takes (422)."""


class MalformedRequest(DomainError):
    """A request that cannot be read, where the route's contract says 400 rather than 422 (the webhook)."""


class DependencyUnavailable(DomainError):
    """A dependency (database, MercadoPago, SendGrid, AWS) failed; the caller may retry (503)."""
