"""The job state machine on the worker side, driven directly: stale deliveries do nothing, one output per
job, transient errors retry up to max_retries, the reaper re-queues silent jobs and gives up on ones that
keep killing their worker."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from jobs_app import services
from jobs_app.models import Job, JobStatus
from jobs_app.services import dispatch


@pytest.fixture
def job(world, iris_version):
    return services.submit_job(
        actor=world.users["member"],
        team=world.alpha,
        kind="train",
        spec={"dataset_version": str(iris_version.pk), "model": "m"},
        max_retries=1,
    )


def test_only_the_current_delivery_may_start_the_job(job):
    assert services.begin_attempt(job_id=job.pk, task_id="someone-else", worker="w") is None
    started = services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w1")
    assert started.status == JobStatus.RUNNING and started.attempts == 1 and started.heartbeat_at
    assert services.heartbeat(job_id=job.pk, task_id="someone-else", progress=0.5) == "lost"
    assert services.heartbeat(job_id=job.pk, task_id=job.task_id, progress=0.5) is None
    job.refresh_from_db()
    assert job.progress == 0.5
    with pytest.raises(services.Lost):
        services.fail(job_id=job.pk, task_id="someone-else", error="x")


def test_a_job_completes_once_and_registers_one_output(job):
    services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w")
    calls = []
    services.complete(job_id=job.pk, task_id=job.task_id, register=lambda j: calls.append(j) or {"n": 1})
    with pytest.raises(services.Lost):
        services.complete(job_id=job.pk, task_id=job.task_id, register=lambda j: calls.append(j) or {"n": 2})
    job.refresh_from_db()
    assert len(calls) == 1 and job.status == JobStatus.SUCCEEDED and job.outputs == {"n": 1}
    assert services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w") is None  # redelivered later


def test_the_database_refuses_a_second_model_version_for_a_job(job, model_version):
    from jobs_app.models import OutputKind

    services.record_output(job=job, kind=OutputKind.MODEL_VERSION, object_id=model_version.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        services.record_output(job=job, kind=OutputKind.MODEL_VERSION, object_id=__import__("uuid").uuid4())


def test_a_failed_register_leaves_the_job_running_and_nothing_written(job):
    services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w")

    def register(locked):
        Job.objects.filter(pk=locked.pk).update(error="half-written")
        raise RuntimeError("storage full")

    with pytest.raises(RuntimeError):
        services.complete(job_id=job.pk, task_id=job.task_id, register=register)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.error == ""


def test_transient_errors_retry_up_to_max_retries(job, monkeypatch, django_capture_on_commit_callbacks):
    """The runner is replaced by one that raises a database OperationalError (a transient fault we cannot
    cause for real without taking PostgreSQL down under the test)."""
    from jobs_app import runners

    def flaky(job, reporter):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(runners, "_runner", lambda kind: flaky)
    first_task = job.task_id
    with django_capture_on_commit_callbacks() as sent:
        assert runners.execute(job_id=job.pk, task_id=first_task, worker="w") == JobStatus.QUEUED
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.attempts == 1 and job.task_id != first_task
    assert len(sent) == 1  # re-enqueued, with a back-off
    assert "OperationalError" in job.error
    # the old delivery, if the broker hands it out again, is stale
    assert runners.execute(job_id=job.pk, task_id=first_task, worker="w") == "skipped"
    assert runners.execute(job_id=job.pk, task_id=job.task_id, worker="w") == JobStatus.FAILED
    job.refresh_from_db()
    assert job.attempts == 2 and job.error.endswith("(gave up after 2 attempts)")
    lines = list(job.log_lines.values_list("line", flat=True))
    assert any("retry 1 of 1" in line for line in lines)
    assert any("Traceback" in line for line in lines)


def test_user_errors_fail_at_once_with_their_message(job, monkeypatch):
    from jobs_app import runners
    from ml.data import DataError

    def broken(job, reporter):
        raise DataError("the target has missing values; drop those rows first")

    monkeypatch.setattr(runners, "_runner", lambda kind: broken)
    assert runners.execute(job_id=job.pk, task_id=job.task_id, worker="w") == JobStatus.FAILED
    job.refresh_from_db()
    assert job.error == "the target has missing values; drop those rows first" and job.attempts == 1


def test_unexpected_errors_fail_with_one_line_and_the_traceback_in_the_log(job, monkeypatch):
    from jobs_app import runners

    def buggy(job, reporter):
        return {}["missing"]

    monkeypatch.setattr(runners, "_runner", lambda kind: buggy)
    runners.execute(job_id=job.pk, task_id=job.task_id, worker="w")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == "KeyError: 'missing'"
    assert any("Traceback" in line for line in job.log_lines.values_list("line", flat=True))


def test_the_reaper_requeues_silent_jobs_and_gives_up_on_repeat_offenders(job, settings):
    settings.ECO_HEARTBEAT_TIMEOUT_S = 60
    services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w")
    assert services.reap_stale_jobs() == []  # alive
    old_task = job.task_id
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    assert services.reap_stale_jobs() == [str(job.pk)]
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.task_id != old_task
    # the dead worker's delivery cannot write any more
    with pytest.raises(services.Lost):
        services.record_checkpoint(job_id=job.pk, task_id=old_task, name="x")

    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=1 + services.WORKER_LOSSES_TOLERATED + 1, heartbeat_at=None
    )
    services.reap_stale_jobs()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "stopped responding" in job.error


def test_a_cancel_requested_before_the_delivery_starts_wins(job, world):
    services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w")
    services.cancel_job(actor=world.users["member"], job=job)
    assert services.heartbeat(job_id=job.pk, task_id=job.task_id, progress=0.1) == "cancel"
    Job.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    assert services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w") is None
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED


def test_job_priorities_map_onto_the_brokers_scale():
    assert [services.broker_priority(p) for p in (10, 5, 0, -5, -10)] == [0, 2, 4, 7, 9]


def test_a_second_delivery_of_a_live_job_is_turned_away(job):
    """Redis may hand a message out twice; while the first delivery heartbeats, the second does nothing."""
    services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w1")
    assert services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w2") is None
    job.refresh_from_db()
    assert job.attempts == 1 and job.worker == "w1"


def test_a_redelivery_after_the_worker_died_takes_over_but_not_forever(job, settings):
    settings.ECO_HEARTBEAT_TIMEOUT_S = 60
    services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w1")
    for attempt in range(2, 2 + job.max_retries + services.WORKER_LOSSES_TOLERATED):
        Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
        assert services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker=f"w{attempt}") is not None
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    assert services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="again") is None
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "stopped responding" in job.error


def test_a_job_the_broker_never_took_is_sent_again(job):
    """Sent for real to the test broker; the message is harmless once this test's rows are rolled back."""
    assert job.sent_at is None  # the on-commit send never ran inside this test's transaction
    assert services.reap_stale_jobs() == []  # not yet: it may still be on its way
    Job.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() - timedelta(seconds=31))
    task_id = job.task_id
    assert services.reap_stale_jobs() == [str(job.pk)]
    job.refresh_from_db()
    assert job.sent_at is not None and job.task_id == task_id  # the same delivery, so it keeps its place
    assert services.reap_stale_jobs() == []  # sent once


