"""Races against real PostgreSQL transactions (tests marked django_db(transaction=True))."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connection

T = TypeVar("T")

# At most this many connections at once: the database is shared with other work.
POOL = 10


def at_once(calls: list[Callable[[], T]], *, workers: int = POOL) -> list[T]:
    """Each call in a thread with its own database connection, all released at the same
    moment; what each returned, in the order of `calls`. A call that raised fails the test
    with its exception: a race the code should absorb must not pass by being swallowed."""
    start = threading.Event()

    def run(call: Callable[[], T]) -> T:
        try:
            start.wait()
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=min(workers, len(calls))) as pool:
        futures = [pool.submit(run, call) for call in calls]
        start.set()
        return [future.result() for future in futures]
