"""Metric points belong to their writer: a worker job's come only from the worker running its current attempt
(its credential), a tracking job's only from its creator, before and after it ended. Everyone else is
refused and nothing is written."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs_app import attempts, metrics, services
from jobs_app.models import Job, JobLog, JobStatus, MetricChunk
from jobs_app.runners.reporter import RegistryReporter
from ml.errors import Conflict, Forbidden

POINTS = [{"key": "loss", "step": 1, "value": 0.5}, {"key": "loss", "step": 2, "value": 0.25}]


def _post(client, job_id, points=POINTS, token=None):
    headers = {attempts.HEADER: token} if token is not None else {}
    return client.post(f"/api/v1/jobs/{job_id}/metrics/", {"points": points}, format="json", headers=headers)


@pytest.fixture
def train_job(world, iris_version):
    return services.submit_job(
        actor=world.users["member"],
        team=world.alpha,
        kind="train",
        spec={"dataset_version": str(iris_version.pk), "model": "m"},
    )


def _tracking_run(client) -> str:
    response = client.post("/api/v1/jobs/", {"team": "alpha", "kind": "tracking", "spec": {}}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_a_member_cannot_post_into_a_running_worker_job_but_its_worker_can(world, train_job):
    member = world.client("member")
    assert _post(member, train_job.pk).status_code == 409  # queued: no attempt may write
    started = services.begin_attempt(job_id=train_job.pk, task_id=train_job.task_id, worker="w1")
    token = started.attempt_token
    stored = Job.objects.get(pk=train_job.pk)
    assert token.startswith("1.") and stored.attempt_token_hash == attempts.digest(token)
    assert token not in str(Job.objects.filter(pk=train_job.pk).values().get())  # only the hash is kept

    for who in ("member", "maintainer", "admin"):  # the job's creator included: not without the credential
        response = _post(world.client(who), train_job.pk)
        assert response.status_code == 403, response.json()
        assert attempts.HEADER in response.json()["detail"]
    assert _post(member, train_job.pk, token="1.guessed").status_code == 403
    assert not MetricChunk.objects.filter(job_id=train_job.pk).exists()

    response = _post(member, train_job.pk, token=token)
    assert response.status_code == 200, response.json()
    assert response.json()["written"] == 2
    assert [p[1] for p in metrics.stored_points(train_job.pk)] == [1, 2]
    # the credential does not lift the role rule or the team wall
    assert _post(world.client("viewer"), train_job.pk, token=token).status_code == 403
    assert _post(world.client("outsider"), train_job.pk, token=token).status_code == 404


def test_a_stale_attempts_credential_is_refused_over_the_api_and_in_the_workers_own_writes(world, train_job, settings):
    settings.ECO_HEARTBEAT_TIMEOUT_S = 60
    first = services.begin_attempt(job_id=train_job.pk, task_id=train_job.task_id, worker="w1").attempt_token
    # the worker goes silent; the reaper re-queues the job and a new delivery starts attempt 2
    Job.objects.filter(pk=train_job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=61))
    assert services.reap_stale_jobs() == [str(train_job.pk)]
    requeued = Job.objects.get(pk=train_job.pk)
    assert _post(world.client("member"), train_job.pk, token=first).status_code == 409  # queued again
    second = services.begin_attempt(job_id=train_job.pk, task_id=requeued.task_id, worker="w2").attempt_token
    assert second != first

    response = _post(world.client("member"), train_job.pk, token=first)
    assert response.status_code == 403
    assert "attempt 1's" in response.json()["detail"] and "attempt 2" in response.json()["detail"]
    with pytest.raises(Forbidden):
        attempts.write_from_worker(job_id=train_job.pk, token=first, lines=[(timezone.now(), "stale")])
    with pytest.raises(Forbidden):
        attempts.write_from_worker(job_id=train_job.pk, token=first, checkpoint="checkpoints/stale")
    assert not MetricChunk.objects.filter(job_id=train_job.pk).exists()
    assert not JobLog.objects.filter(job_id=train_job.pk, line="stale").exists()
    assert Job.objects.get(pk=train_job.pk).checkpoint == ""

    assert _post(world.client("member"), train_job.pk, token=second).status_code == 200
    services.fail(job_id=train_job.pk, task_id=requeued.task_id, error="over")
    assert _post(world.client("member"), train_job.pk, token=second).status_code == 409  # over: nobody writes
    with pytest.raises(Conflict):
        attempts.write_from_worker(job_id=train_job.pk, token=second, points=[("loss", 9, 1.0)])
    assert len(metrics.stored_points(train_job.pk)) == 2


def test_a_stale_reporter_drops_its_buffer_and_stops(world, iris_version, settings):
    """The reporter of an attempt that was replaced writes nothing more, and tells its run to stop."""
    settings.ECO_HEARTBEAT_INTERVAL_S = 30  # only explicit flushes here
    job = services.submit_job(
        actor=world.users["member"],
        team=world.alpha,
        kind="train",
        spec={"dataset_version": str(iris_version.pk), "model": "m"},
    )
    old = services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w1")
    reporter = RegistryReporter(old, job.task_id)
    reporter.log_metrics(1, {"loss": 0.5})
    reporter.log("epoch=1")
    assert reporter.flush() == ""
    # the same message is handed out again after the worker looked dead: attempt 2, same task id
    Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=3600))
    assert services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="w2").attempts == 2
    reporter.log_metrics(2, {"loss": 0.25})
    reporter.log("epoch=2")
    assert reporter.flush() is None
    assert reporter.should_stop() and reporter.stop_reason == "lost"
    reporter.save_checkpoint({}, {"epoch": 1})
    assert [p[1] for p in metrics.stored_points(job.pk)] == [1]
    assert "epoch=2" not in JobLog.objects.filter(job=job).values_list("line", flat=True)
    assert Job.objects.get(pk=job.pk).checkpoint == ""


def test_a_tracking_run_takes_points_from_its_creator_before_and_after_it_ends(world):
    creator = world.client("member")
    job_id = _tracking_run(creator)
    assert _post(creator, job_id).status_code == 200
    finished = creator.post(f"/api/v1/jobs/{job_id}/finish/", {"status": "succeeded"}, format="json")
    assert finished.status_code == 200 and finished.json()["status"] == "succeeded"
    # a spooled run sends the rest of its points later
    late = [{"key": "loss", "step": 3, "value": 0.125}]
    response = _post(creator, job_id, late)
    assert response.status_code == 200 and response.json()["written"] == 1
    assert sorted(p[1] for p in metrics.stored_points(job_id)) == [1, 2, 3]


def test_a_tracking_run_refuses_everyone_but_its_creator(world):
    job_id = _tracking_run(world.client("member"))
    overwrite = [{"key": "loss", "step": 1, "value": 99.0}]
    for who in ("maintainer", "admin", "viewer"):
        response = _post(world.client(who), job_id, overwrite)
        assert response.status_code == 403, (who, response.json())
    assert _post(world.client("outsider"), job_id, overwrite).status_code == 404
    # a worker's credential means nothing to a tracking run
    assert _post(world.client("admin"), job_id, overwrite, token="1.anything").status_code == 403
    world.client("member").post(f"/api/v1/jobs/{job_id}/finish/", {"status": "failed", "error": "oom"}, format="json")
    assert _post(world.client("admin"), job_id, overwrite).status_code == 403  # also after it ended
    assert not MetricChunk.objects.filter(job_id=job_id).exists()
    assert Job.objects.get(pk=job_id).status == JobStatus.FAILED
