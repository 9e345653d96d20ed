"""Serving an aiohttp application from a thread of its own: how the local emulators answer HTTP.

The standard library's ThreadingHTTPServer listens with a backlog of 5, speaks HTTP/1.0 (a new
connection per request) and spends a thread per connection: a browser's burst or a load test got
connection resets. aiohttp is a maintained asyncio server: one event loop holds thousands of
kept-alive connections, replies go out with TCP_NODELAY in one write, and its client sends the
MercadoPago emulator's webhooks from the same loop.

The listening socket is bound when the server is made, so its URL is known (and a busy port fails)
before anything starts; `start()` serves from a daemon thread and `stop()` ends it, letting requests
in progress finish for at most `shutdown_timeout` seconds. The application's own signals
(`on_startup`, `on_shutdown`, `on_cleanup`) run on that loop.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import threading

from aiohttp import web

# The kernel caps this at net.core.somaxconn (4096 on current Linux); 5 dropped connections at 6 clients.
LISTEN_BACKLOG = 2048
STOP_TIMEOUT_SECONDS = 10.0
# Room for a few thousand connections at once.
OPEN_FILES = 8192


def allow_open_files(count: int) -> None:
    """Raises this process's soft limit on open files to `count`, as far as the hard limit lets it.

    A connection is a file: the usual soft limit of 1,024 would refuse a crowd of clients long before
    the server is busy.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def bind_listening_socket(host: str, port: int, backlog: int = LISTEN_BACKLOG) -> socket.socket:
    listening = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        # A stack restarted at once must not wait for the previous run's sockets in TIME_WAIT.
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(backlog)
    except OSError:
        listening.close()
        raise
    return listening


class BackgroundHttpServer:
    """One aiohttp application on one socket, served by an event loop in a daemon thread."""

    def __init__(
        self,
        application: web.Application,
        host: str,
        port: int,
        *,
        name: str,
        shutdown_timeout: float = 1.0,
    ) -> None:
        self._application = application
        allow_open_files(OPEN_FILES)
        self._socket = bind_listening_socket(host, port)
        bound_host, bound_port = self._socket.getsockname()[:2]
        self.url = f"http://{f'[{bound_host}]' if ':' in bound_host else bound_host}:{bound_port}"
        self._name = name
        self._shutdown_timeout = shutdown_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError(f"{self._name} is not started")
        return self._loop

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise RuntimeError(f"{self._name} could not start") from self._failure

    def stop(self) -> None:
        if self._thread is None:
            self._socket.close()
            return
        if self._loop is not None and self._stop_requested is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop_requested.set)
        self._thread.join(STOP_TIMEOUT_SECONDS)
        self._thread = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # start() re-raises a failure to start
            self._failure = self._failure or error
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        runner = web.AppRunner(self._application, access_log=None, shutdown_timeout=self._shutdown_timeout)
        try:
            await runner.setup()
            await web.SockSite(runner, self._socket, backlog=LISTEN_BACKLOG).start()
        except BaseException as error:
            self._failure = error
            await runner.cleanup()
            self._socket.close()
            raise
        self._ready.set()
        await self._stop_requested.wait()
        await runner.cleanup()
        self._socket.close()
