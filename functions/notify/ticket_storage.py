"""The order's tickets PDF in the private bucket: one object per order under a stable key, overwritten when the
order's tickets change."""

from __future__ import annotations

import uuid

from crowdify.adapters import tickets_bucket


def tickets_pdf_key(order_id: uuid.UUID) -> str:
    """Stable per order: a redelivery or a resend rewrites the same object, and the download route finds it."""
    return f"orders/{order_id}/tickets.pdf"


def store_tickets_pdf(order_id: uuid.UUID, pdf: bytes) -> str:
    """Put the order's PDF in the bucket; returns its key. S3 failing → DependencyUnavailable."""
    key = tickets_pdf_key(order_id)
    tickets_bucket.store_pdf(key, pdf, filename=f"crowdify-{order_id}.pdf")
    return key
