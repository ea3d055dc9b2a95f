"""Team isolation matrix: for every endpoint, a member of another team gets 404 (never a 403 that confirms
the object exists), a viewer cannot write (403), and a refused request changes nothing."""

import json

import pytest
from django.utils import timezone

from accounts_app.models import Membership
from datasets_app.models import Dataset, DatasetVersion
from jobs_app.models import Job, MetricPoint, RetrainTrigger, TriggerRun
from models_app.models import GatePolicy, ModelAlias, ModelVersion, PredictionLog, RegisteredModel
from tests.helpers import MLP_SPEC, safetensors_file


@pytest.fixture
def objects(world, dataset, iris_version, model, model_version):
    from jobs_app import metrics
    from jobs_app.services import submit_job
    from models_app.models import Evaluation

    ModelAlias.objects.create(model=model, alias="production", version=model_version)
    job = submit_job(
        actor=world.users["member"],
        team=world.alpha,
        kind="train",
        spec={"dataset_version": str(iris_version.pk), "model": "m"},
    )
    metrics.ingest(job.pk, [("loss", 1, 0.5)])
    Evaluation.objects.create(model_version=model_version, dataset_version=iris_version, metric="accuracy", score=1)
    GatePolicy.objects.create(model=model, dataset_version=iris_version, aliases=["production"])
    prediction = PredictionLog.objects.create(
        team=world.alpha,
        model=model,
        model_version=model_version,
        runtime="torch",
        input={"a": 1},
        output={"label": "x"},
        latency_ms=1,
    )
    trigger = RetrainTrigger.objects.create(
        team=world.alpha, model=model, base_dataset_version=iris_version, promote_if={"alias": "production"}
    )
    run = TriggerRun.objects.create(trigger=trigger, feedback_until=timezone.now(), status="promoted")
    return {
        "ds": dataset.pk,
        "dv": iris_version.pk,
        "m": model.pk,
        "mv": model_version.pk,
        "job": job.pk,
        "p": prediction.pk,
        "t": trigger.pk,
        "run": run.pk,
    }


READS = [
    "/api/v1/teams/alpha/",
    "/api/v1/teams/alpha/members/",
    "/api/v1/teams/alpha/members/alpha-member/",
    "/api/v1/teams/alpha/usage/",
    "/api/v1/datasets/{ds}/",
    "/api/v1/datasets/{ds}/versions/",
    "/api/v1/dataset-versions/{dv}/",
    "/api/v1/dataset-versions/{dv}/preview/",
    "/api/v1/dataset-versions/{dv}/download/",
    "/api/v1/dataset-versions/{dv}/lineage/",
    "/api/v1/models/{m}/",
    "/api/v1/models/{m}/versions/",
    "/api/v1/models/{m}/aliases/",
    "/api/v1/models/{m}/aliases/production/",
    "/api/v1/model-versions/{mv}/",
    "/api/v1/model-versions/{mv}/download/",
    "/api/v1/jobs/{job}/",
    "/api/v1/jobs/{job}/logs/",
    "/api/v1/jobs/{job}/metrics/",
    "/api/v1/jobs/{job}/metrics/?key=loss",
    "/api/v1/models/{m}/gate/",
    "/api/v1/predictions/{p}/",
    "/api/v1/triggers/{t}/",
    "/api/v1/triggers/{t}/runs/",
    "/api/v1/trigger-runs/{run}/",
]


def _weights_payload(o):
    return {"weights": safetensors_file(), "spec": MLP_SPEC}


WRITES = [
    ("post", "/api/v1/teams/alpha/members/", lambda o: {"username": "beta-admin", "role": "viewer"}, "json"),
    ("patch", "/api/v1/teams/alpha/members/alpha-member/", lambda o: {"role": "admin"}, "json"),
    ("delete", "/api/v1/teams/alpha/members/alpha-member/", None, None),
    ("patch", "/api/v1/datasets/{ds}/", lambda o: {"description": "changed"}, "json"),
    ("delete", "/api/v1/datasets/{ds}/", None, None),
    ("post", "/api/v1/datasets/{ds}/versions/", lambda o: {"builtin": "iris"}, "json"),
    ("patch", "/api/v1/models/{m}/", lambda o: {"card": "changed"}, "json"),
    ("delete", "/api/v1/models/{m}/", None, None),
    ("post", "/api/v1/models/{m}/versions/", _weights_payload, "multipart"),
    ("post", "/api/v1/models/{m}/aliases/", lambda o: {"alias": "staging", "version": str(o["mv"])}, "json"),
    ("delete", "/api/v1/models/{m}/aliases/production/", None, None),
    ("post", "/api/v1/jobs/{job}/cancel/", None, None),
    ("post", "/api/v1/jobs/{job}/metrics/", lambda o: {"points": [{"key": "loss", "step": 1, "value": 9}]}, "json"),
    ("put", "/api/v1/models/{m}/gate/", lambda o: {"dataset_version": str(o["dv"]), "min_gain": 0.5}, "json"),
    ("delete", "/api/v1/models/{m}/gate/", None, None),
    ("post", "/api/v1/predictions/{p}/feedback/", lambda o: {"label": "x"}, "json"),
    ("patch", "/api/v1/triggers/{t}/", lambda o: {"enabled": False}, "json"),
    ("delete", "/api/v1/triggers/{t}/", None, None),
    ("post", "/api/v1/triggers/{t}/fire/", None, None),
]


