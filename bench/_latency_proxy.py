"""A TCP proxy that delays every chunk by a fixed time in each direction: a database a network hop away.

Run in a process of its own (`python -m bench._latency_proxy --port P --target HOST:PORT --delay-ms 0.5`) so that
it does not compete for the benchmark's GIL; `started` does that and waits until it accepts connections. Each
direction keeps its order: chunks are queued with the time they are due and written in turn. asyncio's timers
wait in whole milliseconds on Linux (epoll), so an idle connection sees up to 1 ms per direction; a busy proxy,
woken by other traffic, comes closer to the delay asked. Benchmarks measure and report the round trip they got.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def forward() -> None:
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    forwarding = asyncio.create_task(forward())
    try:
        while True:
            data = await reader.read(CHUNK)
            queue.put_nowait((loop.time() + delay, data))
            if not data:
                break
    except ConnectionError:
        queue.put_nowait((loop.time(), b""))
    await forwarding


def _no_delay(writer: asyncio.StreamWriter) -> None:
    connection = writer.get_extra_info("socket")
    if connection is not None:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _serve(port: int, target_host: str, target_port: int, delay: float) -> None:
    async def connect(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        _no_delay(client_writer)
        _no_delay(server_writer)
        await asyncio.gather(
            _pipe(client_reader, server_writer, delay),
            _pipe(server_reader, client_writer, delay),
            return_exceptions=True,
        )

    server = await asyncio.start_server(connect, "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def started(target_host: str, target_port: int, delay_ms: float) -> Iterator[int]:
    """A proxy process to the target, adding `delay_ms` each way, for the block; its port."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench._latency_proxy",
            "--port",
            str(port),
            "--target",
            f"{target_host}:{target_port}",
            "--delay-ms",
            str(delay_ms),
        ],
        cwd=REPOSITORY,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the latency proxy did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="HOST:PORT")
    parser.add_argument("--delay-ms", type=float, required=True)
    arguments = parser.parse_args()
    host, _, port = arguments.target.rpartition(":")
    asyncio.run(_serve(arguments.port, host, int(port), arguments.delay_ms / 1000))


if __name__ == "__main__":
    main()
