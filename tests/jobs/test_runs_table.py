"""The runs table: metric summaries and params on every job (one query per page), the list's filters and
ordering, the column picker, the seeding command, and the test-only step delay of the train loop."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs_app import metrics
from jobs_app.models import Job
from jobs_app.specs import flat_params


def _job(world, team=None, **fields):
    defaults = {"kind": "train", "status": "succeeded", "spec": {}, "created_by": world.users["member"]}
    return Job.objects.create(team=team or world.alpha, **{**defaults, **fields})


def _list(client, **params):
    response = client.get("/api/v1/jobs/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_summaries_name_last_extremes_count_and_direction(world):
    job = _job(world, spec={"hyperparameters": {"lr": 0.01}, "architecture": "mlp"})
    metrics.ingest(job.pk, [("loss", s, v) for s, v in [(1, 2.0), (2, 0.5), (3, 0.5), (4, 0.9)]])
    metrics.ingest(job.pk, [("val_accuracy", 4, 0.7), ("val_accuracy", 8, 0.9), ("my_error_rate", 1, 3.0)])
    metrics.ingest(job.pk, [("samples", s, float(s % 100)) for s in range(1000)])  # several metric chunks
    body = world.client("viewer").get(f"/api/v1/jobs/{job.pk}/").json()
    summaries = body["metric_summaries"]
    assert summaries["loss"] == {
        "last": 0.9,
        "last_step": 4,
        "min": 0.5,
        "min_step": 2,  # the earliest step on ties
        "max": 2.0,
        "max_step": 1,
        "count": 4,
        "direction": "min",
    }
    assert summaries["val_accuracy"]["direction"] == "max" and summaries["val_accuracy"]["last"] == 0.9
    assert summaries["my_error_rate"]["direction"] == "min"  # by its name
    assert summaries["samples"] == {
        "last": 99.0,
        "last_step": 999,
        "min": 0.0,
        "min_step": 0,
        "max": 99.0,
        "max_step": 99,
        "count": 1000,
        "direction": "max",
    }
    assert body["params"] == {"architecture": "mlp", "hyperparameters.lr": 0.01}
    listed = _list(world.client("viewer"))["results"][0]
    assert listed["metric_summaries"] == summaries and listed["params"] == body["params"]


def test_direction_rule():
    assert metrics.direction("loss") == "min" and metrics.direction("val_RMSE") == "min"
    assert metrics.direction("perplexity") == "min" and metrics.direction("mae") == "min"
    assert metrics.direction("accuracy") == "max" and metrics.direction("throughput") == "max"
    assert metrics.direction("lr", "train") == "max"  # undeclared: by name
    assert metrics.direction("val_log_loss", "train") == "min" and metrics.direction("r2", "evaluate") == "max"


def test_params_are_the_specs_scalar_leaves_without_ids():
    spec = {
        "dataset_version": "6f1c2a3e-1d2b-4c5d-8e9f-0a1b2c3d4e5f",
        "model": "6f1c2a3e1d2b4c5d8e9f0a1b2c3d4e5f",
        "model_name": "clf",
        "architecture": "cnn",
        "hyperparameters": {"lr": 0.1, "epochs": 3, "extra": None},
        "options": {"hidden": [64, 32], "impute": {"x": True}},
        "split": {},
    }
    assert flat_params(spec) == {
        "architecture": "cnn",
        "hyperparameters.epochs": 3,
        "hyperparameters.lr": 0.1,
        "model_name": "clf",
        "options.impute.x": True,
    }
    assert flat_params(None) == {} and flat_params([1]) == {}


def test_summaries_of_a_page_cost_the_same_queries_whatever_its_size(world):
    client = world.client("viewer")
    client.get("/api/v1/me/")

    def grow(n):
        for i in range(n):
            job = _job(world, spec={"hyperparameters": {"lr": 0.1 * (i + 1)}})
            metrics.ingest(job.pk, [("loss", s, 1.0 / (s + 1)) for s in range(5)] + [("acc", 1, 0.5)])

    def cost():
        with CaptureQueriesContext(connection) as queries:
            body = _list(client, page_size=500)
        return len(queries.captured_queries), body

    grow(2)
    small, small_body = cost()
    grow(20)
    large, large_body = cost()
    assert large_body["count"] == 22 and all(
        job["metric_summaries"]["loss"]["count"] == 5 for job in large_body["results"]
    )
    assert small == large, (small, large)


def test_filters_search_and_ordering(world, model):
    now = timezone.now()
    a = _job(
        world,
        status="succeeded",
        spec={"model": str(model.pk)},
        created_at=now - dt.timedelta(days=3),
        started_at=now - dt.timedelta(days=3),
        finished_at=now - dt.timedelta(days=2),
        progress=1.0,
    )
    b = _job(
        world,
        status="failed",
        error="CUDA out of memory",
        spec={"model_name": "Big-Net"},
        created_at=now - dt.timedelta(days=2),
        started_at=now - dt.timedelta(days=1),
        progress=0.5,
    )
    c = _job(world, kind="evaluate", status="queued", created_at=now - dt.timedelta(days=1), progress=0.0)
    other = _job(world, team=world.beta, created_by=None)
    client = world.client("viewer")
    ids = lambda **p: [j["id"] for j in _list(client, **p)["results"]]  # noqa: E731
    assert ids() == [str(c.pk), str(b.pk), str(a.pk)]  # newest first; never another team's
    assert str(other.pk) not in ids(search=str(other.pk)[:8])
    assert ids(status="succeeded,failed") == [str(b.pk), str(a.pk)]
    assert ids(status="queued") == [str(c.pk)]
    assert ids(search=str(a.pk)[:6].upper()) == [str(a.pk)]
    assert ids(search="EVALU") == [str(c.pk)]
    assert ids(search="out of MEMORY") == [str(b.pk)]
    assert ids(search="big-net") == [str(b.pk)]
    assert ids(search=model.name.upper()) == [str(a.pk)]
    assert ids(search="   ") == ids()
    assert ids(created_after=(now - dt.timedelta(days=2, hours=1)).isoformat()) == [str(c.pk), str(b.pk)]
    assert ids(created_before=(now - dt.timedelta(days=2, hours=1)).isoformat()) == [str(a.pk)]
    assert ids(ordering="created_at") == [str(a.pk), str(b.pk), str(c.pk)]
    assert ids(ordering="progress") == [str(c.pk), str(b.pk), str(a.pk)]
    assert ids(ordering="-progress") == [str(a.pk), str(b.pk), str(c.pk)]
    assert ids(ordering="-started_at") == [str(b.pk), str(a.pk), str(c.pk)]  # not started: last either way
    assert ids(ordering="started_at") == [str(a.pk), str(b.pk), str(c.pk)]
    assert ids(ordering="-finished_at")[0] == str(a.pk)  # the only finished one; the others last
    assert ids(ordering="status") == [str(b.pk), str(c.pk), str(a.pk)]
    assert ids(ordering="-kind")[-1] == str(c.pk) and ids(ordering="kind")[0] == str(c.pk)
    assert ids(created_after="0722-10-26T05:58:52-22:38") == ids()  # an offset PostgreSQL refuses, made UTC
    page = _list(client, page_size=2, ordering="kind")
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    bad = client.get("/api/v1/jobs/", {"ordering": "-name"})
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["ordering"]


def test_columns_list_params_and_metrics_of_your_jobs(world):
    mine = _job(world, spec={"architecture": "mlp", "hyperparameters": {"lr": 0.1}})
    metrics.ingest(mine.pk, [("loss", 1, 1.0), ("val_accuracy", 1, 0.5)])
    tracking = _job(world, kind="tracking", status="running", spec={"model": "run-1", "tags": {"x": 1}})
    metrics.ingest(tracking.pk, [("custom_error", 1, 1.0)])
    theirs = _job(world, team=world.beta, created_by=None, spec={"secret": 1})
    metrics.ingest(theirs.pk, [("secret_metric", 1, 1.0)])
    client = world.client("viewer")
    body = client.get("/api/v1/jobs/columns/").json()
    assert body["params"] == ["architecture", "hyperparameters.lr", "model", "tags.x"]
    assert body["metrics"] == [
        {"key": "custom_error", "direction": "min"},
        {"key": "loss", "direction": "min"},
        {"key": "val_accuracy", "direction": "max"},
    ]
    train = client.get("/api/v1/jobs/columns/", {"team": "alpha", "kind": "train"}).json()
    assert train == {
        "params": ["architecture", "hyperparameters.lr"],
        "metrics": [{"key": "loss", "direction": "min"}, {"key": "val_accuracy", "direction": "max"}],
    }
    assert client.get("/api/v1/jobs/columns/", {"team": "beta"}).status_code == 404
    bad = client.get("/api/v1/jobs/columns/", {"kind": "dance"})
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["kind"]


def test_seed_jobs(world):
    call_command("seed_jobs", team="alpha", count=30, points=4)
    jobs = Job.objects.filter(team=world.alpha)
    assert jobs.count() == 30 and set(jobs.values_list("kind", flat=True)) == {"train"}
    assert set(jobs.values_list("status", flat=True)) <= {"succeeded", "failed"}
    body = _list(world.client("viewer"), page_size=5, ordering="-finished_at")
    summary = body["results"][0]["metric_summaries"]
    assert summary["loss"]["count"] == 4 and summary["val_accuracy"]["direction"] == "max"
    job = jobs.first()
    series = world.client("viewer").get(f"/api/v1/jobs/{job.pk}/metrics/", {"key": "loss", "max_points": 2}).json()
    assert series["count"] == series["total"] == 4 and series["downsampled"] is True  # read from the chunks' extremes
    with pytest.raises(CommandError):
        call_command("seed_jobs", team="nowhere", count=1)
    with pytest.raises(CommandError):
        call_command("seed_jobs", team="alpha", count=0)


def test_the_step_delay_is_slept_after_each_logged_step(monkeypatch):
    from ml import train as train_module
    from ml.pipeline import train
    from ml.train import NullReporter
    from tests.helpers import iris_columns

    slept = []
    monkeypatch.setattr(train_module.time, "sleep", slept.append)
    common = dict(task="classification", target="target", architecture="mlp", reporter=NullReporter())
    hyper = {"epochs": 1, "seed": 0, "batch_size": 16, "log_every": 2}
    train(iris_columns(), hyperparameters=hyper, **common)
    assert slept == []
    train(iris_columns(), hyperparameters=hyper, step_delay_s=0.25, **common)
    assert slept and set(slept) == {0.25}
