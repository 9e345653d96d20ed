"""The local gateway against a toy template: routing, payload v2 events and responses, limits, CORS, static
files, and the functions' execution environments (processes of their own, cold starts, concurrency, timeouts)."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import re
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from local import static_files
from local.gateway import BODY_IDLE_SECONDS, MAX_REQUEST_BODY_BYTES, Gateway

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
  StateWriterFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_state.remember
      Events:
        Remember: {Type: HttpApi, Properties: {Method: POST, Path: /state}}
  StateReaderFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_state.recall
      Events:
        Recall: {Type: HttpApi, Properties: {Method: GET, Path: /state}}
  WarmFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_state.recall
      Events:
        Warm: {Type: HttpApi, Properties: {Method: GET, Path: /warm}}
  SleepyFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: toy_gateway_echo.sleepy_handler
      Timeout: 1
      Events:
        Sleepy: {Type: HttpApi, Properties: {Method: GET, Path: /sleepy}}
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
import os
import time

from toy_gateway_layer import LAYER_GREETING


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({
            "event": event,
            "greeting": LAYER_GREETING,
            "setting": os.environ.get("TOY_GATEWAY_SETTING"),
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
    return {"started": started, "finished": time.monotonic(), "pid": os.getpid()}


def sleepy_handler(event, context):
    time.sleep(float(event["queryStringParameters"]["seconds"]))
    return {"pid": os.getpid()}


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


TOY_STATE_HANDLERS = """
import os
import sys

REMEMBERED = []


def remember(event, context):
    import toy_gateway_private

    REMEMBERED.append(event["body"])
    os.environ["TOY_GATEWAY_LEAK"] = event["body"]
    return {"pid": os.getpid(), "remembered": REMEMBERED}


def recall(event, context):
    return {
        "pid": os.getpid(),
        "remembered": REMEMBERED,
        "leaked": os.environ.get("TOY_GATEWAY_LEAK"),
        "private_module_loaded": "toy_gateway_private" in sys.modules,
    }
"""
CONCURRENCY = 2


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("toy-project")
    (root / "functions" / "toy").mkdir(parents=True)
    (root / "layers" / "toy").mkdir(parents=True)
    (root / "template.yaml").write_text(TOY_TEMPLATE)
    (root / "functions" / "toy" / "toy_gateway_echo.py").write_text(textwrap.dedent(TOY_HANDLERS))
    (root / "functions" / "toy" / "toy_gateway_state.py").write_text(textwrap.dedent(TOY_STATE_HANDLERS))
    (root / "functions" / "toy" / "toy_gateway_private.py").write_text("LOADED = True\n")
    (root / "layers" / "toy" / "toy_gateway_layer.py").write_text('LAYER_GREETING = "hello from the layer"\n')
    running = Gateway(
        root / "template.yaml",
        environment={"TOY_GATEWAY_SETTING": "on"},
        parameter_overrides={"FrontendOrigins": f"{ALLOWED_ORIGIN}, http://127.0.0.1:5173"},
        concurrency=CONCURRENCY,
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
    body = echoed(requests.get(f"{gateway.url}/items/1", timeout=10))
    context = body["context"]

    assert context["function_name"] == "toy-echo-us-east-1"
    # A string, as Lambda's own context has it (awslambdaric reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
    assert context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"].endswith(":function:toy-echo-us-east-1")
    assert 0 < context["remaining_ms"] <= 5000
    assert context["aws_request_id"]
    assert body["setting"] == "on"
    assert "TOY_GATEWAY_SETTING" not in os.environ


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


def test_a_function_runs_at_most_its_concurrency_at_once_and_other_functions_run_beside_it(
    gateway: Gateway,
) -> None:
    results: dict[str, list[dict]] = {"/slow": [], "/slow-twin": []}

    def call(path: str) -> None:
        response = requests.get(f"{gateway.url}{path}", timeout=20)
        assert response.status_code == 200, response.text
        results[path].append(response.json())

    threads = [threading.Thread(target=call, args=(path,)) for path in ["/slow"] * 5 + ["/slow-twin"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    same_function = results["/slow"]
    assert len(same_function) == 5
    # Requests beyond the limit waited for a free environment (none was refused), and never more ran at once.
    most_at_once = max(
        sum(1 for run in same_function if run["started"] <= moment < run["finished"])
        for moment in (run["started"] for run in same_function)
    )
    assert most_at_once == CONCURRENCY
    assert len({run["pid"] for run in same_function}) == CONCURRENCY
    (twin,) = results["/slow-twin"]
    assert any(twin["started"] < run["finished"] and run["started"] < twin["finished"] for run in same_function)
    assert twin["pid"] not in {run["pid"] for run in same_function}


def test_each_function_has_its_own_processes_modules_environment_and_module_state(gateway: Gateway) -> None:
    written = requests.post(f"{gateway.url}/state", data="from the writer", timeout=20)
    assert written.status_code == 200, written.text
    recalled = requests.get(f"{gateway.url}/state", timeout=20)
    assert recalled.status_code == 200, recalled.text
    again = requests.post(f"{gateway.url}/state", data="again", timeout=20).json()

    writer, reader = written.json(), recalled.json()
    # The same module file, imported once per function: the writer's list, variable and import stay its own.
    assert writer["remembered"] == ["from the writer"]
    assert reader == {"pid": reader["pid"], "remembered": [], "leaked": None, "private_module_loaded": False}
    assert writer["pid"] != reader["pid"]
    assert os.getpid() not in (writer["pid"], reader["pid"])
    assert "toy_gateway_state" not in sys.modules
    # A warm environment keeps its module state between invocations, as Lambda's does.
    assert again == {"pid": writer["pid"], "remembered": ["from the writer", "again"]}


def test_a_cold_start_is_logged_once_with_its_duration_then_the_environment_stays_warm(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="local.lambda_runtime"):
        first = requests.get(f"{gateway.url}/warm", timeout=20).json()
        second = requests.get(f"{gateway.url}/warm", timeout=20).json()
        third = requests.get(f"{gateway.url}/warm", timeout=20).json()

    cold_starts = [record.getMessage() for record in caplog.records if record.getMessage().startswith("WarmFunction")]
    assert len(cold_starts) == 1, cold_starts
    assert re.fullmatch(r"WarmFunction: cold start of environment 1 in \d+ ms \(1 of 2\)", cold_starts[0])
    assert first["pid"] == second["pid"] == third["pid"]
    assert gateway.environments("WarmFunction") == [first["pid"]]


def test_a_function_past_its_timeout_answers_503_and_its_environment_is_replaced(gateway: Gateway) -> None:
    warm = requests.get(f"{gateway.url}/sleepy", params={"seconds": 0}, timeout=20)
    assert warm.status_code == 200, warm.text
    stuck_pid = warm.json()["pid"]

    started = time.monotonic()
    timed_out = requests.get(f"{gateway.url}/sleepy", params={"seconds": 30}, timeout=20)
    waited = time.monotonic() - started

    assert timed_out.status_code == 503
    assert timed_out.json() == {"message": "Service Unavailable"}
    # Its Timeout is 1 s: stopped then, not when the handler would have finished.
    assert 1 <= waited < 5
    assert not psutil.pid_exists(stuck_pid) or psutil.Process(stuck_pid).status() == psutil.STATUS_ZOMBIE
    replaced = requests.get(f"{gateway.url}/sleepy", params={"seconds": 0}, timeout=20)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["pid"] != stuck_pid
    assert gateway.environments("SleepyFunction") == [replaced.json()["pid"]]


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


def raw_exchange(gateway: Gateway, request: bytes, read_timeout: float = 10) -> tuple[int, bytes, float]:
    """Status, body and seconds until the answer, for bytes sent as they are over a raw socket."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=read_timeout) as connection:
        connection.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(body) < length:
            body += connection.recv(65536)
    return int(head.split()[1]), body, time.monotonic() - started


