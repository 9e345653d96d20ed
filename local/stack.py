"""`make run`: the whole of Crowdify on this machine (docs/architecture.md, "The local stack").

Postgres (DATABASE_URL, or embedded in .local/), migrations, moto (S3, SQS, DynamoDB), the
MercadoPago and SendGrid emulators, the gateway serving template.yaml, one SQS poller per
queue-triggered function and the scheduled functions. `.local/stack.json` appears only once all
of it is up, and disappears when the stack stops. Ctrl-C (or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from local.gateway import Gateway
from local.lambda_runtime import DEFAULT_CONCURRENCY
from local.sam_template import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    QueueDefinition,
    SamTemplate,
    ScheduleTrigger,
    SqsTrigger,
)
from local.state import (
    TEMPLATE_PATH,
    load_or_create_secrets,
    local_directory,
    stack_file,
    use_shared_layer,
    write_json_atomically,
)

logger = logging.getLogger("local.stack")

HOST = "127.0.0.1"
DEFAULT_PORTS = {
    "GATEWAY_PORT": 3000,
    "MERCADOPAGO_EMULATOR_PORT": 3001,
    "SENDGRID_EMULATOR_PORT": 3002,
    "MOTO_PORT": 5000,
}
LOCAL_DATABASE_NAME = "crowdify"
TICKETS_BUCKET = "crowdify-tickets"
MAX_RECEIVE_COUNT = 5
# SQS's own default, for a queue whose template entry names none.
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30
# PAID_ORDERS_QUEUE_URL's queue (crowdify-paid-orders, -dlq) exists even before the template declares it.
PAID_ORDERS_QUEUE = "PaidOrdersQueue"
CONTRACT_QUEUES = {
    PAID_ORDERS_QUEUE: QueueDefinition(PAID_ORDERS_QUEUE, None, None, "PaidOrdersDeadLetterQueue", MAX_RECEIVE_COUNT),
    "PaidOrdersDeadLetterQueue": QueueDefinition("PaidOrdersDeadLetterQueue", None, None, None, None),
}
DEFAULT_SCHEDULE_SECONDS = 5.0
DEFAULT_CORS_ORIGINS = "http://localhost:5173,http://127.0.0.1:5173"
# Passed on to the functions when set: how they reach DATABASE_URL (README, "Configuration").
DATABASE_CONNECTION_SETTINGS = ("DATABASE_BEHIND_POOLER", "DATABASE_NULL_POOL", "DATABASE_CONNECTION_PER_TRANSACTION")
# Short enough that Ctrl-C stops a poller quickly, long enough not to spin.
POLL_WAIT_SECONDS = 1


class StackStartError(RuntimeError):
    pass


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # moto's web server logs every request, and the pollers ask every second.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # SIGINT too: a shell that starts the stack in the background hands it SIGINT ignored.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    directory = local_directory()
    stack_file(directory).unlink(missing_ok=True)
    outbox = directory / "outbox"
    shutil.rmtree(outbox, ignore_errors=True)
    outbox.mkdir(parents=True)

    started = time.monotonic()
    with ExitStack() as parts:
        # Whatever happens below (failure, Ctrl-C half way through start-up), the parts started so far stop.
        parts.callback(stack_file(directory).unlink, missing_ok=True)
        try:
            addresses = start_stack(directory, parts)
            write_json_atomically(stack_file(directory), addresses)
            logger.info("Up in %.1f s", time.monotonic() - started)
            _print_addresses(addresses, directory)
            while True:
                signal.pause()
        except KeyboardInterrupt:
            logger.info("Stopping the local stack")
        except StackStartError as error:
            logger.error("The local stack could not start: %s", error)
            return 1
        except Exception as error:
            logger.exception("The local stack could not start: %s", error)
            return 1
        finally:
            # A second Ctrl-C must not cut the shutdown short and leave Postgres running.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return 0


def start_stack(directory: Path, parts: ExitStack) -> dict[str, str]:
    """Start every part, registering each one's stop with `parts`; returns stack.json's content."""
    for variable in DEFAULT_PORTS:
        # Before anything starts: ThreadedMotoServer, for one, waits forever for a server that failed to bind.
        if _port(variable):
            _ensure_port_is_free(_port(variable), variable)
    use_shared_layer()
    secrets = load_or_create_secrets(directory)
    database_url = _start_database(directory, parts)
    _migrate(database_url)

    moto_url = _start_moto(parts)
    queue_urls = _create_aws_resources(moto_url, SamTemplate.read(TEMPLATE_PATH))

    from local.mercadopago_emulator import MercadoPagoEmulator
    from local.sendgrid_emulator import SendGridEmulator

    mercadopago = MercadoPagoEmulator(
        host=HOST,
        port=_port("MERCADOPAGO_EMULATOR_PORT"),
        access_token=secrets["MERCADOPAGO_ACCESS_TOKEN"],
        webhook_secret=secrets["MERCADOPAGO_WEBHOOK_SECRET"],
        # Kept beside the database that holds the payment ids, so a restarted stack still knows its payments.
        state_dir=directory / "mercadopago",
    ).start()
    parts.callback(mercadopago.stop)
    sendgrid = SendGridEmulator(
        host=HOST,
        port=_port("SENDGRID_EMULATOR_PORT"),
        api_key=secrets["SENDGRID_API_KEY"],
        outbox_dir=directory / "outbox",
    ).start()
    parts.callback(sendgrid.stop)

    # The gateway's own address is in its functions' environment, so a free port is chosen before it starts.
    gateway_port = _port("GATEWAY_PORT") or _free_port()
    gateway_url = f"http://{HOST}:{gateway_port}"
    cors_origins = os.environ.get("CORS_ORIGINS", DEFAULT_CORS_ORIGINS)
    environment = {
        **secrets,
        "DATABASE_URL": database_url,
        "DATABASE_POOL_SIZE": "8",
        # Whether DATABASE_URL is a transaction-mode pooler (the tests' PgBouncer run) is the caller's to say.
        **{name: os.environ[name] for name in DATABASE_CONNECTION_SETTINGS if name in os.environ},
        "MERCADOPAGO_API_BASE_URL": mercadopago.url,
        "SENDGRID_API_BASE_URL": sendgrid.url,
        "PUBLIC_BASE_URL": gateway_url,
        "FRONTEND_BASE_URL": frontend_base_url(gateway_url),
        "CORS_ORIGINS": cors_origins,
        "TICKETS_BUCKET": TICKETS_BUCKET,
        "PAID_ORDERS_QUEUE_URL": queue_urls[PAID_ORDERS_QUEUE],
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "POWERTOOLS_METRICS_NAMESPACE": "Crowdify",
        "POWERTOOLS_SERVICE_NAME": "crowdify",
        # X-Ray has no daemon here.
        "POWERTOOLS_TRACE_DISABLED": "1",
        "STAGE": "local",
    }
    gateway = Gateway(
        TEMPLATE_PATH,
        host=HOST,
        port=gateway_port,
        environment=environment,
        parameter_overrides={"CorsOrigins": cors_origins},
        concurrency=int(os.environ.get("CROWDIFY_LOCAL_CONCURRENCY") or DEFAULT_CONCURRENCY),
    ).start()
    parts.callback(gateway.stop)

    stop_workers = threading.Event()
    workers: list[threading.Thread] = []
    parts.callback(_stop_workers, stop_workers, workers)
    sqs = _aws_client("sqs", moto_url)
    for trigger in gateway.sqs_triggers():
        poller = SqsPoller(gateway, trigger, sqs, queue_urls[trigger.queue_resource], stop_workers)
        workers.append(threading.Thread(target=poller.run, name=f"poller-{trigger.function.logical_id}", daemon=True))
    interval = float(os.environ.get("CROWDIFY_SCHEDULE_SECONDS") or DEFAULT_SCHEDULE_SECONDS)
    for schedule in gateway.schedule_triggers():
        # The first run happens now, so a broken job shows in the log before the URLs are printed.
        run_scheduled(gateway, schedule)
        workers.append(
            threading.Thread(
                target=_run_on_schedule,
                args=(gateway, schedule, interval, stop_workers),
                name=f"schedule-{schedule.function.logical_id}",
                daemon=True,
            )
        )
    for worker in workers:
        worker.start()

    return {
        "gateway": gateway.url,
        "mercadopago": mercadopago.url,
        "sendgrid": sendgrid.url,
        "moto": moto_url,
        "database_url": database_url,
    }


def frontend_base_url(gateway_url: str) -> str:
    """FRONTEND_BASE_URL when set (a web client is running), else the stack's own order page: MercadoPago's back
    URLs and a free order's link ({base}/purchase/{outcome}?order_id=…) then land on a page that exists."""
    return os.environ.get("FRONTEND_BASE_URL") or f"{gateway_url}/local"


