"""The private tickets bucket on S3: the client set-up, its timeouts and its errors, written once.

notify puts each order's PDF here, the tickets.pdf route presigns a download of it, and /ready probes it. boto3 is
imported on first use only: it is a large part of a cold start, and most functions never reach S3.
AWS_ENDPOINT_URL (the local stack, moto) is honoured by boto3 itself.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from crowdify.config.settings import get_settings
from crowdify.core.errors import DependencyUnavailable

# Storing a PDF: a few seconds to connect, longer to send a large file, retried as AWS recommends.
_TRANSFER_TIMEOUTS = (3.0, 10.0)
_TRANSFER_ATTEMPTS = 3
# A readiness probe must answer quickly: short timeouts and no retry.
_PROBE_TIMEOUTS = (2.0, 3.0)
_PROBE_ATTEMPTS = 1


def store_pdf(key: str, pdf: bytes, filename: str) -> None:
    """Put a PDF under `key`, shown inline as `filename`. S3 failing → DependencyUnavailable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _transfer_client().put_object(
            Bucket=_bucket(),
            Key=key,
            Body=pdf,
            ContentType="application/pdf",
            ContentDisposition=f'inline; filename="{filename}"',
        )
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"S3 is unavailable: {error}") from error


def presigned_download_url(key: str, expires_in_seconds: int) -> str:
    """A URL that downloads the object under `key` until it expires. Signing needs no request to S3, only the
    function's credentials: missing credentials → DependencyUnavailable."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _transfer_client().generate_presigned_url(
            "get_object", Params={"Bucket": _bucket(), "Key": key}, ExpiresIn=expires_in_seconds
        )
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"S3 cannot sign a download: {error}") from error


def check_reachable(bucket: str) -> None:
    """Ask S3 whether `bucket` exists and this function may use it; DependencyUnavailable when not."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _probe_client().head_bucket(Bucket=bucket)
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"S3 bucket {bucket} is unavailable: {error}") from error


def reset_client() -> None:
    """Forget the clients of this warm container (tests point AWS_ENDPOINT_URL elsewhere)."""
    _client.cache_clear()


def _bucket() -> str:
    bucket = get_settings().tickets_bucket
    if not bucket:
        raise DependencyUnavailable("TICKETS_BUCKET is not configured")
    return bucket


def _transfer_client() -> Any:
    return _client(*_TRANSFER_TIMEOUTS, _TRANSFER_ATTEMPTS)


def _probe_client() -> Any:
    return _client(*_PROBE_TIMEOUTS, _PROBE_ATTEMPTS)


@lru_cache(maxsize=2)
def _client(connect_timeout: float, read_timeout: float, total_max_attempts: int) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": total_max_attempts},
        # Presigned URLs must be v4: S3 refuses the older scheme in the regions opened since 2014 and for
        # KMS-encrypted objects.
        signature_version="s3v4",
    )
    # A session of its own: /ready makes its clients in parallel threads, and boto3's shared default session is
    # not safe for that (botocore raises KeyError 'credential_provider').
    return boto3.session.Session().client("s3", config=config)
