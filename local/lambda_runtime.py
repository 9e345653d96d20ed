"""Lambda's execution environments on this machine: every function runs in worker processes of its own.

An environment is a `python -m awslambdaric <Handler>` process (AWS's own runtime interface client, the
one Lambda's Python images run) that asks a Runtime API for its next event and posts back the result, as
in Lambda's sandbox. Each environment gets a Runtime API port of its own: the client takes only a
host:port (`AWS_LAMBDA_RUNTIME_API`), so the port is what tells its requests apart.

So, as on Lambda, functions share no `sys.modules`, `os.environ` or module state; an environment starts
on first use (a cold start, logged with its duration), stays warm, and serves one event at a time. Each
function has at most `concurrency` environments; more simultaneous requests wait in line (first come,
first served) for one to be free instead of being throttled: Lambda's real limit (1,000 per account) is
far above the local default, so a burst that AWS would absorb by scaling out is queued here rather than
refused with errors AWS would not give. An invocation that outlives the function's `Timeout` is stopped
by killing its process, and that environment is replaced by a fresh one on the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from local.sam_template import LOCAL_ACCOUNT_ID, LOCAL_REGION, FunctionDefinition

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 4
# Lambda gives a function's initialisation 10 s; a slow machine building many environments at once needs more.
INIT_TIMEOUT_SECONDS = 30
RUNTIME_API_PREFIX = "/2018-06-01/runtime"
# Room for a result that echoes a body of API Gateway's 10 MB limit in JSON (Lambda's own 6 MB limit is not modelled).
RUNTIME_API_MAX_BODY_BYTES = 64 * 1024 * 1024
# What the sandbox keeps of the host's environment: enough to run Python, nothing of the stack's own settings.
INHERITED_VARIABLES = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


class FunctionError(Exception):
    """The handler raised: the runtime client's error document (errorType, errorMessage, stackTrace)."""

    def __init__(self, document: dict[str, Any]) -> None:
        super().__init__(f"{document.get('errorType')}: {document.get('errorMessage')}")
        self.document = document

    def traceback_text(self) -> str:
        frames = self.document.get("stackTrace") or []
        return "Traceback (most recent call last):\n" + "".join(str(frame) for frame in frames) + str(self)


class FunctionTimedOut(Exception):
    pass


class EnvironmentFailed(Exception):
    """The environment could not start, or its process died during an invocation."""


