"""Keeps a job's heartbeat going while a render is inside one long call.

Loading a model and decoding the latents are single calls that can each run
longer than the heartbeat timeout on a real GPU, and during them no step
callback fires; the sweeper would take the job for a dead worker's and requeue
it. A thread repeats the last reported progress whenever nothing was reported
for `interval` seconds. What the progress callback raises there (the job was
canceled, or the lease lost) is kept and raised in the rendering thread at its
next report or when the block ends, since a thread cannot stop a running load.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

from django.db import connections

from ..base import ProgressFn


class Heartbeat:
    def __init__(self, progress: ProgressFn, interval: float) -> None:
        self._progress = progress
        self.interval = max(0.01, float(interval))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_beat = time.monotonic()
        self._fraction = 0.0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.beats = 0  # reports the thread made (for logs)

    def __call__(self, fraction: float) -> None:
        """Report progress from the rendering thread."""
        self._raise_pending()
        with self._lock:
            self._fraction = max(self._fraction, fraction)
            self._last_beat = time.monotonic()
            self._progress(self._fraction)

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval / 4):
                with self._lock:
                    if self._stop.is_set() or time.monotonic() - self._last_beat < self.interval:
                        continue
                    self._last_beat = time.monotonic()
                    try:
                        self._progress(self._fraction)
                        self.beats += 1
                    except Exception as exc:  # noqa: BLE001  (re-raised in the rendering thread)
                        self._error = exc
                        return
        finally:
            # The progress callback may have used the database from this thread; its connection is this thread's.
            connections.close_all()

    def __enter__(self) -> "Heartbeat":
        self._thread = threading.Thread(target=self._run, name="render-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if exc_type is None:
            self._raise_pending()