@pytest.mark.parametrize("length", ["-1", "abc", "12abc", ""])
def test_a_content_length_that_is_not_a_number_of_bytes_is_a_400_at_once(gateway: Gateway, length: str) -> None:
    request = f"POST /items/1 HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode()

    status, body, seconds = raw_exchange(gateway, request)

    assert status == 400
    assert json.loads(body) == {"message": "Bad Request"}
    assert seconds < 1


def test_a_body_shorter_than_its_content_length_is_a_400_and_holds_up_nothing_else(gateway: Gateway) -> None:
    short_body = b"POST /items/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}"
    outcome: dict[str, tuple[int, bytes, float]] = {}
    waiting = threading.Thread(target=lambda: outcome.update(short=raw_exchange(gateway, short_body)))
    waiting.start()
    time.sleep(0.2)

    # While that connection waits for bytes that never come, the gateway answers others at once.
    others_started = time.monotonic()
    for _ in range(5):
        assert requests.get(f"{gateway.url}/items/1", timeout=5).status_code == 200
    others_took = time.monotonic() - others_started
    waiting.join()

    status, body, seconds = outcome["short"]
    assert status == 400
    assert json.loads(body) == {"message": "Bad Request"}
    assert seconds < BODY_IDLE_SECONDS + 1.5
    assert others_took < BODY_IDLE_SECONDS


def test_static_folders_serve_files_an_app_route_gets_its_index_and_a_missing_build_says_so(
    gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = tmp_path / "built"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text("<!doctype html><title>door</title>")
    (built / "assets" / "app.js").write_text("console.log('door')")
    (tmp_path / "secret.txt").write_text("outside the folder")
    monkeypatch.setattr(
        static_files,
        "STATIC_FOLDERS",
        (
            static_files.StaticFolder("/scan/", built, "build it"),
            static_files.StaticFolder("/queue/", tmp_path / "not-built", "build the waiting-room page in web/queue"),
        ),
    )
    monkeypatch.setattr(static_files, "REPOSITORY_ROOT", tmp_path)

    index = requests.get(f"{gateway.url}/scan/", timeout=10)
    assert index.status_code == 200
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert index.text == "<!doctype html><title>door</title>"
    script = requests.get(f"{gateway.url}/scan/assets/app.js", timeout=10)
    assert script.status_code == 200 and script.text == "console.log('door')"
    assert "javascript" in script.headers["content-type"]
    assert requests.get(f"{gateway.url}/scan/pair/device", timeout=10).text == index.text
    assert requests.get(f"{gateway.url}/scan/assets/missing.js", timeout=10).status_code == 404
    assert requests.get(f"{gateway.url}/scan/..%2fsecret.txt", timeout=10).status_code == 404
    redirected = requests.get(f"{gateway.url}/scan", allow_redirects=False, timeout=10)
    assert redirected.status_code == 301 and redirected.headers["location"] == "/scan/"

    missing = requests.get(f"{gateway.url}/queue/", timeout=10)
    assert missing.status_code == 404
    assert "not-built/, which does not exist yet: build the waiting-room page in web/queue" in missing.text
