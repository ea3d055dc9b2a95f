"""GET /teams/{slug}/overview/: the dashboard's overview in one call, in a bounded number of queries."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs_app.models import Job, TriggerRun
from models_app.models import PredictionLog


def _log(world, model_version, *, labelled_at=None):
    return PredictionLog.objects.create(
        team=world.alpha,
        model=model_version.model,
        model_version=model_version,
        runtime="torch",
        input={"a": 1},
        output={"label": "x"},
        latency_ms=1,
        feedback={"label": "x"} if labelled_at else None,
        feedback_at=labelled_at,
    )


def _grow(world, n):
    now = timezone.now()
    for i in range(n):
        Job.objects.create(team=world.alpha, kind="train", status="running", started_at=now, progress=0.5)
        Job.objects.create(team=world.alpha, kind="evaluate", status="queued")
        Job.objects.create(team=world.alpha, kind="train", status="succeeded", finished_at=now - dt.timedelta(i))


def test_overview(world, iris_version, model_version):
    from jobs_app.triggers import create_trigger
    from models_app.services import set_alias, set_gate

    set_gate(actor=world.users["maintainer"], model=model_version.model, dataset_version=iris_version)
    set_alias(actor=world.users["member"], model=model_version.model, alias="staging", version=model_version)
    trigger = create_trigger(
        actor=world.users["maintainer"],
        team=world.alpha,
        model=model_version.model,
        base_dataset_version=iris_version,
        min_feedback=3,
    )
    now = timezone.now()
    _log(world, model_version, labelled_at=now - dt.timedelta(hours=30))
    _log(world, model_version, labelled_at=now - dt.timedelta(hours=1))
    _log(world, model_version)
    client = world.client("viewer")
    body = client.get("/api/v1/teams/alpha/overview/").json()
    assert body["team"] == "alpha"
    assert body["datasets"]["count"] == 1
    assert body["datasets"]["recent"][0] == {
        "id": str(iris_version.dataset_id),
        "name": iris_version.dataset.name,
        "task": "classification",
        "versions": 1,
        "updated_at": body["datasets"]["recent"][0]["updated_at"],
    }
    (model,) = body["models"]
    assert model["latest_version"] == {"id": str(model_version.pk), "version": model_version.version}
    assert model["aliases"] == {"staging": {"id": str(model_version.pk), "version": model_version.version}}
    assert body["serving"] == {"predictions_24h": 3, "feedback_24h": 1}
    (listed,) = body["triggers"]
    assert listed["id"] == str(trigger.pk) and listed["model"] == {
        "id": str(model_version.model_id),
        "name": "flower-clf",
    }
    assert listed["feedback_waiting"] == 2 and listed["last_fired_at"] is None and listed["enabled"] is True
    # after a run, only the feedback since counts (the number check_triggers compares with min_feedback)
    trigger.feedback_seen_until = now - dt.timedelta(hours=2)
    trigger.save()
    run = TriggerRun.objects.create(trigger=trigger, feedback_until=trigger.feedback_seen_until, status="promoted")
    listed = client.get("/api/v1/teams/alpha/overview/").json()["triggers"][0]
    assert listed["feedback_waiting"] == 1
    assert listed["last_fired_at"] == run.created_at.isoformat().replace("+00:00", "Z")
    assert body["usage"] == client.get("/api/v1/teams/alpha/usage/").json()
    assert client.get("/api/v1/teams/beta/overview/").status_code == 404
    assert world.client("outsider").get("/api/v1/teams/alpha/overview/").status_code == 404


def test_overview_jobs_and_bounded_queries(world, model_version):
    client = world.client("viewer")
    client.get("/api/v1/me/")

    def cost():
        with CaptureQueriesContext(connection) as queries:
            body = client.get("/api/v1/teams/alpha/overview/").json()
        return len(queries.captured_queries), body

    _grow(world, 2)
    small, _ = cost()
    _grow(world, 30)
    large, body = cost()
    assert small == large, (small, large)
    jobs = body["jobs"]
    assert jobs["by_status"]["running"] == 32 and jobs["by_status"]["queued"] == 32 and jobs["by_status"]["failed"] == 0
    assert len(jobs["recent"]) == 5 and len(jobs["running"]) == 20 and len(jobs["queued"]) == 20
    finished = [j["finished_at"] for j in jobs["recent"]]
    assert finished == sorted(finished, reverse=True)
    assert jobs["queued"][0]["queue_reason"] and set(jobs["queued"][0]) == {"id", "kind", "queue_reason", "created_at"}