def state():
    return (
        list(Membership.objects.order_by("id").values_list("user_id", "role")),
        list(Dataset.objects.values_list("id", "description")),
        DatasetVersion.objects.count(),
        list(RegisteredModel.objects.values_list("id", "card")),
        ModelVersion.objects.count(),
        list(ModelAlias.objects.values_list("alias", "version_id")),
        list(Job.objects.values_list("id", "status", "cancel_requested_at")),
        list(MetricPoint.objects.values_list("key", "step", "value")),
        list(GatePolicy.objects.values_list("model_id", "min_gain")),
        list(PredictionLog.objects.values_list("id", "feedback")),
        list(RetrainTrigger.objects.values_list("id", "enabled")),
        TriggerRun.objects.count(),
    )


def send(client, method, url, payload, fmt):
    kwargs = {"format": fmt} if fmt else {}
    return getattr(client, method)(url, payload, **kwargs) if payload is not None else getattr(client, method)(url)


@pytest.mark.parametrize("url", READS)
def test_outsider_gets_404_on_reads_and_members_get_200(world, objects, url):
    url = url.format(**objects)
    response = world.client("outsider").get(url)
    assert response.status_code == 404, (url, response.status_code)
    assert response.json()["code"] == "not_found"
    assert world.client("viewer").get(url).status_code == 200


@pytest.mark.parametrize(("method", "url", "payload", "fmt"), WRITES)
def test_outsider_gets_404_and_viewer_403_on_writes_and_nothing_changes(world, objects, method, url, payload, fmt):
    url = url.format(**objects)
    before = state()
    outsider = send(world.client("outsider"), method, url, payload(objects) if payload else None, fmt)
    assert outsider.status_code == 404, (url, outsider.status_code, outsider.content)
    viewer = send(world.client("viewer"), method, url, payload(objects) if payload else None, fmt)
    assert viewer.status_code == 403, (url, viewer.status_code, viewer.content)
    assert viewer.json()["code"] == "permission_denied" and "role" in viewer.json()["detail"]
    assert state() == before


@pytest.mark.parametrize(
    ("url", "payload"),
    [
        ("/api/v1/datasets/", {"team": "alpha", "name": "x", "task": "classification"}),
        ("/api/v1/models/", {"team": "alpha", "name": "x", "task": "classification"}),
    ],
)
def test_creating_in_a_team_needs_membership_and_a_writing_role(world, url, payload):
    before = state()
    outsider = world.client("outsider").post(url, payload, format="json")
    assert outsider.status_code == 400 and outsider.json()["errors"]["team"] == ["No team 'alpha' among your teams."]
    assert world.client("viewer").post(url, payload, format="json").status_code == 403
    assert state() == before
    assert world.client("member").post(url, payload, format="json").status_code == 201


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/teams/",
        "/api/v1/datasets/",
        "/api/v1/models/",
        "/api/v1/audit-events/",
        "/api/v1/jobs/",
        "/api/v1/evaluations/",
        "/api/v1/predictions/",
        "/api/v1/triggers/",
    ],
)
def test_lists_show_only_the_callers_teams(world, objects, url):
    outsider = world.client("outsider").get(url).json()
    text = json.dumps(outsider)
    assert "alpha" not in text and str(objects["ds"]) not in text and str(objects["m"]) not in text
    assert world.client("admin").get(url).json()["count"] >= 1


def test_unknown_ids_are_404(world):
    missing = "00000000-0000-0000-0000-000000000000"
    client = world.client("admin")
    for url in [
        f"/api/v1/datasets/{missing}/",
        f"/api/v1/dataset-versions/{missing}/",
        f"/api/v1/models/{missing}/",
        f"/api/v1/model-versions/{missing}/",
        f"/api/v1/jobs/{missing}/",
        "/api/v1/datasets/not-a-uuid/",
        "/api/v1/teams/nope/",
    ]:
        assert client.get(url).status_code == 404, url
