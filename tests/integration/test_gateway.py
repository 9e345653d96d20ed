"""The local gateway against a toy template: routing, payload v2 events and responses, limits, CORS."""

from __future__ import annotations

import base64
import http.client
import itertools
import json
import logging
import os
import textwrap
import threading
from collections.abc import Iterator

import pytest
import requests

from local.gateway import MAX_REQUEST_BODY_BYTES, Gateway

ALLOWED_ORIGIN = "http://localhost:5173"

TOY_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  FrontendOrigins:
    Type: CommaDelimitedList
    Default: https://overridden.example
Globals:
  Function:
    Runtime: python3.11
    CodeUri: functions/toy
    Timeout: 5
    MemorySize: 256
    Layers: [!Ref ToyLayer]
  HttpApi:
    CorsConfiguration:
      AllowOrigins: !Ref FrontendOrigins
      AllowMethods: [GET, POST, PUT, DELETE]
      AllowHeaders: [Authorization, Content-Type]
      ExposeHeaders: [X-Request-Id]
      MaxAge: 600
Resources:
  ToyLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/toy
  ToyQueue:
    Type: AWS::SQS::Queue
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_echo.lambda_handler
      FunctionName: !Sub toy-echo-${AWS::Region}
      Events:
        GetItem: {Type: HttpApi, Properties: {Method: GET, Path: "/items/{item_id}"}}
        PostItem: {Type: HttpApi, Properties: {Method: post, Path: "/items/{item_id}"}}
        AnyFile: {Type: HttpApi, Properties: {Method: ANY, Path: "/files/{proxy+}"}}
  SpecialItemFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_echo.plain_value_handler
      Events:
        Special: {Type: HttpApi, Properties: {Method: GET, Path: /items/special}}
  SlowFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_echo.slow_handler
      Events:
        Slow: {Type: HttpApi, Properties: {Method: GET, Path: /slow}}
  SlowTwinFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_echo.slow_handler
      Events:
        SlowTwin: {Type: HttpApi, Properties: {Method: GET, Path: /slow-twin}}
  FailingFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_echo.failing_handler
      Events:
        Boom: {Type: HttpApi, Properties: {Method: GET, Path: /boom}}
  ShapedResponseFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_echo.shaped_response_handler
      Events:
        Shaped: {Type: HttpApi, Properties: {Method: GET, Path: /shaped}}
  ConsumerFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_echo.consumer_handler
      Events:
        Messages:
          Type: SQS
          Properties:
            Queue: !GetAtt ToyQueue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  SweepFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_echo.consumer_handler
      Events:
        EveryMinute: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 minute)}}
"""

TOY_HANDLERS = """
import base64
import json
import time

from toy_gateway_layer import LAYER_GREETING


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({
            "event": event,
            "greeting": LAYER_GREETING,
            "context": {
                "function_name": context.function_name,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "aws_request_id": context.aws_request_id,
                "remaining_ms": context.get_remaining_time_in_millis(),
            },
        }),
    }


def plain_value_handler(event, context):
    return {"special": True}


def slow_handler(event, context):
    started = time.monotonic()
    time.sleep(0.3)
    return {"started": started, "finished": time.monotonic()}


def failing_handler(event, context):
    raise RuntimeError("toy handler failure")


def shaped_response_handler(event, context):
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/octet-stream", "access-control-allow-origin": "http://evil"},
        "multiValueHeaders": {"x-multi": ["one", "two"]},
        "cookies": ["session=abc; HttpOnly", "theme=dark"],
        "body": base64.b64encode(b"\\x00\\xffbinary").decode(),
        "isBase64Encoded": True,
    }


def consumer_handler(event, context):
    return {"received": event}
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("toy-project")
    (root / "functions" / "toy").mkdir(parents=True)
    (root / "layers" / "toy").mkdir(parents=True)
    (root / "template.yaml").write_text(TOY_TEMPLATE)
    (root / "functions" / "toy" / "toy_gateway_echo.py").write_text(textwrap.dedent(TOY_HANDLERS))
    (root / "layers" / "toy" / "toy_gateway_layer.py").write_text('LAYER_GREETING = "hello from the layer"\n')
    running = Gateway(
        root / "template.yaml",
        environment={"TOY_GATEWAY_SETTING": "on"},
        parameter_overrides={"FrontendOrigins": f"{ALLOWED_ORIGIN}, http://127.0.0.1:5173"},
    ).start()
    yield running
    running.stop()


