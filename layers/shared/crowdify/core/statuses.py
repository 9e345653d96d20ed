"""Status and role strings (contract: clients and tests outside the code base compare them)."""

ROLES = ("user", "scanner", "coordinator", "admin")

EVENT_STATUSES = ("draft", "published", "cancelled")

ORDER_PENDING = "pending"
ORDER_COMPLETED = "completed"
ORDER_CANCELLED = "cancelled"
ORDER_EXPIRED = "expired"
ORDER_REFUNDED = "refunded"
ORDER_PARTIALLY_REFUNDED = "partially_refunded"
ORDER_CHARGED_BACK = "charged_back"
ORDER_STATUSES = (
    ORDER_PENDING,
    ORDER_COMPLETED,
    ORDER_CANCELLED,
    ORDER_EXPIRED,
    ORDER_REFUNDED,
    ORDER_PARTIALLY_REFUNDED,
    ORDER_CHARGED_BACK,
)
# Orders whose tickets were issued (and may still be, in part, valid).
PAID_ORDER_STATUSES = (ORDER_COMPLETED, ORDER_PARTIALLY_REFUNDED, ORDER_REFUNDED, ORDER_CHARGED_BACK)
# Paid orders with tickets that may still be valid: they can be refunded, and their tickets emailed (again).
ORDERS_WITH_VALID_TICKETS = (ORDER_COMPLETED, ORDER_PARTIALLY_REFUNDED)

TICKET_ISSUED = "issued"
TICKET_USED = "used"
TICKET_CANCELLED = "cancelled"
TICKET_STATUSES = (TICKET_ISSUED, TICKET_USED, TICKET_CANCELLED)

WAITING = "waiting"
OFFERED = "offered"
BOUGHT = "bought"
OFFER_EXPIRED = "expired"
LEFT = "left"
REMOVED = "removed"
WAITING_LIST_STATUSES = (WAITING, OFFERED, BOUGHT, OFFER_EXPIRED, LEFT, REMOVED)
