"""Prediction logging that does not slow the request it logs.

In `background` mode (the default) a request hands its rows to this process's writer, which inserts them in
batches from a thread every ECO_PREDICTION_LOG_FLUSH_S seconds; ids are chosen up front, so the answer can
name them before the rows exist. A clean shutdown flushes what is pending: gunicorn's `worker_exit` hook
(config/gunicorn.py) and `atexit` both call `shutdown`. If the database is away the rows wait and are tried
again; past ECO_PREDICTION_LOG_MAX_PENDING waiting rows the oldest are dropped and counted, never the
request. `inline` mode inserts in the request itself (tests that run inside one transaction use it).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque

from django.conf import settings
from django.db import connection

from models_app.models import PredictionLog

log = logging.getLogger(__name__)


class PredictionLogWriter:
    def __init__(self) -> None:
        self._pending: deque[PredictionLog] = deque()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._stopped = False
        self.dropped = 0
        self.written = 0

    def add(self, rows: list[PredictionLog]) -> None:
        if settings.ECO_PREDICTION_LOG == "inline":
            PredictionLog.objects.bulk_create(rows)
            return
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's thread does not exist here
                self.__init__()
            self._pending.extend(rows)
            overflow = len(self._pending) - settings.ECO_PREDICTION_LOG_MAX_PENDING
            for _ in range(max(0, overflow)):
                self._pending.popleft()
            if overflow > 0:
                self.dropped += overflow
                log.error("prediction log backlog full: dropped %d oldest entries", overflow)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
                self._thread.start()

    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> int:
        """Insert everything pending now; returns how many rows were written."""
        with self._flush_lock:
            with self._lock:
                batch = list(self._pending)
                self._pending.clear()
            if not batch:
                return 0
            try:
                for start in range(0, len(batch), 1000):
                    PredictionLog.objects.bulk_create(batch[start : start + 1000], ignore_conflicts=True)
            except Exception:
                log.warning("could not write %d prediction log entries; will retry", len(batch), exc_info=True)
                with self._lock:
                    self._pending.extendleft(reversed(batch))
                connection.close()  # a broken connection is replaced on the next try
                return 0
            self.written += len(batch)
            return len(batch)

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(settings.ECO_PREDICTION_LOG_FLUSH_S)
            self._wake.clear()
            self.flush()
        connection.close()

    def shutdown(self) -> None:
        """Write what is pending (a clean shutdown loses nothing) and stop the thread."""
        self._stopped = True
        self._wake.set()
        if self._thread is not None and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        for _ in range(3):
            self.flush()
            if not self._pending:
                break
        self._stopped = False


writer = PredictionLogWriter()
atexit.register(writer.shutdown)
