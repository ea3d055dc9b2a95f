"""GET /models/{id}/timeline/: the model's story as nodes and edges, in a fixed number of queries."""

from django.utils import timezone

from jobs_app.models import Job, JobOutput, RetrainTrigger, TriggerRun
from models_app.models import ModelVersion, PredictionLog
from models_app.services import record_feedback, set_alias

SETOSA = [5.1, 3.5, 1.4, 0.2]


def _story(world, model, iris_version, trained):
    """A train job made v1 from iris; production -> v1; two predictions, one labelled; a retrain run snapshot
    the feedback into iris v2 and started a train job."""
    from datasets_app.services import create_version_from_builtin

    member = world.users["member"]
    job = Job.objects.create(team=world.alpha, kind="train", spec={}, status="succeeded", created_by=member)
    JobOutput.objects.create(job=job, kind="model_version", object_id=trained.pk)
    response = world.client("viewer").post(
        f"/api/v1/models/{model.pk}/predict/", {"alias": "production", "inputs": [SETOSA, SETOSA]}, format="json"
    )
    first = PredictionLog.objects.get(pk=response.json()["predictions"][0]["id"])
    record_feedback(actor=member, prediction=first, label="setosa")
    snapshot = create_version_from_builtin(actor=member, dataset=iris_version.dataset, name="iris")
    trigger = RetrainTrigger.objects.create(
        team=world.alpha, model=model, base_dataset_version=iris_version, min_feedback=1, train={}
    )
    run = TriggerRun.objects.create(
        trigger=trigger, feedback_until=timezone.now(), feedback_count=1, dataset_version=snapshot, status="running"
    )
    retrain = Job.objects.create(team=world.alpha, kind="train", spec={}, trigger_run=run, created_by=member)
    return job, snapshot, run, retrain


def test_the_timeline_tells_the_models_story(world, model, iris_version, trained, django_assert_max_num_queries):
    job, snapshot, run, retrain = _story(world, model, iris_version, trained)
    viewer = world.client("viewer")  # any team role
    viewer.get("/api/v1/me/")
    with django_assert_max_num_queries(16):
        response = viewer.get(f"/api/v1/models/{model.pk}/timeline/")
    assert response.status_code == 200, response.json()
    body = response.json()
    nodes = {n["id"]: n for n in body["nodes"]}
    assert len(nodes) == len(body["nodes"])  # unique ids
    assert all(e["source"] in nodes and e["target"] in nodes for e in body["edges"])
    (move,) = [n for n in body["nodes"] if n["type"] == "alias_move"]
    assert move["label"] == "production → v1" and move["ref"]["type"] == "audit_event"
    assert move["data"]["alias"] == "production" and move["data"]["by"] == "alpha-member"
    predictions, feedback = nodes[f"predictions:{trained.pk}"], nodes[f"feedback:{trained.pk}"]
    assert predictions["data"]["count"] == 2 and predictions["ref"] is None
    assert feedback["data"]["count"] == 1
    assert (predictions["label"], feedback["label"]) == ("2 predictions", "1 label")
    assert nodes[f"model_version:{trained.pk}"]["ref"] == {"type": "model_version", "id": str(trained.pk)}
    assert nodes[f"job:{job.pk}"]["data"] == {"kind": "train", "status": "succeeded"}
    assert nodes[f"trigger_run:{run.pk}"]["data"]["status"] == "running"
    edges = {(e["source"], e["target"]): e["label"] for e in body["edges"]}
    assert edges == {
        (f"dataset_version:{iris_version.pk}", f"job:{job.pk}"): "train",
        (f"job:{job.pk}", f"model_version:{trained.pk}"): "produced",
        (f"model_version:{trained.pk}", move["id"]): "alias",
        (f"model_version:{trained.pk}", f"predictions:{trained.pk}"): "served",
        (f"predictions:{trained.pk}", f"feedback:{trained.pk}"): "labelled",
        (f"feedback:{trained.pk}", f"trigger_run:{run.pk}"): "triggered",
        (f"trigger_run:{run.pk}", f"dataset_version:{snapshot.pk}"): "snapshot",
        (f"trigger_run:{run.pk}", f"job:{retrain.pk}"): "started",
    }
    ats = [n["at"] for n in body["nodes"]]
    assert ats == sorted(ats)


def test_the_timeline_costs_the_same_queries_for_more_versions(world, model, iris_version, trained):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    viewer = world.client("viewer")
    viewer.get("/api/v1/me/")

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert viewer.get(f"/api/v1/models/{model.pk}/timeline/").status_code == 200
        return len(ctx.captured_queries)

    before = queries()
    for number in (2, 3, 4):
        version = ModelVersion.objects.create(
            model=model, version=number, blob=trained.blob, spec=trained.spec, parent=trained
        )
        set_alias(actor=world.users["member"], model=model, alias=f"a{number}", version=version)
    assert queries() == before
    body = viewer.get(f"/api/v1/models/{model.pk}/timeline/").json()
    assert sum(n["type"] == "model_version" for n in body["nodes"]) == 4
    assert sum(e["label"] == "derived" for e in body["edges"]) == 3


def test_an_uploaded_version_is_linked_straight_to_its_data(world, model, iris_version, model_version):
    body = world.client("viewer").get(f"/api/v1/models/{model.pk}/timeline/").json()
    assert body["edges"] == [
        {
            "source": f"dataset_version:{iris_version.pk}",
            "target": f"model_version:{model_version.pk}",
            "label": "trained on",
        }
    ]


def test_another_teams_timeline_is_404(world, model, model_version):
    response = world.client("outsider").get(f"/api/v1/models/{model.pk}/timeline/")
    assert response.status_code == 404
    assert world.client("outsider").get("/api/v1/models/not-a-uuid/timeline/").status_code == 404