@dataclass
class _Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    result: asyncio.Future[bytes] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ExecutionEnvironment:
    """One worker process of one function and its Runtime API endpoint."""

    def __init__(self, function: FunctionDefinition, number: int, variables: dict[str, str]) -> None:
        self.function = function
        self.number = number
        self.variables = variables
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.invocations: asyncio.Queue[_Invocation] = asyncio.Queue(maxsize=1)
        self.current: _Invocation | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.runtime_api_site: web.SockSite | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def name(self) -> str:
        return f"{self.function.logical_id}#{self.number}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, runtime_api_site: web.SockSite, layer_directories: list[Path]) -> float:
        """Starts the process and waits for its first request for an event; returns the init time in seconds."""
        started = time.monotonic()
        self.runtime_api_site = runtime_api_site
        await runtime_api_site.start()
        runtime_api = runtime_api_site.name.removeprefix("http://")
        code_directory = str(self.function.code_directory)
        variables = {
            **{name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ},
            **self.variables,
            **_reserved_variables(self.function),
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_TASK_ROOT": code_directory,
            "_HANDLER": self.function.handler,
            # Lambda puts the function's code first, then its layers (/opt/python).
            "PYTHONPATH": os.pathsep.join([code_directory, *(str(directory) for directory in layer_directories)]),
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "awslambdaric",
            self.function.handler,
            cwd=code_directory,
            env=variables,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            # A group of its own: Ctrl-C in the terminal reaches the stack, which stops its environments itself.
            process_group=0,
        )
        self._tasks = [
            asyncio.create_task(self._relay_output(), name=f"{self.name}-output"),
            asyncio.create_task(self._watch_exit(), name=f"{self.name}-exit"),
        ]
        await asyncio.wait_for(asyncio.shield(self.ready), INIT_TIMEOUT_SECONDS)
        return time.monotonic() - started

    async def invoke(self, payload: bytes) -> bytes:
        timeout = self.function.timeout_seconds
        invocation = _Invocation(
            request_id=str(uuid.uuid4()),
            payload=payload,
            deadline_ms=int((time.time() + timeout) * 1000),
        )
        self.current = invocation
        await self.invocations.put(invocation)
        try:
            return await asyncio.wait_for(asyncio.shield(invocation.result), timeout)
        except TimeoutError:
            logger.warning(
                "%s: Task timed out after %d s (request %s); its environment is replaced",
                self.name,
                timeout,
                invocation.request_id,
            )
            await self.stop()
            raise FunctionTimedOut(f"{self.function.logical_id} timed out after {timeout} s") from None
        except asyncio.CancelledError:
            # Nobody waits for this event any more, but the process is still busy with it.
            await self.stop()
            raise
        finally:
            self.current = None

    async def stop(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.kill()
            await self.process.wait()
        for task in self._tasks:
            task.cancel()
        if self.runtime_api_site is not None:
            await self.runtime_api_site.stop()
            self.runtime_api_site = None

    async def next_invocation(self) -> _Invocation:
        if not self.ready.done():
            self.ready.set_result(None)
        return await self.invocations.get()

    def respond(self, request_id: str, body: bytes) -> None:
        invocation = self._invocation(request_id)
        if invocation is not None and not invocation.result.done():
            invocation.result.set_result(body)

    def fail(self, request_id: str, document: dict[str, Any]) -> None:
        invocation = self._invocation(request_id)
        if invocation is not None and not invocation.result.done():
            invocation.result.set_exception(FunctionError(document))

    def fail_init(self, document: dict[str, Any]) -> None:
        if not self.ready.done():
            self.ready.set_exception(EnvironmentFailed(f"{self.name} failed to initialise: {document}"))

    def _invocation(self, request_id: str) -> _Invocation | None:
        current = self.current
        return current if current is not None and current.request_id == request_id else None

    async def _relay_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        function_logger = logging.getLogger(f"lambda.{self.function.logical_id}")
        while line := await self.process.stdout.readline():
            function_logger.info("%s", line.decode(errors="replace").rstrip())

    async def _watch_exit(self) -> None:
        assert self.process is not None
        status = await self.process.wait()
        failure = EnvironmentFailed(f"{self.name}: its process exited with status {status}")
        if not self.ready.done():
            self.ready.set_exception(failure)
        current = self.current
        if current is not None and not current.result.done():
            current.result.set_exception(failure)


class FunctionEnvironments:
    """A function's environments: started on demand, at most `concurrency`, reused while warm."""

    def __init__(self, runtime: LambdaRuntime, function: FunctionDefinition, concurrency: int) -> None:
        self.runtime = runtime
        self.function = function
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._idle: list[ExecutionEnvironment] = []
        self._started = 0
        self.environments: list[ExecutionEnvironment] = []

    async def invoke(self, payload: bytes) -> bytes:
        # The line has no time limit of its own: every invocation ahead ends within its function's Timeout.
        await self._slots.acquire()
        try:
            environment = await self._warm_or_new_environment()
            try:
                return await environment.invoke(payload)
            finally:
                if environment.alive:
                    self._idle.append(environment)
                else:
                    self._discard(environment)
        finally:
            self._slots.release()

    async def stop(self) -> None:
        await asyncio.gather(*(environment.stop() for environment in self.environments))
        for environment in list(self.environments):
            self._discard(environment)

    def _discard(self, environment: ExecutionEnvironment) -> None:
        if environment in self.environments:
            self.environments.remove(environment)
        if environment in self._idle:
            self._idle.remove(environment)
        self.runtime.forget(environment)

    async def _warm_or_new_environment(self) -> ExecutionEnvironment:
        while self._idle:
            environment = self._idle.pop()
            if environment.alive:
                return environment
            self._discard(environment)
        self._started += 1
        environment = ExecutionEnvironment(self.function, self._started, self.runtime.variables)
        self.environments.append(environment)
        try:
            init_seconds = await self.runtime.start_environment(environment)
        except BaseException:
            await environment.stop()
            self._discard(environment)
            raise
        logger.info(
            "%s: cold start of environment %d in %.0f ms (%d of %d)",
            self.function.logical_id,
            environment.number,
            init_seconds * 1000,
            len(self.environments),
            self.concurrency,
        )
        return environment


class LambdaRuntime:
    """Every function's environments and the Runtime API they talk to; lives on one asyncio loop."""

    def __init__(
        self,
        functions: dict[str, FunctionDefinition],
        layer_directories: list[Path],
        variables: dict[str, str],
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self.layer_directories = layer_directories
        self.variables = dict(variables)
        self.functions = {
            logical_id: FunctionEnvironments(self, function, concurrency) for logical_id, function in functions.items()
        }
        self._by_port: dict[int, ExecutionEnvironment] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        application = web.Application(client_max_size=RUNTIME_API_MAX_BODY_BYTES)
        application.router.add_get(f"{RUNTIME_API_PREFIX}/invocation/next", self._next)
        application.router.add_post(f"{RUNTIME_API_PREFIX}/invocation/{{request_id}}/response", self._response)
        application.router.add_post(f"{RUNTIME_API_PREFIX}/invocation/{{request_id}}/error", self._error)
        application.router.add_post(f"{RUNTIME_API_PREFIX}/init/error", self._init_error)
        # Cancellation: a process that dies leaves its request for the next event waiting, and nothing else ends it.
        self._runner = web.AppRunner(application, handle_signals=False, access_log=None, handler_cancellation=True)
        await self._runner.setup()

    async def stop(self) -> None:
        await asyncio.gather(*(environments.stop() for environments in self.functions.values()))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def invoke(self, logical_id: str, event: Any) -> Any:
        """The function's result for `event`, as Lambda's Invoke API returns it (decoded JSON)."""
        return json.loads(await self.functions[logical_id].invoke(json.dumps(event).encode()))

    async def start_environment(self, environment: ExecutionEnvironment) -> float:
        assert self._runner is not None
        # A port of its own: the runtime client knows only a host:port, so the port names the environment.
        runtime_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        runtime_socket.bind(("127.0.0.1", 0))
        port = runtime_socket.getsockname()[1]
        self._by_port[port] = environment
        try:
            return await environment.start(web.SockSite(self._runner, runtime_socket), self.layer_directories)
        except BaseException:
            del self._by_port[port]
            raise

    def forget(self, environment: ExecutionEnvironment) -> None:
        for port, known in list(self._by_port.items()):
            if known is environment:
                del self._by_port[port]

    def _environment(self, request: web.Request) -> ExecutionEnvironment:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        environment = self._by_port.get(sockname[1]) if sockname else None
        if environment is None:
            raise web.HTTPNotFound(text="unknown execution environment")
        return environment

    async def _next(self, request: web.Request) -> web.Response:
        environment = self._environment(request)
        invocation = await environment.next_invocation()
        function = environment.function
        return web.Response(
            body=invocation.payload,
            content_type="application/json",
            headers={
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": function_arn(function),
                "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            },
        )

    async def _response(self, request: web.Request) -> web.Response:
        self._environment(request).respond(request.match_info["request_id"], await request.read())
        return web.json_response({"status": "OK"}, status=202)

    async def _error(self, request: web.Request) -> web.Response:
        self._environment(request).fail(request.match_info["request_id"], await _error_document(request))
        return web.json_response({"status": "OK"}, status=202)

    async def _init_error(self, request: web.Request) -> web.Response:
        self._environment(request).fail_init(await _error_document(request))
        return web.json_response({"status": "OK"}, status=202)


async def _error_document(request: web.Request) -> dict[str, Any]:
    with contextlib.suppress(ValueError):
        document = json.loads(await request.read())
        if isinstance(document, dict):
            return document
    return {"errorType": request.headers.get("Lambda-Runtime-Function-Error-Type", "Unknown"), "errorMessage": ""}


def function_arn(function: FunctionDefinition) -> str:
    return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{function.function_name}"


def _reserved_variables(function: FunctionDefinition) -> dict[str, str]:
    """The variables Lambda sets in every Python 3.11 environment."""
    return {
        "AWS_REGION": LOCAL_REGION,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
        "TZ": ":UTC",
    }
