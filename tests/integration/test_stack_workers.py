"""The local stack's SQS poller and scheduler, driving toy functions through the Lambda runtime against moto.

The functions run in worker processes of their own, so they tell the test what they received through a
journal file (one JSON line per invocation) named in their environment.
"""

from __future__ import annotations

import json
import os
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.gateway import Gateway
from local.sam_template import QueueDefinition
from local.stack import SqsPoller, local_queue_names, run_scheduled

TOY_TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  ToyOrdersQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 360
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt ToyOrdersDeadLetterQueue.Arn
        maxReceiveCount: 5
  ToyOrdersDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  ConsumerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/toy
      Handler: toy_stack_consumer.consume
      Events:
        Orders:
          Type: SQS
          Properties:
            Queue: !GetAtt ToyOrdersQueue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
  SweepFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/toy
      Handler: toy_stack_consumer.sweep
      Events:
        Every:
          Type: Schedule
          Properties:
            Schedule: rate(1 minute)
"""

TOY_HANDLERS = """
import json
import os


def record(kind, event):
    with open(os.environ["TOY_JOURNAL"], "a") as journal:
        journal.write(json.dumps({"kind": kind, "pid": os.getpid(), "event": event}) + "\\n")


def consume(event, context):
    record("consume", event)
    bodies = [record["body"] for record in event["Records"]]
    if "explode" in bodies:
        raise RuntimeError("the whole batch fails")
    return {
        "batchItemFailures": [
            {"itemIdentifier": record["messageId"]} for record in event["Records"] if record["body"] == "fail"
        ]
    }


def sweep(event, context):
    record("sweep", event)
"""

VISIBILITY_SECONDS = 1
MAX_RECEIVE_COUNT = 2


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def journal_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("toy-journal") / "journal.jsonl"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, journal_path: Path) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("toy-workers")
    (root / "functions" / "toy").mkdir(parents=True)
    (root / "template.yaml").write_text(TOY_TEMPLATE)
    (root / "functions" / "toy" / "toy_stack_consumer.py").write_text(textwrap.dedent(TOY_HANDLERS))
    running = Gateway(root / "template.yaml", environment={"TOY_JOURNAL": str(journal_path)}).start()
    yield running
    running.stop()


@pytest.fixture
def sqs(moto_url: str) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def make_queue_pair(sqs: Any, name: str) -> tuple[str, str]:
    dead_letter_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)})
    queue_url = sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS), "RedrivePolicy": redrive}
    )["QueueUrl"]
    return queue_url, dead_letter_url


def bodies_in(sqs: Any, queue_url: str) -> list[str]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return sorted(message["Body"] for message in messages)


def journal(path: Path, kind: str) -> list[dict[str, Any]]:
    """What the toy functions recorded, oldest first: {"kind", "pid", "event"}."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [entry for entry in map(json.loads, lines) if entry["kind"] == kind]


def test_the_poller_deletes_successes_redelivers_reported_failures_and_dead_letters_them(
    gateway: Gateway, sqs: Any, journal_path: Path
) -> None:
    queue_url, dead_letter_url = make_queue_pair(sqs, "toy-partial")
    (trigger,) = gateway.sqs_triggers()
    poller = SqsPoller(gateway, trigger, sqs, queue_url, threading.Event())
    for body in ("ok-1", "fail", "ok-2"):
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "paid-order"}},
        )

    poller.poll_once()
    first_invocation = journal(journal_path, "consume")[-1]
    # Through the runtime: the function ran in its own environment, not in the poller's process.
    assert first_invocation["pid"] in gateway.environments("ConsumerFunction")
    assert first_invocation["pid"] != os.getpid()
    first_batch = first_invocation["event"]["Records"]
    assert sorted(record["body"] for record in first_batch) == ["fail", "ok-1", "ok-2"]
    record = first_batch[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":toy-partial")
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "paid-order"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert record["receiptHandle"] and record["md5OfBody"]

    # Only the reported failure comes back, once its visibility timeout has passed.
    time.sleep(VISIBILITY_SECONDS + 0.2)
    poller.poll_once()
    second_batch = journal(journal_path, "consume")[-1]["event"]["Records"]
    assert [record["body"] for record in second_batch] == ["fail"]
    assert second_batch[0]["attributes"]["ApproximateReceiveCount"] == "2"

    # Past maxReceiveCount, moto's redrive moves it to the dead-letter queue instead of delivering it.
    time.sleep(VISIBILITY_SECONDS + 0.2)
    received_before = len(journal(journal_path, "consume"))
    poller.poll_once()
    assert len(journal(journal_path, "consume")) == received_before
    assert bodies_in(sqs, dead_letter_url) == ["fail"]
    assert bodies_in(sqs, queue_url) == []


def test_a_handler_exception_leaves_the_whole_batch_for_redelivery(gateway: Gateway, sqs: Any) -> None:
    queue_url, _ = make_queue_pair(sqs, "toy-exploding")
    (trigger,) = gateway.sqs_triggers()
    poller = SqsPoller(gateway, trigger, sqs, queue_url, threading.Event())
    for body in ("explode", "ok-3"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    poller.poll_once()
    time.sleep(VISIBILITY_SECONDS + 0.2)

    assert bodies_in(sqs, queue_url) == ["explode", "ok-3"]


def test_a_scheduled_function_gets_an_eventbridge_scheduled_event_in_its_own_environment(
    gateway: Gateway, journal_path: Path
) -> None:
    (schedule,) = gateway.schedule_triggers()

    run_scheduled(gateway, schedule)

    sweep = journal(journal_path, "sweep")[-1]
    assert sweep["pid"] in gateway.environments("SweepFunction")
    assert sweep["pid"] not in gateway.environments("ConsumerFunction")
    assert sweep["pid"] != os.getpid()
    event = sweep["event"]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["detail"] == {}
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:123456789012:rule/")


def test_template_queues_get_local_names_and_a_dead_letter_queue_is_named_after_its_source(
    gateway: Gateway,
) -> None:
    queues = gateway.template.queues
    assert queues["ToyOrdersQueue"] == QueueDefinition("ToyOrdersQueue", 360, None, "ToyOrdersDeadLetterQueue", 5)
    assert queues["ToyOrdersDeadLetterQueue"].message_retention_seconds == 1209600

    assert local_queue_names(queues) == {
        "ToyOrdersQueue": "crowdify-toy-orders",
        "ToyOrdersDeadLetterQueue": "crowdify-toy-orders-dlq",
    }
    assert local_queue_names({"SMSQueue": QueueDefinition("SMSQueue", None, None, None, None)}) == {
        "SMSQueue": "crowdify-sms"
    }