def echoed(response: requests.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_path_parameters_and_query_string_reach_the_handler_as_api_gateway_sends_them(gateway: Gateway) -> None:
    body = echoed(requests.get(f"{gateway.url}/items/a%20b?tag=x&tag=y&empty=", timeout=10))
    event = body["event"]

    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{item_id}"
    assert event["rawPath"] == "/items/a%20b"
    assert event["rawQueryString"] == "tag=x&tag=y&empty="
    assert event["pathParameters"] == {"item_id": "a b"}
    assert event["queryStringParameters"] == {"tag": "x,y", "empty": ""}
    assert event["isBase64Encoded"] is False
    assert event["stageVariables"] is None
    assert "body" not in event and "cookies" not in event
    context = event["requestContext"]
    assert context["routeKey"] == "GET /items/{item_id}"
    assert context["stage"] == "$default"
    assert context["http"]["method"] == "GET"
    assert context["http"]["path"] == "/items/a%20b"
    assert context["http"]["protocol"] == "HTTP/1.1"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["http"]["userAgent"].startswith("python-requests")
    assert context["domainName"] == f"127.0.0.1:{gateway.port}"
    assert isinstance(context["timeEpoch"], int) and context["requestId"]
    assert body["greeting"] == "hello from the layer"


def test_the_handler_gets_a_lambda_context_and_the_gateway_environment(gateway: Gateway) -> None:
    context = echoed(requests.get(f"{gateway.url}/items/1", timeout=10))["context"]

    assert context["function_name"] == "toy-echo-us-east-1"
    assert context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"].endswith(":function:toy-echo-us-east-1")
    assert 0 < context["remaining_ms"] <= 5000
    assert context["aws_request_id"]
    assert os.environ["TOY_GATEWAY_SETTING"] == "on"


def test_a_literal_path_wins_over_a_parameter_and_a_greedy_parameter_takes_the_rest(gateway: Gateway) -> None:
    special = requests.get(f"{gateway.url}/items/special", timeout=10)
    assert special.status_code == 200
    assert special.headers["content-type"] == "application/json"
    assert special.json() == {"special": True}

    event = echoed(requests.delete(f"{gateway.url}/files/reports/2025/summary.pdf", timeout=10))["event"]
    assert event["routeKey"] == "ANY /files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "reports/2025/summary.pdf"}


def test_repeated_headers_are_joined_with_commas_and_cookies_move_to_their_own_list(gateway: Gateway) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    connection.putrequest("GET", "/items/7")
    connection.putheader("X-Tag", "one")
    connection.putheader("X-Tag", "two")
    connection.putheader("Cookie", "session=abc; theme=dark")
    connection.endheaders()
    response = connection.getresponse()
    event = json.loads(response.read())["event"]
    connection.close()

    assert event["headers"]["x-tag"] == "one,two"
    assert event["cookies"] == ["session=abc", "theme=dark"]
    assert "cookie" not in event["headers"]


def test_a_text_body_arrives_as_text_and_a_binary_body_in_base64(gateway: Gateway) -> None:
    text_event = echoed(requests.post(f"{gateway.url}/items/1", json={"name": "Ñandú"}, timeout=10))["event"]
    assert text_event["isBase64Encoded"] is False
    assert json.loads(text_event["body"]) == {"name": "Ñandú"}

    binary = b"\x00\xff\xfe binary"
    binary_event = echoed(requests.post(f"{gateway.url}/items/1", data=binary, timeout=10))["event"]
    assert binary_event["isBase64Encoded"] is True
    assert base64.b64decode(binary_event["body"]) == binary


def test_a_request_without_a_route_is_a_404_like_api_gateway(gateway: Gateway) -> None:
    for response in (
        requests.get(f"{gateway.url}/nowhere", timeout=10),
        requests.delete(f"{gateway.url}/items/1", timeout=10),
        requests.get(f"{gateway.url}/items/1/extra", timeout=10),
    ):
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}


