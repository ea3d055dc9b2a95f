"""Prediction logging that does not slow the request it logs.

In `background` mode (the default) a request hands its rows to this process's writer, which inserts them in
batches from a thread every ECO_PREDICTION_LOG_FLUSH_S seconds; ids are chosen up front, so the answer can
name them before the rows exist. A clean shutdown flushes what is pending: gunicorn's `worker_exit` hook
(config/gunicorn.py) and `atexit` both call `shutdown`. If the database is away the rows wait and are tried
again; past ECO_PREDICTION_LOG_MAX_PENDING waiting rows the oldest are dropped and counted, never the
request. `inline` mode inserts in the request itself (tests that run inside one transaction use it).

Rows are plain dicts of PredictionLog columns (building model instances costs more than the prediction).
On PostgreSQL they go in with COPY, one statement per batch, so a failed batch leaves nothing behind and is
simply tried again.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque

import orjson
from django.conf import settings
from django.db import DataError, IntegrityError, connection

from models_app.models import PredictionLog, ServingRequest

COLUMNS = (
    "id",
    "team_id",
    "model_id",
    "model_version_id",
    "alias",
    "runtime",
    "input",
    "output",
    "latency_ms",
    "batch_size",
    "created_by_id",
    "created_at",
)
_JSON = {"input", "output"}


def _refused_errors() -> tuple:
    """Errors meaning the database refuses these rows (not that it is away): Django's, and psycopg's own,
    which a COPY raises unwrapped."""
    try:
        import psycopg

        return (IntegrityError, DataError, psycopg.IntegrityError, psycopg.DataError)
    except ImportError:
        return (IntegrityError, DataError)


def insert(rows: list[dict]) -> None:
    """Write prediction rows (dicts with COLUMNS) in one statement."""
    if connection.vendor == "postgresql":
        table = PredictionLog._meta.db_table
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:  # orjson: the JSON columns are most of the writer's time (and the GIL's)
                    copy.write_row(tuple(orjson.dumps(row[c]).decode() if c in _JSON else row[c] for c in COLUMNS))
        return
    PredictionLog.objects.bulk_create([PredictionLog(**row) for row in rows])


REQUEST_COLUMNS = ("model_id", "model_version_id", "alias", "status_code", "latency_ms", "rows", "error", "created_at")


def insert_requests(rows: list[dict]) -> None:
    """Write serving request rows (dicts with REQUEST_COLUMNS; the id comes from the table's sequence)."""
    if connection.vendor == "postgresql":
        table = ServingRequest._meta.db_table
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(REQUEST_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(tuple(row[c] for c in REQUEST_COLUMNS))
        return
    ServingRequest.objects.bulk_create([ServingRequest(**row) for row in rows])


log = logging.getLogger(__name__)


class PredictionLogWriter:
    """Batches rows of one table: `insert` writes a list of them in one statement."""

    def __init__(self, insert=insert, name: str = "prediction-log") -> None:
        self._insert = insert
        self._name = name
        self._pending: deque[dict] = deque()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._stopped = False
        self.dropped = 0
        self.written = 0

    def add(self, rows: list[dict]) -> None:
        if settings.ECO_PREDICTION_LOG == "inline":
            self._insert(rows)
            return
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's thread does not exist here
                self.__init__(self._insert, self._name)
            self._pending.extend(rows)
            overflow = len(self._pending) - settings.ECO_PREDICTION_LOG_MAX_PENDING
            for _ in range(max(0, overflow)):
                self._pending.popleft()
            if overflow > 0:
                self.dropped += overflow
                log.error("%s backlog full: dropped %d oldest entries", self._name, overflow)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
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
            written = 0
            try:
                while written < len(batch):  # each chunk is one statement: in whole, or not at all
                    chunk = batch[written : written + 5000]
                    try:
                        self._insert(chunk)
                    except _refused_errors():  # a row the database refuses (its model was deleted, say)
                        self._insert_one_by_one(chunk)
                    written += len(chunk)
            except Exception:
                left = batch[written:]
                log.warning("could not write %d %s entries; will retry", len(left), self._name, exc_info=True)
                with self._lock:
                    self._pending.extendleft(reversed(left))
                connection.close()  # a broken connection is replaced on the next try
            self.written += written
            return written

    def _insert_one_by_one(self, rows: list[dict]) -> None:
        for row in rows:
            try:
                self._insert([row])
            except _refused_errors():
                self.dropped += 1
                log.warning("dropped a %s entry: the database refused it (%s)", self._name, row, exc_info=True)

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
request_writer = PredictionLogWriter(insert_requests, "serving-request-log")
"""ServingRequest rows (one per predict request), batched the same way."""


def shutdown() -> None:
    """Flush both writers (a clean shutdown loses nothing)."""
    writer.shutdown()
    request_writer.shutdown()


atexit.register(shutdown)