def test_sending_with_the_broker_away_leaves_the_job_for_the_reaper(job, monkeypatch):
    from celery import current_app

    def down(*args, **kwargs):
        raise ConnectionError("broker away")

    monkeypatch.setattr(current_app, "send_task", down)
    assert dispatch.send(job.pk, job.task_id, "cpu", 4) is False
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.sent_at is None


def test_stuck_runs_are_ended_by_the_reaper(world, job, settings):
    """A delivery stuck outside the train loop never sees its cancel or timeout; the reaper ends the job and
    the stuck delivery can no longer write."""
    settings.ECO_HEARTBEAT_TIMEOUT_S = 60
    services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w")
    old_task = job.task_id
    Job.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now() - timedelta(seconds=61))
    assert services.reap_stale_jobs() == [str(job.pk)]
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    with pytest.raises(services.Lost):
        services.complete(job_id=job.pk, task_id=old_task, register=lambda j: {})

    other = services.submit_job(
        actor=world.users["member"],
        team=world.alpha,
        kind="train",
        spec={"dataset_version": job.spec["dataset_version"], "model": "m"},
        timeout_s=10,
    )
    services.begin_attempt(job_id=other.pk, task_id=other.task_id, worker="w")
    Job.objects.filter(pk=other.pk).update(attempt_started_at=timezone.now() - timedelta(seconds=69))
    assert services.reap_stale_jobs() == []  # within timeout + grace
    Job.objects.filter(pk=other.pk).update(attempt_started_at=timezone.now() - timedelta(seconds=71))
    assert services.reap_stale_jobs() == [str(other.pk)]
    other.refresh_from_db()
    assert other.status == JobStatus.FAILED and other.error.startswith("timed out")
