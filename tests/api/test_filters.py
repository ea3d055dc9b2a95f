"""List filters (django-filter FilterSets): each narrows its list, an invalid value answers 400 in the error
shape naming the parameter, and the schema documents every one."""

import pytest
from django.utils import timezone

from jobs_app.models import JobStatus
from models_app.models import Evaluation, PredictionLog
from tests.factories import EvaluationFactory


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("/api/v1/jobs/?status=done", "status"),
        ("/api/v1/jobs/?kind=dance", "kind"),
        ("/api/v1/jobs/?status=queued,done", "status"),
        ("/api/v1/jobs/?ordering=name", "ordering"),
        ("/api/v1/jobs/?created_after=yesterday", "created_after"),
        ("/api/v1/jobs/?created_before=2026-13-01", "created_before"),
        ("/api/v1/jobs/?created_after=0001-01-01T00:30:00%2B01:00", "created_after"),
        ("/api/v1/datasets/?task=poetry", "task"),
        ("/api/v1/datasets/?sensitivity=secret", "sensitivity"),
        ("/api/v1/models/?task=poetry", "task"),
        ("/api/v1/evaluations/?model_version=12", "model_version"),
        ("/api/v1/evaluations/?model=12", "model"),
        ("/api/v1/evaluations/?dataset_version=not-an-id", "dataset_version"),
        ("/api/v1/evaluations/?split=holdout", "split"),
        ("/api/v1/predictions/?model=x", "model"),
        ("/api/v1/predictions/?model_version=x", "model_version"),
        ("/api/v1/predictions/?has_feedback=maybe", "has_feedback"),
    ],
)
def test_an_invalid_filter_value_is_a_400_naming_the_parameter(world, url, param):
    response = world.client("viewer").get(url)
    assert response.status_code == 400, (url, response.content)
    body = response.json()
    assert body["code"] == "invalid" and list(body["errors"]) == [param] and body["detail"].startswith(f"{param}: ")


def test_filters_narrow_the_lists(world, dataset, iris_version, model, model_version):
    viewer = world.client("viewer")
    assert viewer.get("/api/v1/datasets/?team=alpha&task=classification&search=FLOW").json()["count"] == 1
    assert viewer.get("/api/v1/datasets/?task=regression").json()["count"] == 0
    assert viewer.get("/api/v1/datasets/?team=beta").json()["count"] == 0
    assert viewer.get("/api/v1/models/?team=alpha&search=clf").json()["count"] == 1
    assert viewer.get("/api/v1/models/?search=nothing-like-it").json()["count"] == 0
    assert viewer.get("/api/v1/triggers/?team=alpha").status_code == 200

    def log(feedback: bool):
        return PredictionLog.objects.create(
            team=world.alpha,
            model=model,
            model_version=model_version,
            runtime="torch",
            input={"a": 1},
            output={"label": "x"},
            latency_ms=1,
            feedback={"label": "x"} if feedback else None,
            feedback_at=timezone.now() if feedback else None,
        )

    labelled, unlabelled = log(True), log(False)
    ids = lambda q: [p["id"] for p in viewer.get(f"/api/v1/predictions/?{q}").json()["results"]]  # noqa: E731
    assert ids("has_feedback=true") == [str(labelled.pk)]
    assert ids("has_feedback=false") == [str(unlabelled.pk)]
    assert sorted(ids(f"model={model.pk}&model_version={model_version.pk}")) == sorted(
        [str(labelled.pk), str(unlabelled.pk)]
    )
    assert ids("model=00000000-0000-0000-0000-000000000000") == []


def test_evaluations_by_dataset_version_are_a_leaderboard_of_the_test_split(world, iris_version, model_version):
    def evaluation(split, score):
        return Evaluation.objects.create(
            model_version=model_version, dataset_version=iris_version, split=split, metric="accuracy", score=score
        )

    low, high, train = evaluation("test", 0.5), evaluation("test", 0.9), evaluation("train", 1.0)
    viewer = world.client("viewer")
    ids = lambda q: [e["id"] for e in viewer.get(f"/api/v1/evaluations/?{q}").json()["results"]]  # noqa: E731
    assert ids(f"dataset_version={iris_version.pk}") == [str(high.pk), str(low.pk)]
    assert ids(f"dataset_version={iris_version.pk}&split=train") == [str(train.pk)]
    assert ids("split=train") == [str(train.pk)]
    newest_first = [str(train.pk), str(high.pk), str(low.pk)]
    assert ids(f"model_version={model_version.pk}&team=alpha") == newest_first
    assert ids("team=beta") == []
    # every version of a model in one list; another model's evaluations stay out
    other = EvaluationFactory(model_version__model__team=world.alpha)
    assert ids(f"model={model_version.model_id}") == newest_first
    assert ids(f"model={other.model_version.model_id}") == [str(other.pk)]


def test_the_schema_documents_every_filter(world):
    schema = world.client("viewer").get("/api/schema/?format=json").json()

    def params(path):
        return {p["name"]: p for p in schema["paths"][path]["get"]["parameters"] if p["in"] == "query"}

    expected = {
        "/api/v1/jobs/": {"team", "status", "kind"},
        "/api/v1/datasets/": {"team", "task", "sensitivity", "search"},
        "/api/v1/models/": {"team", "task", "search"},
        "/api/v1/evaluations/": {"model", "model_version", "dataset_version", "split", "team"},
        "/api/v1/predictions/": {"model", "model_version", "has_feedback"},
        "/api/v1/triggers/": {"team"},
        "/api/v1/audit-events/": {"team", "action", "action__startswith", "actor", "since", "until"},
    }
    for path, names in expected.items():
        assert names <= set(params(path)), (path, sorted(params(path)))
    assert params("/api/v1/jobs/")["status"]["schema"]["items"]["enum"] == sorted(JobStatus.values)
    assert {"search", "created_after", "created_before", "ordering"} <= set(params("/api/v1/jobs/"))
    assert params("/api/v1/predictions/")["has_feedback"]["schema"]["enum"] == ["false", "true"]
