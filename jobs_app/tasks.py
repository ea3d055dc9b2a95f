"""Celery tasks: they take ids and call a service, nothing else. Heavy imports (torch) happen inside the
runner, not at worker start. acks_late + reject_on_worker_lost come from settings; job state lives in the
database, so there is no result backend."""

from celery import shared_task

from jobs_app import services


@shared_task(name="jobs.run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(self, job_id: str) -> str:
    from jobs_app.runners import TRANSIENT_ERRORS, execute

    try:
        return execute(job_id=job_id, task_id=self.request.id, worker=self.request.hostname or "worker")
    except TRANSIENT_ERRORS as exc:  # the database was away before the job could start or record its end
        raise self.retry(exc=exc, countdown=5, max_retries=60) from None


@shared_task(name="jobs.reap", ignore_result=True)
def reap_jobs() -> list[str]:
    return services.reap_stale_jobs()


@shared_task(name="triggers.check", ignore_result=True)
def check_triggers() -> list[str]:
    from jobs_app import triggers

    return triggers.check_triggers()
