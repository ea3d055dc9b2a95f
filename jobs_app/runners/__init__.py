"""Runners: the adapters from a job's spec to `ml/` and back into the registry.

`execute` is what a Celery delivery does: take the job (or drop a stale delivery), run its kind's runner
(jobs_app/kinds/) with a RegistryReporter, and record the end: succeeded (outputs registered in the same
transaction), cancelled, failed with a one-line error (the traceback goes to the job's log), or re-queued
after a transient error while retries remain.
"""

from __future__ import annotations

import logging
import resource
import traceback

from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError

from jobs_app import kinds, services
from jobs_app.runners.reporter import RegistryReporter
from ml.errors import UserError
from ml.train import Stopped

log = logging.getLogger(__name__)

# The job's own fault: retrying cannot help, the message says what to change.
USER_ERRORS = (UserError,)
# The world's fault: a database, broker or storage that was briefly away.
# (ml.distributed.RankFailed, a training process that died, is a ConnectionError: the retry resumes from the
# last checkpoint)
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


def _runner(kind: str):
    return kinds.get(kind).run


def execute(*, job_id: str, task_id: str, worker: str) -> str:
    """Run one delivery of a job; returns the status it left the job in (or "skipped")."""
    job = services.begin_attempt(job_id=job_id, task_id=task_id, worker=worker)
    if job is None:
        log.info("delivery %s of job %s is stale or the job is over; skipped", task_id, job_id)
        return "skipped"
    reporter = RegistryReporter(job, task_id).start()
    cpu_start = _cpu_time()
    try:
        _runner(job.kind)(job, reporter)
        return "succeeded"
    except Stopped:
        return _stopped(job_id, task_id, reporter, job.timeout_s)
    except services.Lost:
        reporter.stop_reason = "lost"
        return _stopped(job_id, task_id, reporter, job.timeout_s)
    except ValidationError as exc:
        return _fail(job_id, task_id, reporter, "; ".join(_messages(exc)))
    except USER_ERRORS as exc:
        return _fail(job_id, task_id, reporter, str(exc))
    except TRANSIENT_ERRORS as exc:
        reporter.log(traceback.format_exc())
        reporter.close()
        return _guarded(services.retry_or_fail, job_id, task_id, error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug (a broken constraint, say): not worth retrying
        return _fail(job_id, task_id, reporter, f"{type(exc).__name__}: {exc}", with_traceback=True)
    finally:
        reporter.close()
        try:  # CPU-seconds as the worker process measured them (all its threads, and processes it waited for)
            services.record_cpu(job_id=job_id, seconds=_cpu_time() - cpu_start)
        except TRANSIENT_ERRORS:
            log.warning("could not record the CPU time of job %s", job_id, exc_info=True)


def _cpu_time() -> float:
    """CPU seconds (user + system) of this process's threads and of its children that ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _stopped(job_id, task_id, reporter: RegistryReporter, timeout_s) -> str:
    reason = reporter.stop_reason
    reporter.close()
    if reason == "cancel":
        return _guarded(services.mark_cancelled, job_id, task_id)
    if reason == "preempt":
        return _guarded(
            services.requeue_preempted,
            job_id,
            task_id,
            message="preempted: checkpointed and returned to the queue, to resume from its checkpoint",
        )
    if reason == "timeout":
        return _guarded(
            services.fail, job_id, task_id, error=f"timed out: the job ran longer than its timeout_s ({timeout_s} s)"
        )
    log.warning("job %s was taken over by another delivery; this one (%s) stops", job_id, task_id)
    return "lost"


def _fail(job_id, task_id, reporter: RegistryReporter, error: str, *, with_traceback: bool = False) -> str:
    if with_traceback:
        reporter.log(traceback.format_exc())
        log.exception("job %s failed", job_id)
    reporter.close()
    return _guarded(services.fail, job_id, task_id, error=error)


def _guarded(action, job_id, task_id, **kwargs) -> str:
    try:
        return action(job_id=job_id, task_id=task_id, **kwargs).status
    except services.Lost:
        return "lost"


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()]
    return list(exc.messages)
