"""The tracking job kind: a run outside the workers, running from the moment it is submitted, never sent to a
broker, ended by its creator, listed like any job; its lineage ids are checked like a train job's."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts_app.models import AuditEvent
from jobs_app import services
from jobs_app.models import Job, JobStatus


def _submit(client, spec=None, **extra):
    return client.post(
        "/api/v1/jobs/", {"team": "alpha", "kind": "tracking", "spec": spec or {}, **extra}, format="json"
    )


def _finish(client, job_id, **body):
    return client.post(f"/api/v1/jobs/{job_id}/finish/", body, format="json")


@pytest.fixture
def beta_version(world):
    from datasets_app.services import create_dataset, create_version_from_builtin

    dataset = create_dataset(actor=world.outsider, team=world.beta, name="theirs", task="classification")
    return create_version_from_builtin(actor=world.outsider, dataset=dataset, name="iris")


def test_a_tracking_run_starts_at_once_and_is_never_sent_to_a_broker(
    world, iris_version, model, django_capture_on_commit_callbacks
):
    member = world.client("member")
    spec = {"model": str(model.pk), "dataset_version": str(iris_version.pk), "params": {"lr": 0.01, "layers": [8]}}
    with django_capture_on_commit_callbacks() as callbacks:
        response = _submit(member, spec)
    assert response.status_code == 201, response.json()
    assert callbacks == []  # nothing waits to be sent
    body = response.json()
    assert body["kind"] == "tracking" and body["status"] == "running" and body["started_at"]
    assert body["created_by"] == "alpha-member" and body["finished_at"] is None
    assert body["spec"] == {
        "dataset_version": str(iris_version.pk),
        "model": str(model.pk),
        "model_name": model.name,
        "params": {"lr": 0.01, "layers": [8]},
    }
    job = Job.objects.get(pk=body["id"])
    assert job.task_id == "" and job.sent_at is None and job.enqueued_at is None

    listed = world.client("viewer").get("/api/v1/jobs/?kind=tracking&status=running").json()
    assert [j["id"] for j in listed["results"]] == [body["id"]]
    assert world.client("viewer").get(f"/api/v1/jobs/{body['id']}/").json()["status"] == "running"
    assert _submit(member, {"model": "a-new-model"}).json()["spec"] == {"model": None, "model_name": "a-new-model"}
    assert _submit(world.client("viewer")).status_code == 403
    # it runs outside Eco's workers: it counts as a running job, but uses none of the team's compute
    job.refresh_from_db()
    Job.objects.filter(pk=job.pk).update(started_at=job.started_at - timedelta(hours=1))
    usage = world.client("viewer").get("/api/v1/teams/alpha/usage/").json()
    assert usage["running_jobs"] == 2 and usage["cpu_seconds"] == 0.0


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"dataset_version": "BETA"}, "spec.dataset_version"),
        ({"dataset_version": "not-an-id"}, "spec.dataset_version"),
        ({"model": "BETA_MODEL"}, "spec.model"),
        ({"model": 7}, "spec.model"),
        ({"model": "x" * 201}, "spec.model"),
        ({"params": [1, 2]}, "spec.params"),
        ({"params": {"blob": "x" * 70_000}}, "spec.params"),
        ({"architecture": "mlp"}, "spec.architecture"),
        ({"description": 5}, "spec.description"),
    ],
)
def test_a_tracking_spec_is_checked_like_a_train_spec(world, beta_version, spec, field):
    from models_app.services import create_model

    theirs = create_model(actor=world.outsider, team=world.beta, name="their-model", task="classification")
    spec = {
        key: {"BETA": str(beta_version.pk), "BETA_MODEL": str(theirs.pk)}.get(value, value)
        if isinstance(value, str)
        else value
        for key, value in spec.items()
    }
    response = _submit(world.client("member"), spec)
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert not Job.objects.exists()


def test_a_model_of_another_task_is_refused_for_the_runs_data(world, iris_version):
    from models_app.services import create_model

    create_model(actor=world.users["member"], team=world.alpha, name="prices", task="regression")
    response = _submit(world.client("member"), {"model": "prices", "dataset_version": str(iris_version.pk)})
    assert response.status_code == 400 and "spec.model" in response.json()["errors"]


def test_only_its_creator_ends_a_tracking_run_and_only_once(world):
    job_id = _submit(world.client("member")).json()["id"]
    for who in ("maintainer", "admin"):
        assert _finish(world.client(who), job_id, status="succeeded").status_code == 403
    assert _finish(world.client("viewer"), job_id, status="succeeded").status_code == 403
    assert _finish(world.client("outsider"), job_id, status="succeeded").status_code == 404
    assert _finish(world.client("member"), job_id, status="cancelled").status_code == 400
    assert _finish(world.client("member"), job_id).status_code == 400

    response = _finish(world.client("member"), job_id, status="failed", error="CUDA out of memory\n  at step 7")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "failed" and body["error"] == "CUDA out of memory at step 7" and body["finished_at"]
    assert _finish(world.client("member"), job_id, status="succeeded").status_code == 409
    assert AuditEvent.objects.filter(action="job.finish", target_id=job_id).count() == 1
    lines = list(Job.objects.get(pk=job_id).log_lines.order_by("id").values_list("line", flat=True))
    assert lines == ["tracking run started by alpha-member", "failed: CUDA out of memory at step 7"]

    other = _submit(world.client("member")).json()["id"]
    done = _finish(world.client("member"), other, status="succeeded").json()
    assert done["status"] == "succeeded" and done["progress"] == 1.0 and done["error"] == ""


def test_a_worker_job_is_not_ended_through_finish(world, iris_version):
    job = services.submit_job(
        actor=world.users["member"],
        team=world.alpha,
        kind="train",
        spec={"dataset_version": str(iris_version.pk), "model": "m"},
    )
    response = _finish(world.client("member"), job.pk, status="succeeded")
    assert response.status_code == 400
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_a_cancelled_tracking_run_ends_at_once_and_the_reaper_leaves_runs_alone(world, settings):
    settings.ECO_HEARTBEAT_TIMEOUT_S = 1
    job_id = _submit(world.client("member")).json()["id"]
    assert services.reap_stale_jobs(now=timezone.now() + timedelta(days=1)) == []  # no heartbeat, not lost
    assert Job.objects.get(pk=job_id).status == JobStatus.RUNNING

    response = world.client("maintainer").post(f"/api/v1/jobs/{job_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert world.client("maintainer").post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 409
    assert _finish(world.client("member"), job_id, status="succeeded").status_code == 409


def test_a_tracking_run_names_its_model_like_a_train_job(world, model):
    """The model name follows the same rule as a train job's: found without regard to case, printable only."""
    member = world.client("member")
    body = _submit(member, {"model": model.name.upper()}).json()
    assert body["spec"]["model"] == str(model.pk) and body["spec"]["model_name"] == model.name
    refused = _submit(member, {"model": "bad\u202ename"})
    assert refused.status_code == 400 and "U+202E" in refused.json()["errors"]["spec.model"][0]