def test_a_body_over_ten_megabytes_is_refused_with_413(gateway: Gateway) -> None:
    response = requests.post(f"{gateway.url}/items/1", data=b"x" * (MAX_REQUEST_BODY_BYTES + 1), timeout=30)
    assert response.status_code == 413
    assert response.json() == {"message": "Request Entity Too Large"}

    just_fits = requests.post(f"{gateway.url}/items/1", data=b"x" * MAX_REQUEST_BODY_BYTES, timeout=30)
    assert just_fits.status_code == 200


def test_one_function_serves_one_request_at_a_time_but_functions_run_in_parallel(gateway: Gateway) -> None:
    results: dict[str, list[dict]] = {"/slow": [], "/slow-twin": []}

    def call(path: str) -> None:
        results[path].append(requests.get(f"{gateway.url}{path}", timeout=10).json())

    threads = [threading.Thread(target=call, args=(path,)) for path in ("/slow", "/slow", "/slow", "/slow-twin")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    same_function = sorted(results["/slow"], key=lambda result: result["started"])
    assert len(same_function) == 3
    for earlier, later in itertools.pairwise(same_function):
        assert later["started"] >= earlier["finished"]
    twin = results["/slow-twin"][0]
    assert any(twin["started"] < run["finished"] and run["started"] < twin["finished"] for run in same_function)


def test_a_cors_preflight_is_answered_from_the_template_configuration(gateway: Gateway) -> None:
    allowed = requests.options(
        f"{gateway.url}/items/1",
        headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "PUT"},
        timeout=10,
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert allowed.headers["access-control-allow-methods"] == "GET,POST,PUT,DELETE"
    assert allowed.headers["access-control-allow-headers"] == "authorization,content-type"
    assert allowed.headers["access-control-max-age"] == "600"

    foreign = requests.options(
        f"{gateway.url}/items/1",
        headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert foreign.status_code == 204
    assert "access-control-allow-origin" not in foreign.headers


def test_responses_carry_the_configured_cors_headers_instead_of_the_functions_own(gateway: Gateway) -> None:
    response = requests.get(f"{gateway.url}/shaped", headers={"Origin": ALLOWED_ORIGIN}, timeout=10)

    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.headers["access-control-expose-headers"] == "x-request-id"


def test_a_v2_response_maps_status_headers_cookies_and_base64_body(gateway: Gateway) -> None:
    response = requests.get(f"{gateway.url}/shaped", timeout=10)

    assert response.status_code == 201
    assert response.content == b"\x00\xffbinary"
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-multi"] == "one, two"
    assert response.raw.headers.getlist("set-cookie") == ["session=abc; HttpOnly", "theme=dark"]
    assert response.headers["apigw-requestid"]


def test_a_handler_exception_is_a_500_with_the_traceback_logged(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="local.gateway"):
        response = requests.get(f"{gateway.url}/boom", timeout=10)

    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert "RuntimeError: toy handler failure" in caplog.text
    assert "Traceback" in caplog.text


def test_the_template_lists_queue_and_schedule_triggers_and_any_function_can_be_invoked(gateway: Gateway) -> None:
    (sqs_trigger,) = gateway.sqs_triggers()
    assert sqs_trigger.function.logical_id == "ConsumerFunction"
    assert sqs_trigger.queue_resource == "ToyQueue"
    assert sqs_trigger.batch_size == 5
    assert sqs_trigger.reports_batch_item_failures is True

    (schedule_trigger,) = gateway.schedule_triggers()
    assert schedule_trigger.function.logical_id == "SweepFunction"
    assert schedule_trigger.expression == "rate(1 minute)"

    assert gateway.invoke("ConsumerFunction", {"Records": []}) == {"received": {"Records": []}}
