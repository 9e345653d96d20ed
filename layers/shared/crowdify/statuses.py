"""Status and role strings (contract: clients and tests outside the code base compare them)."""

ROLES = ("user", "scanner", "coordinator", "admin")

EVENT_STATUSES = ("draft", "published", "cancelled")

ORDER_PENDING = "pending"
ORDER_COMPLETED = "completed"
ORDER_STATUSES = (
    ORDER_PENDING,
    ORDER_COMPLETED,
    "cancelled",
    "expired",
    "refunded",
    "partially_refunded",
    "charged_back",
)

TICKET_ISSUED = "issued"
TICKET_USED = "used"
TICKET_CANCELLED = "cancelled"
TICKET_STATUSES = (TICKET_ISSUED, TICKET_USED, TICKET_CANCELLED)
