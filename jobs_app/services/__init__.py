"""Every write of jobs_app, by concern: `submission` (submit, cancel, finish a run outside the workers),
`lifecycle` (a delivery's life on a worker: begin, heartbeat, checkpoint, complete, fail), `reaper` (jobs
whose worker died or that overstay), `dispatch` (handing a job to the broker) and `admission`
(which waiting jobs go to the broker, and usage accounting). Callers import the functions from here.

A job's row is the truth. Every worker-side write locks the row (`select_for_update`) and first checks that
the Celery delivery doing it (`task_id`) is still the job's current one, so a redelivered or re-queued
message can never run a job twice or register a second output.
"""

from jobs_app.services.admission import admit, admit_all, record_cpu
from jobs_app.services.dispatch import RUN_TASK, broker_priority
from jobs_app.services.lifecycle import (
    WORKER_LOSSES_TOLERATED,
    Lost,
    append_log,
    begin_attempt,
    complete,
    fail,
    heartbeat,
    mark_cancelled,
    on_job_end,
    record_checkpoint,
    record_output,
    requeue_preempted,
    retry_or_fail,
)
from jobs_app.services.reaper import reap_stale_jobs
from jobs_app.services.submission import cancel_job, finish_run, submit_job

__all__ = [
    "RUN_TASK",
    "admit",
    "admit_all",
    "record_cpu",
    "WORKER_LOSSES_TOLERATED",
    "Lost",
    "append_log",
    "begin_attempt",
    "broker_priority",
    "cancel_job",
    "complete",
    "fail",
    "finish_run",
    "heartbeat",
    "mark_cancelled",
    "on_job_end",
    "reap_stale_jobs",
    "record_checkpoint",
    "record_output",
    "requeue_preempted",
    "retry_or_fail",
    "submit_job",
]
