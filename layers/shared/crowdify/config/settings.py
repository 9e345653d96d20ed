"""Settings: one Pydantic model read from the environment on first use, never at import time."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field, field_validator

SUPPORTED_CURRENCIES = ("CLP", "ARS", "BRL", "MXN", "COP", "PEN", "UYU")


class Settings(BaseModel):
    database_url: str = ""
    database_pool_size: int = Field(default=1, ge=1)
    # Behind a transaction-mode pooler (Supabase's, RDS Proxy, PgBouncer), which may run each transaction on another
    # server connection: nothing outlives a transaction on a connection (no named prepared statements, no session
    # SET); connections to the pooler are still kept (docs/architecture.md, "Behind a connection pooler").
    # DATABASE_NULL_POOL is its former name.
    database_behind_pooler: bool = False
    # A new connection for every transaction, closed after it: for a pooler whose client connections are scarcer
    # than the functions' warm containers. Slower (docs/architecture.md).
    database_connection_per_transaction: bool = False

    jwt_secret: str = ""
    supabase_url: str = ""
    supabase_jwt_secret: str = ""
    supabase_service_role_key: str = ""
    cors_origins: list[str] = Field(default_factory=list)

    qr_secret: str = ""
    qr_previous_public_keys: list[str] = Field(default_factory=list)

    mercadopago_access_token: str = ""
    mercadopago_webhook_secret: str = ""
    mercadopago_api_base_url: str = "https://api.mercadopago.com"
    mercadopago_timeout_seconds: float = 8.0

    sendgrid_api_key: str = ""
    sendgrid_api_base_url: str = "https://api.sendgrid.com"
    email_from: str = "tickets@crowdify.example"
    email_from_name: str = "Crowdify"
    email_language: str = "es"
    # Empty: the built-in subject and body in email_language. A SendGrid dynamic template id replaces the body.
    email_subject: str = ""
    sendgrid_template_id: str = ""
    sendgrid_timeout_seconds: float = 10.0
    # How long a ticket email's claim keeps other deliveries of the same message away; longer than notify's timeout.
    email_claim_lease_seconds: int = Field(default=120, ge=1)

    public_base_url: str = "http://127.0.0.1:3000"
    frontend_base_url: str = "http://127.0.0.1:5173"
    # The door app's address (pairing links); empty: `{public_base_url}/scan/`, where the local gateway serves it.
    scanner_app_url: str = ""
    tickets_bucket: str = "crowdify-tickets"
    paid_orders_queue_url: str = ""

    hold_minutes: int = Field(default=15, ge=1)
    # Live pending orders one buyer may have on one event: without it, a few unpaid orders hold a whole event.
    max_pending_orders_per_buyer: int = Field(default=2, ge=1)
    # Admitted buyers who have not bought yet that one event's waiting room allows at once: each may send a purchase
    # at any moment (docs/architecture.md, "Flash sales", sizes it).
    waiting_room_max_in_flight: int = Field(default=20_000, ge=1)
    default_currency: str = "CLP"
    default_timezone: str = "America/Santiago"
    stage: str = "local"

    @field_validator("cors_origins", "qr_previous_public_keys", mode="before")
    @classmethod
    def _split_comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


# Former names still read when the new one is not set.
_FORMER_NAMES = {"database_behind_pooler": "DATABASE_NULL_POOL"}


def settings_from_environment(environ: dict[str, str] | None = None) -> Settings:
    source = os.environ if environ is None else environ
    fields = {name: source[name.upper()] for name in Settings.model_fields if name.upper() in source}
    for name, former in _FORMER_NAMES.items():
        if name not in fields and former in source:
            fields[name] = source[former]
    return Settings.model_validate(fields)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_environment()


def reset_settings() -> None:
    """Forget the cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