def _start_database(directory: Path, parts: ExitStack) -> str:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        logger.info("Using the database at DATABASE_URL")
        return configured
    from local.postgres import EmbeddedPostgres, create_database

    postgres = EmbeddedPostgres(directory / "postgres", port=int(os.environ.get("CROWDIFY_POSTGRES_PORT") or 0))
    # Registered before starting: an interrupt during start-up must not leave a server behind.
    parts.callback(postgres.stop)
    server_url = postgres.start()
    return create_database(server_url, LOCAL_DATABASE_NAME, exist_ok=True)


def _migrate(database_url: str) -> None:
    from crowdify.persistence.migrations import upgrade_to_head

    started = time.monotonic()
    upgrade_to_head(database_url)
    logger.info("Migrations applied in %.1f s", time.monotonic() - started)


def _start_moto(parts: ExitStack) -> str:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=HOST, port=_port("MOTO_PORT"), verbose=False)
    server.start()
    parts.callback(server.stop)
    host, bound_port = server.get_host_and_port()
    return f"http://{host}:{bound_port}"


def _create_aws_resources(moto_url: str, template: SamTemplate) -> dict[str, str]:
    """The tickets bucket and every queue of the template, under local names; returns queue URLs by logical id."""
    _aws_client("s3", moto_url).create_bucket(Bucket=TICKETS_BUCKET)
    sqs = _aws_client("sqs", moto_url)
    definitions = {**CONTRACT_QUEUES, **template.queues}
    names = local_queue_names(definitions)
    urls: dict[str, str] = {}
    # Dead-letter queues first: the queues that redrive to them need their ARNs.
    for definition in sorted(definitions.values(), key=lambda queue: queue.dead_letter_queue is not None):
        attributes = {
            "VisibilityTimeout": os.environ.get("CROWDIFY_SQS_VISIBILITY_SECONDS")
            or str(definition.visibility_timeout_seconds or DEFAULT_VISIBILITY_TIMEOUT_SECONDS)
        }
        if definition.message_retention_seconds:
            attributes["MessageRetentionPeriod"] = str(definition.message_retention_seconds)
        if definition.dead_letter_queue:
            dead_letter_arn = sqs.get_queue_attributes(
                QueueUrl=urls[definition.dead_letter_queue], AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": dead_letter_arn,
                    "maxReceiveCount": str(definition.max_receive_count or MAX_RECEIVE_COUNT),
                }
            )
        urls[definition.logical_id] = sqs.create_queue(QueueName=names[definition.logical_id], Attributes=attributes)[
            "QueueUrl"
        ]
    return urls


