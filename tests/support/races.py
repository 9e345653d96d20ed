"""Races with real threads against real Postgres: racers released together, and pools large enough for them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import pytest

from crowdify.config.settings import reset_settings
from crowdify.persistence.database import dispose_engine

Result = TypeVar("Result")


def all_at_once(action: Callable[[int], Result], racers: int, timeout: float = 30) -> list[Result]:
    """`action(index)` on `racers` threads that one barrier releases together; every result, in index order. A racer
    that raises makes this raise once all have finished (a test never passes on answers it did not get)."""
    start = threading.Barrier(racers)

    def run(index: int) -> Result:
        start.wait(timeout)
        return action(index)

    with ThreadPoolExecutor(max_workers=racers) as pool:
        return list(pool.map(run, range(racers)))


@contextmanager
def connection_pools_of(size: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The functions' pools (pg8000's and the engine's) this large, so racers meet in Postgres rather than queue
    for a connection; back to the test default afterwards."""
    monkeypatch.setenv("DATABASE_POOL_SIZE", str(size))
    reset_settings()
    dispose_engine()
    try:
        yield
    finally:
        monkeypatch.delenv("DATABASE_POOL_SIZE")
        reset_settings()
        dispose_engine()
