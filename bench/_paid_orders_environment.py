"""What the webhook and notify benchmarks share: a fresh migrated database, moto over HTTP, the emulators, and the
environment variables the functions read. Not a benchmark itself (the leading underscore keeps `make bench` off it).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
FUNCTION_FOLDERS = ("webhook", "notify")
JWT_SECRET = "bench-jwt-secret-that-is-long-enough-for-hs256"
QR_SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
MERCADOPAGO_ACCESS_TOKEN = "bench-mp-token"
MERCADOPAGO_WEBHOOK_SECRET = "bench-webhook-secret"
SENDGRID_API_KEY = "bench-sendgrid-key"
BUCKET = "crowdify-tickets-bench"
# Not statements in the sense of docs/architecture.md: transaction control and connection checks.
_NOT_A_STATEMENT = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SELECT 1\s*$)", re.IGNORECASE)


@dataclass
class Environment:
    database_url: str
    moto_url: str
    queue_url: str
    mercadopago: Any
    sendgrid: Any


class StatementCounter:
    """Counts SQL statements sent through the shared engine (a `before_cursor_execute` listener)."""

    def __init__(self) -> None:
        from sqlalchemy import event

        from crowdify.persistence.database import engine

        self.count = 0
        event.listen(engine(), "before_cursor_execute", self._seen)

    def _seen(self, _connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not _NOT_A_STATEMENT.match(statement):
            self.count += 1


def use_function_paths() -> None:
    for folder in (REPOSITORY / "layers" / "shared", *(REPOSITORY / "functions" / name for name in FUNCTION_FOLDERS)):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    if str(REPOSITORY) not in sys.path:
        sys.path.insert(0, str(REPOSITORY))


@contextmanager
def paid_orders_environment() -> Iterator[Environment]:
    """Everything up, the functions' environment set; all of it stopped and the database dropped at the end."""
    use_function_paths()
    import logging

    from moto.server import ThreadedMotoServer

    # moto's web server logs every request.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from crowdify.persistence.migrations import upgrade_to_head
    from local import postgres
    from local.mercadopago_emulator import MercadoPagoEmulator
    from local.sendgrid_emulator import SendGridEmulator

    with ExitStack() as stack:
        server_url = postgres.test_server_url()
        name = f"crowdify_bench_{uuid.uuid4().hex[:10]}"
        database_url = postgres.create_database(server_url, name)
        stack.callback(postgres.drop_database, server_url, name)
        upgrade_to_head(database_url)

        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        moto_url = f"http://{host}:{port}"

        mercadopago = MercadoPagoEmulator(
            port=0, access_token=MERCADOPAGO_ACCESS_TOKEN, webhook_secret=MERCADOPAGO_WEBHOOK_SECRET
        ).start()
        stack.callback(mercadopago.stop)
        outbox = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "outbox"
        sendgrid = SendGridEmulator(api_key=SENDGRID_API_KEY, outbox_dir=outbox).start()
        stack.callback(sendgrid.stop)

        environment = {
            "DATABASE_URL": database_url,
            "DATABASE_POOL_SIZE": "2",
            "JWT_SECRET": JWT_SECRET,
            "QR_SECRET": QR_SECRET,
            "PUBLIC_BASE_URL": "http://127.0.0.1:3000",
            "MERCADOPAGO_API_BASE_URL": mercadopago.url,
            "MERCADOPAGO_ACCESS_TOKEN": MERCADOPAGO_ACCESS_TOKEN,
            "MERCADOPAGO_WEBHOOK_SECRET": MERCADOPAGO_WEBHOOK_SECRET,
            "SENDGRID_API_BASE_URL": sendgrid.url,
            "SENDGRID_API_KEY": SENDGRID_API_KEY,
            "TICKETS_BUCKET": BUCKET,
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "crowdify-bench",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        previous = {variable: os.environ.get(variable) for variable in environment}
        os.environ.update(environment)
        stack.callback(_restore, previous)

        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
        queue_url = boto3.client("sqs").create_queue(QueueName="crowdify-paid-orders")["QueueUrl"]
        os.environ["PAID_ORDERS_QUEUE_URL"] = queue_url
        _forget_cached_clients()
        stack.callback(_forget_cached_clients)
        yield Environment(database_url, moto_url, queue_url, mercadopago, sendgrid)


def _forget_cached_clients() -> None:
    from crowdify.adapters import paid_orders_queue, tickets_bucket
    from crowdify.adapters.mercadopago_client import payments
    from crowdify.config.settings import reset_settings
    from crowdify.persistence.database import dispose_engine

    reset_settings()
    dispose_engine()
    payments.cache_clear()
    paid_orders_queue.reset_client()
    tickets_bucket.reset_client()


def _restore(previous: dict[str, str | None]) -> None:
    os.environ.pop("PAID_ORDERS_QUEUE_URL", None)
    for variable, value in previous.items():
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value


def create_buyer() -> uuid.UUID:
    from sqlalchemy import text

    from crowdify.persistence.database import engine

    user_id = uuid.uuid4()
    with engine().begin() as connection:
        connection.execute(
            text("INSERT INTO users (id, email, role) VALUES (:id, :email, 'user')"),
            {"id": user_id, "email": f"bench-{user_id.hex[:8]}@example.test"},
        )
    return user_id
