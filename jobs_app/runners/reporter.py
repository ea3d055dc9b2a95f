"""`RegistryReporter`: ml's Reporter protocol written against the registry.

The training thread only appends to in-memory buffers (metrics, log lines, progress), so reporting costs it
next to nothing. A background thread wakes every ECO_HEARTBEAT_INTERVAL_S: it flushes the buffers (metrics
through the bulk COPY path), writes the heartbeat and progress, and picks up a cancel request, a timeout or
the loss of the job to another delivery, which it turns into `should_stop()`.
Checkpoints go to storage as safetensors (tensors + JSON metadata), never pickle.

Every write lands only while this reporter's attempt is still the job's current one (its credential,
jobs_app.attempts), and a checkpoint is recorded in the same transaction as everything buffered before it:
a worker killed at any moment leaves either the epoch's points, log line and checkpoint, or none of them,
so the resumed attempt neither skips nor repeats an epoch's record.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection
from django.utils import timezone

from jobs_app import attempts, metrics, services
from jobs_app.models import Job
from ml.errors import Conflict, Forbidden

log = logging.getLogger(__name__)


class RegistryReporter:
    def __init__(self, job: Job, task_id: str):
        self.job_id = job.pk
        self.task_id = task_id
        self.attempt_token = getattr(job, "attempt_token", "")  # set by services.begin_attempt
        self.timeout_s = job.timeout_s
        self.checkpoint_name = job.checkpoint
        self.progress = 0.0 if job.attempts <= 1 else job.progress
        self.stop_reason: str | None = None
        self._started = time.monotonic()
        self._points: list[tuple[str, int, float]] = []
        self._lines: list[tuple] = []
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one flush at a time, so log lines keep their order
        self._held: tuple[int, int] | None = None  # buffer lengths when `together()` began
        self._stop = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.pk}", daemon=True)
        self._origin = (job.started_at or timezone.now()).timestamp()
        self._sampler = None

    # --- the Reporter protocol (called from the training thread) ---------------------------------------
    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        points = [(k, int(step), float(v)) for k, v in values.items() if metrics.finite_number(v)]
        with self._lock:
            self._points.extend(points)

    def set_progress(self, fraction: float) -> None:
        self.progress = fraction

    def log(self, message: str) -> None:
        log.info("job %s: %s", self.job_id, message)
        with self._lock:
            self._lines.append((timezone.now(), str(message)))

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def checkpoint_on_stop(self) -> bool:
        """A preemption: the loop saves where it is before it stops, and the job resumes from there."""
        return self.stop_reason == "preempt"

    @contextmanager
    def together(self):
        """What the training thread reports inside this block (an epoch's summary points and log line, then
        its checkpoint) is written in one transaction with the checkpoint: the heartbeat thread meanwhile
        writes only what was buffered before the block."""
        with self._lock:
            self._held = (len(self._points), len(self._lines))
        try:
            yield self
        finally:
            with self._lock:
                self._held = None

    def save_checkpoint(self, tensors, meta: dict) -> None:
        """Store the checkpoint file, then write every buffered point and line and point the job at the
        file, in one transaction (see module docstring)."""
        from safetensors.torch import save

        data = save(tensors, metadata={"meta": json.dumps(meta)})
        # named by epoch and step: a checkpoint taken inside an epoch never overwrites the one it follows
        epoch, step = int(meta.get("epoch", 0)), int(meta.get("step", 0))
        name = f"checkpoints/{self.job_id}/epoch-{epoch:06d}-step-{step:09d}-{self.task_id[:8]}.safetensors"
        if default_storage.exists(name):
            default_storage.delete(name)
        saved = default_storage.save(name, ContentFile(data))
        try:
            previous = self.flush(checkpoint=saved)
        except BaseException:
            default_storage.delete(saved)
            raise
        if previous is None:  # the job is no longer this attempt's
            default_storage.delete(saved)
            return
        self.checkpoint_name = saved
        if previous and previous != saved:
            default_storage.delete(previous)

    def load_checkpoint(self):
        if not self.checkpoint_name or not default_storage.exists(self.checkpoint_name):
            return None
        from safetensors.torch import load

        with default_storage.open(self.checkpoint_name, "rb") as fh:
            data = fh.read()
        (header_len,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + header_len])
        meta = json.loads(header.get("__metadata__", {}).get("meta", "{}"))
        return load(data), meta

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> RegistryReporter:
        """Start the heartbeat thread and, unless ECO_SYSTEM_METRICS_INTERVAL_S is 0, the system metrics sampler:
        `system/...` points (eco.system_metrics) whose step is the second of the job since it first started, so
        a resumed attempt continues the same curves."""
        self._thread.start()
        if settings.ECO_SYSTEM_METRICS_INTERVAL_S > 0:
            from eco.system_metrics import Sampler

            self._sampler = Sampler(
                lambda values, _sample: self.log_metrics(max(0, int(time.time() - self._origin)), values),
                settings.ECO_SYSTEM_METRICS_INTERVAL_S,
            )
            self._sampler.start()
        return self

    def close(self) -> None:
        """Stop the heartbeat thread and write what is still buffered (from the calling thread). A failed
        write is logged, never raised: the job's end must still be recorded."""
        self._closed.set()
        if self._sampler is not None:
            self._sampler.stop()
        self._thread.join(timeout=30)
        try:
            self.flush()
        except Exception:
            log.warning("could not write the last metrics or log lines of job %s", self.job_id, exc_info=True)

    def flush(self, *, checkpoint: str | None = None) -> str | None:
        """Write buffered log lines, then metrics, then (when given) the checkpoint pointer, in one
        transaction and only while this attempt is current. Returns the checkpoint replaced ('' if none), or
        None when the job is no longer this attempt's: the buffers are dropped and the run is told to stop.
        What fails to be written otherwise goes back into the buffer. Without a checkpoint, what the
        training thread buffered inside `together()` waits for the checkpoint."""
        with self._writing:
            with self._lock:
                if self._held is not None and checkpoint is None:
                    taken_points, taken_lines = self._held
                    self._held = (0, 0)
                else:
                    taken_points, taken_lines = len(self._points), len(self._lines)
                points, self._points = self._points[:taken_points], self._points[taken_points:]
                lines, self._lines = self._lines[:taken_lines], self._lines[taken_lines:]
            if not (points or lines or checkpoint):
                return ""
            try:
                return attempts.write_from_worker(
                    job_id=self.job_id, token=self.attempt_token, lines=lines, points=points, checkpoint=checkpoint
                )
            except (Forbidden, Conflict):
                log.warning("job %s is no longer attempt %s's; its last writes are dropped", self.job_id, self.task_id)
                self._halt("lost")
                return None
            except BaseException:
                with self._lock:
                    self._lines[:0], self._points[:0] = lines, points
                raise

    def _halt(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    def _beat(self) -> None:
        interval = settings.ECO_HEARTBEAT_INTERVAL_S
        try:
            while not self._closed.wait(interval):
                try:
                    state = services.heartbeat(job_id=self.job_id, task_id=self.task_id, progress=self.progress)
                except Exception:  # the database may be briefly away; the next beat tries again
                    log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
                    close_old_connections()
                    state = None
                if state:
                    self._halt(state)
                if self.timeout_s and time.monotonic() - self._started > self.timeout_s:
                    self._halt("timeout")
                try:
                    self.flush()
                except Exception:  # kept in the buffer for the next beat
                    log.warning("could not write metrics or log lines of job %s", self.job_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()