def local_queue_names(definitions: dict[str, QueueDefinition]) -> dict[str, str]:
    """PaidOrdersQueue -> crowdify-paid-orders, and the queue it redrives to -> crowdify-paid-orders-dlq."""
    names = {}
    for logical_id in definitions:
        words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", logical_id.removesuffix("Queue"))
        names[logical_id] = "crowdify-" + "-".join(word.lower() for word in words)
    for definition in definitions.values():
        if definition.dead_letter_queue:
            names[definition.dead_letter_queue] = f"{names[definition.logical_id]}-dlq"
    return names


class SqsPoller:
    """Drives one SQS-triggered function the way Lambda's event source mapping does."""

    def __init__(self, gateway: Gateway, trigger: SqsTrigger, sqs: Any, queue_url: str, stop: threading.Event) -> None:
        self.gateway = gateway
        self.trigger = trigger
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.stop = stop

    def run(self) -> None:
        logger.info("Polling %s for %s", self.queue_url, self.trigger.function.logical_id)
        while not self.stop.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("Polling %s failed", self.queue_url)
                self.stop.wait(1)

    def poll_once(self) -> None:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.trigger.batch_size, 10),
            WaitTimeSeconds=POLL_WAIT_SECONDS,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return
        event = {"Records": [self._record(message) for message in messages]}
        try:
            result = self.gateway.invoke(self.trigger.function.logical_id, event)
        except Exception:
            # As in Lambda: the whole batch becomes visible again after the visibility timeout.
            logger.exception("%s failed on a batch of %d", self.trigger.function.logical_id, len(messages))
            return
        failed = self._failed_message_ids(result, messages)
        done = [message for message in messages if message["MessageId"] not in failed]
        if failed:
            logger.warning("%s reported %d failed messages", self.trigger.function.logical_id, len(failed))
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(done)
                ],
            )

    def _failed_message_ids(self, result: Any, messages: list[dict[str, Any]]) -> set[str]:
        if not self.trigger.reports_batch_item_failures or not isinstance(result, dict):
            return set()
        failures = result.get("batchItemFailures") or []
        identifiers = {failure.get("itemIdentifier") for failure in failures if isinstance(failure, dict)}
        known = {message["MessageId"] for message in messages}
        if not identifiers <= known:
            # Lambda treats an unknown or missing itemIdentifier as a failure of the whole batch.
            return known
        return identifiers  # type: ignore[return-value]

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": LOCAL_REGION,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda spells SQS message attributes in camel case and sends binary values in base64.
    attribute: dict[str, Any] = {
        "dataType": value["DataType"],
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def scheduled_event(schedule: ScheduleTrigger) -> Any:
    """What EventBridge sends on a schedule: the rule's Input if it has one, else a Scheduled Event."""
    if schedule.input is not None:
        return json.loads(schedule.input)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:rule/{schedule.function.function_name}"],
        "detail": {},
    }


