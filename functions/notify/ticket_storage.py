"""The private tickets bucket: one PDF per order under a stable key, overwritten when the order's tickets change."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from crowdify.config.settings import get_settings
from crowdify.core.errors import DependencyUnavailable


def tickets_pdf_key(order_id: uuid.UUID) -> str:
    """Stable per order: a redelivery or a resend rewrites the same object, and the download route finds it."""
    return f"orders/{order_id}/tickets.pdf"


@lru_cache(maxsize=1)
def _s3_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard"}))


def reset_client() -> None:
    """Forget the client of this warm container (tests point AWS_ENDPOINT_URL elsewhere)."""
    _s3_client.cache_clear()


def store_tickets_pdf(order_id: uuid.UUID, pdf: bytes) -> str:
    """Put the order's PDF in the bucket; returns its key. S3 failing → DependencyUnavailable."""
    from botocore.exceptions import BotoCoreError, ClientError

    key = tickets_pdf_key(order_id)
    try:
        _s3_client().put_object(
            Bucket=get_settings().tickets_bucket,
            Key=key,
            Body=pdf,
            ContentType="application/pdf",
            ContentDisposition=f'inline; filename="crowdify-{order_id}.pdf"',
        )
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"S3 is unavailable: {error}") from error
    return key