def run_scheduled(gateway: Gateway, schedule: ScheduleTrigger) -> None:
    try:
        gateway.invoke(schedule.function.logical_id, scheduled_event(schedule))
    except Exception:
        logger.exception("Scheduled run of %s failed", schedule.function.logical_id)


def _run_on_schedule(gateway: Gateway, schedule: ScheduleTrigger, interval: float, stop: threading.Event) -> None:
    logger.info("Running %s every %.0f s (%s in AWS)", schedule.function.logical_id, interval, schedule.expression)
    while not stop.wait(interval):
        run_scheduled(gateway, schedule)


def _stop_workers(stop: threading.Event, workers: list[threading.Thread]) -> None:
    stop.set()
    for worker in workers:
        worker.join(timeout=30)


def _aws_client(service: str, moto_url: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=moto_url,
        region_name=LOCAL_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _port(variable: str) -> int:
    """The port from the environment variable (0 picks a free one), else its default."""
    configured = os.environ.get(variable)
    return int(configured) if configured not in (None, "") else DEFAULT_PORTS[variable]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _ensure_port_is_free(port: int, variable: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise StackStartError(f"Port {port} is in use ({error}); set {variable} to another port, or 0") from None


def _interrupt(signal_number: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _print_addresses(addresses: dict[str, str], directory: Path) -> None:
    width = max(len(name) for name in addresses)
    lines = [f"  {name.ljust(width)}  {value}" for name, value in addresses.items()]
    print(
        "\nCrowdify local stack is up:\n"
        + "\n".join(lines)
        + f"\n  {'outbox'.ljust(width)}  {directory / 'outbox'}"
        + "\n\nA token: make token ROLE=admin. Ctrl-C stops everything.\n",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
