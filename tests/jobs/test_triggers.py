"""Retrain triggers without a worker: creation checks, the periodic look, and the chain a run walks through
(each step's job is ended here by the same services a worker calls). The chain on a real worker is in
tests/worker/test_loop_on_worker.py."""

import pytest
from django.utils import timezone

from datasets_app.models import DatasetVersion
from jobs_app import services, triggers
from jobs_app.models import Job, RetrainTrigger, TriggerRun
from models_app.models import PredictionLog
from models_app.services import record_evaluation, set_gate
from tests.helpers import register_trained

SETOSA = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def gate(world, model, iris_version, trained):
    record_evaluation(
        actor=None,
        model_version=trained,
        dataset_version=iris_version,
        split="all",
        metrics={"accuracy": 0.9},
        num_rows=150,
    )
    # the runs here retrain on iris itself (the base), so the gate allows that overlap (leakage check:
    # tests/models/test_gate_leakage.py)
    return set_gate(actor=world.users["maintainer"], model=model, dataset_version=iris_version, max_overlap=150)


def _trigger_body(model, iris_version, **extra):
    return {
        "team": "alpha",
        "model": str(model.pk),
        "base_dataset_version": str(iris_version.pk),
        "min_feedback": 3,
        "train": {"architecture": "mlp", "hyperparameters": {"epochs": 5}},
        **extra,
    }


@pytest.fixture
def trigger(world, model, iris_version, gate):
    response = world.client("maintainer").post("/api/v1/triggers/", _trigger_body(model, iris_version), format="json")
    assert response.status_code == 201, response.json()
    return RetrainTrigger.objects.get(pk=response.json()["id"])


def _labelled(world, model, n: int, label: str = "setosa") -> list[str]:
    client = world.client("member")
    answer = client.post(
        f"/api/v1/models/{model.pk}/predict/", {"alias": "production", "inputs": [SETOSA] * n}, format="json"
    ).json()
    ids = [p["id"] for p in answer["predictions"]]
    for pid in ids:
        assert client.post(f"/api/v1/predictions/{pid}/feedback/", {"label": label}, format="json").status_code == 200
    return ids


def _end_step(job: Job, outputs: dict | None = None, *, error: str | None = None) -> None:
    """End a step the way a worker does: take the delivery, then succeed (registering outputs) or fail."""
    job.refresh_from_db()
    services.begin_attempt(job_id=job.pk, task_id=job.task_id, worker="test")
    if error:
        services.fail(job_id=job.pk, task_id=job.task_id, error=error)
    else:
        services.complete(job_id=job.pk, task_id=job.task_id, register=lambda locked: outputs)


def test_creating_a_trigger_checks_everything_and_needs_a_maintainer(world, model, iris_version, gate):
    body = _trigger_body(model, iris_version)
    assert world.client("member").post("/api/v1/triggers/", body, format="json").status_code == 403
    response = world.client("maintainer").post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["promote_if"] == {"alias": "production"} and created["enabled"] is True
    assert created["train"]["architecture"] == "mlp" and "dataset_version" not in created["train"]
    assert world.client("outsider").get(f"/api/v1/triggers/{created['id']}/").status_code == 404
    assert world.client("viewer").get("/api/v1/triggers/").json()["count"] == 1


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"train": {"architecture": "resnet"}}, "train.architecture"),
        ({"train": {"hyperparameters": {"epochs": -1}}}, "train.hyperparameters"),
        ({"train": {"dataset_version": "x"}}, "train.dataset_version"),
        ({"train": ["mlp"]}, "train"),
        ({"promote_if": {"alias": "staging"}}, "promote_if.alias"),
        ({"promote_if": {"alias": "production", "when": "always"}}, "promote_if"),
        ({"min_feedback": 0}, "min_feedback"),
        ({"model": "00000000-0000-0000-0000-000000000000"}, "model"),
        ({"base_dataset_version": "00000000-0000-0000-0000-000000000000"}, "base_dataset_version"),
    ],
)
def test_bad_triggers_are_400_naming_the_field(world, model, iris_version, gate, extra, field):
    response = world.client("maintainer").post(
        "/api/v1/triggers/", _trigger_body(model, iris_version) | extra, format="json"
    )
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert not RetrainTrigger.objects.exists()


def test_a_model_without_a_gate_cannot_have_a_trigger(world, model, iris_version, trained):
    response = world.client("maintainer").post("/api/v1/triggers/", _trigger_body(model, iris_version), format="json")
    assert response.status_code == 400 and "no promotion gate" in response.json()["errors"]["model"][0]


def test_the_periodic_look_starts_a_run_only_once_enough_feedback_arrived(world, model, trigger):
    _labelled(world, model, 2)
    assert triggers.check_triggers() == []
    trigger.refresh_from_db()
    assert trigger.last_checked_at is not None
    _labelled(world, model, 1)
    started = triggers.check_triggers()
    assert len(started) == 1
    run = TriggerRun.objects.get(pk=started[0])
    assert run.feedback_count == 3 and run.step == "snapshot" and run.status == "running"
    snapshot = run.jobs.get()
    assert snapshot.kind == "snapshot" and snapshot.spec["model"] == str(model.pk)
    assert triggers.check_triggers() == []  # one run at a time
    _labelled(world, model, 3)
    assert triggers.check_triggers() == []  # still running: the new feedback waits for the next run


def test_a_disabled_trigger_does_not_run(world, model, trigger):
    response = world.client("maintainer").patch(f"/api/v1/triggers/{trigger.pk}/", {"enabled": False}, format="json")
    assert response.status_code == 200, response.json()
    _labelled(world, model, 3)
    assert triggers.check_triggers() == []


def test_the_chain_promotes_a_version_that_passes_the_gate(world, model, iris_version, trigger):
    _labelled(world, model, 3)
    run = TriggerRun.objects.get(pk=triggers.check_triggers()[0])
    _end_step(run.jobs.get(kind="snapshot"), {"dataset_version": str(iris_version.pk)})
    run.refresh_from_db()
    assert run.step == "train"
    train = run.jobs.get(kind="train")
    assert train.spec["dataset_version"] == str(iris_version.pk) and train.spec["model"] == str(model.pk)
    assert train.spec["hyperparameters"] == {"epochs": 5}

    retrained = register_trained(actor=world.users["member"], model=model, dataset_version=iris_version, seed=2)
    _end_step(train, {"model_version": str(retrained.pk)})
    evaluate = run.jobs.get(kind="evaluate")
    assert evaluate.spec == {
        "model_version": str(retrained.pk),
        "dataset_version": str(iris_version.pk),
        "split": "all",
    }

    record_evaluation(
        actor=None,
        model_version=retrained,
        dataset_version=iris_version,
        split="all",
        metrics={"accuracy": 0.97},
        num_rows=150,
    )
    _end_step(evaluate, {"evaluation": "x"})
    run.refresh_from_db()
    assert run.status == "promoted" and run.finished_at is not None and run.gate_checks == []
    assert model.aliases.get(alias="production").version_id == retrained.pk

    listed = world.client("viewer").get(f"/api/v1/triggers/{trigger.pk}/runs/").json()["results"][0]
    assert [j["kind"] for j in listed["jobs"]] == ["snapshot", "train", "evaluate"]
    assert listed["model_version"] == str(retrained.pk)
    assert world.client("viewer").get(f"/api/v1/jobs/{evaluate.pk}/").json()["trigger_run"] == str(run.pk)


def test_a_version_that_fails_the_gate_is_not_promoted_and_the_run_says_why(
    world, model, iris_version, trigger, trained
):
    _labelled(world, model, 3)
    run = TriggerRun.objects.get(pk=triggers.check_triggers()[0])
    _end_step(run.jobs.get(kind="snapshot"), {"dataset_version": str(iris_version.pk)})
    worse = register_trained(actor=world.users["member"], model=model, dataset_version=iris_version, epochs=1)
    _end_step(run.jobs.get(kind="train"), {"model_version": str(worse.pk)})
    record_evaluation(
        actor=None,
        model_version=worse,
        dataset_version=iris_version,
        split="all",
        metrics={"accuracy": 0.5},
        num_rows=150,
    )
    _end_step(run.jobs.get(kind="evaluate"), {"evaluation": "x"})
    run.refresh_from_db()
    assert run.status == "not_promoted" and [c["check"] for c in run.gate_checks] == ["min_gain"]
    assert model.aliases.get(alias="production").version_id == trained.pk


def test_a_failed_step_ends_the_run_and_the_next_feedback_starts_a_new_one(world, model, trigger):
    _labelled(world, model, 3)
    run = TriggerRun.objects.get(pk=triggers.check_triggers()[0])
    _end_step(run.jobs.get(kind="snapshot"), error="the base data set cannot be read")
    run.refresh_from_db()
    assert run.status == "failed" and "cannot be read" in run.error and run.jobs.count() == 1
    _labelled(world, model, 3)
    assert len(triggers.check_triggers()) == 1


def test_fire_starts_a_run_now_but_needs_feedback_and_a_maintainer(world, model, trigger):
    maintainer = world.client("maintainer")
    response = maintainer.post(f"/api/v1/triggers/{trigger.pk}/fire/")
    assert response.status_code == 409 and "no labelled predictions" in response.json()["detail"]
    _labelled(world, model, 1)
    assert world.client("member").post(f"/api/v1/triggers/{trigger.pk}/fire/").status_code == 403
    response = maintainer.post(f"/api/v1/triggers/{trigger.pk}/fire/")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "running" and response.json()["jobs"][0]["kind"] == "snapshot"
    assert maintainer.post(f"/api/v1/triggers/{trigger.pk}/fire/").status_code == 409  # one run at a time


def test_snapshot_export_and_quantize_specs_are_checked(world, model, iris_version, trained, model_version):
    member = world.client("member")

    def submit(kind, spec):
        return member.post("/api/v1/jobs/", {"team": "alpha", "kind": kind, "spec": spec}, format="json")

    ok = submit("export", {"model_version": str(trained.pk), "format": "onnx"})
    assert ok.status_code == 201, ok.json()
    assert ok.json()["spec"]["dataset_version"] == str(iris_version.pk) and ok.json()["spec"]["split"] == "test"
    cases = [
        ("export", {"model_version": str(trained.pk), "format": "tflite"}, "spec.format"),
        ("export", {"model_version": str(model_version.pk), "format": "onnx"}, "spec.model_version"),  # uploaded
        ("quantize", {"model_version": str(trained.pk), "dtype": "int4"}, "spec.dtype"),
        ("quantize", {"model_version": str(trained.pk), "split": "dev"}, "spec.split"),
        ("snapshot", {"dataset_version": str(iris_version.pk), "model": "nope"}, "spec.model"),
        ("snapshot", {"dataset_version": str(iris_version.pk), "model": str(model.pk), "until": "soon"}, "spec.until"),
        ("snapshot", {"model": str(model.pk)}, "spec.dataset_version"),
    ]
    for kind, spec, field in cases:
        response = submit(kind, spec)
        assert response.status_code == 400 and field in response.json()["errors"], (kind, spec, response.json())
    assert Job.objects.count() == 1


def test_a_snapshot_adds_labelled_predictions_to_the_base_rows(world, model, iris_version, trained, settings):
    """The snapshot runner's table work (no worker): base rows + labelled predictions as dataset rows."""
    from datasets_app import blobs
    from ml import formats
    from models_app import feedback

    _labelled(world, model, 2, label="virginica")
    rows = feedback.labelled_rows(model=model, until=timezone.now())
    assert len(rows) == 2 and rows[0][1] == "virginica"
    with blobs.local_copy(iris_version.blob) as path:
        base = formats.read_table(path, iris_version.format, iris_version.schema)
    merged, skipped = feedback.snapshot_table(base, "target", rows + [({"colour": 1}, "setosa")])
    assert merged.num_rows == 152 and len(skipped) == 1 and "lacks the feature(s)" in skipped[0]
    assert merged.column("target").to_pylist()[-2:] == ["virginica", "virginica"]
    assert merged.column("petal_length_cm").to_pylist()[-1] == 1.4
    assert PredictionLog.objects.filter(feedback__isnull=False).count() == 2


def test_a_run_never_promotes_past_a_gate_that_was_changed_meanwhile(world, model, iris_version, trigger, gate):
    _labelled(world, model, 3)
    run = TriggerRun.objects.get(pk=triggers.check_triggers()[0])
    _end_step(run.jobs.get(kind="snapshot"), {"dataset_version": str(iris_version.pk)})
    retrained = register_trained(actor=world.users["member"], model=model, dataset_version=iris_version, seed=2)
    _end_step(run.jobs.get(kind="train"), {"model_version": str(retrained.pk)})
    gate.aliases = ["staging"]  # production is no longer guarded
    gate.save()
    _end_step(run.jobs.get(kind="evaluate"), {"evaluation": "x"})
    run.refresh_from_db()
    assert run.status == "not_promoted" and run.gate_checks[0]["check"] == "gate"
    assert model.aliases.get(alias="production").version_id != retrained.pk


def test_a_trigger_whose_creator_lost_the_role_does_not_run(world, model, trigger):
    from accounts_app.models import Membership

    Membership.objects.filter(user=world.users["maintainer"], team=world.alpha).update(role="viewer")
    _labelled(world, model, 3)
    run = TriggerRun.objects.get(pk=triggers.check_triggers()[0])
    assert run.status == "failed" and "no longer a maintainer" in run.error and not run.jobs.exists()


def test_an_impossible_snapshot_time_is_400(world, model, iris_version):
    response = world.client("member").post(
        "/api/v1/jobs/",
        {
            "team": "alpha",
            "kind": "snapshot",
            "spec": {"dataset_version": str(iris_version.pk), "model": str(model.pk), "until": "2026-02-30T10:00:00"},
        },
        format="json",
    )
    assert response.status_code == 400 and "spec.until" in response.json()["errors"]


def _logged_before_the_check(world, model, trained, columns) -> str:
    """A prediction logged before serving refused such inputs (the API no longer answers them), labelled
    through the feedback API."""
    prediction = PredictionLog.objects.create(
        team=world.alpha,
        model=model,
        model_version=trained,
        runtime="torch",
        input=columns,
        output={"label": "setosa", "scores": None},
        latency_ms=1.0,
        created_by=world.users["member"],
    )
    response = world.client("member").post(
        f"/api/v1/predictions/{prediction.pk}/feedback/", {"label": "virginica"}, format="json"
    )
    assert response.status_code == 200, response.json()
    return str(prediction.pk)


def test_a_snapshot_skips_and_reports_feedback_rows_that_do_not_fit_the_schema(world, model, trained, trigger):
    """The trigger's snapshot run by the worker's own entry point (runners.execute, what the Celery task calls)."""
    from jobs_app import runners

    _labelled(world, model, 2, label="virginica")
    row = dict(zip(["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"], SETOSA, strict=True))
    huge = _logged_before_the_check(world, model, trained, {**row, "sepal_length_cm": 1e308})
    colour = _logged_before_the_check(world, model, trained, {**row, "colour": 1})
    short = _logged_before_the_check(world, model, trained, {"sepal_length_cm": 5.1})
    odd_label = _labelled(world, model, 1)[0]
    PredictionLog.objects.filter(pk=odd_label).update(feedback=["setosa"])  # a label no iris target can hold
    _labelled(world, model, 1, label="versicolor")

    run = TriggerRun.objects.get(pk=triggers.check_triggers()[0])
    snapshot = run.jobs.get(kind="snapshot")
    assert runners.execute(job_id=snapshot.pk, task_id=snapshot.task_id, worker="w") == "succeeded"
    snapshot.refresh_from_db()
    outputs = snapshot.outputs
    assert outputs["num_rows"] == 150 + 3 and outputs["feedback_rows"] == 3 and outputs["skipped"] == 4
    reasons = outputs["skipped_reasons"]
    assert reasons[0] == (
        f"prediction {huge}: 'sepal_length_cm' is 1e+308, outside the float32 range (±3.4e38)"
    )  # the log stored 1e308; PostgreSQL's jsonb gives it back as an integer of 309 digits
    assert reasons[1] == f"prediction {colour}: its input has unknown feature(s) colour"
    assert reasons[2].startswith(f"prediction {short}: its input lacks the feature(s) sepal_width_cm")
    assert reasons[3] == f"prediction {odd_label}: the label is ['setosa'], not text (the target 'target' is string)"
    lines = list(snapshot.log_lines.values_list("line", flat=True))
    assert "150 base rows + 3 labelled predictions" in lines
    assert "4 labelled predictions skipped: they do not fit the data set's schema" in lines
    assert any(huge in line and "outside the float32 range" in line for line in lines)

    version = DatasetVersion.objects.get(pk=outputs["dataset_version"])
    assert version.num_rows == 153 and version.source_detail["skipped"] == 4
    run.refresh_from_db()
    assert run.step == "train" and str(run.dataset_version_id) == outputs["dataset_version"]
    assert world.client("viewer").get(f"/api/v1/trigger-runs/{run.pk}/").json()["jobs"][0]["outputs"] == outputs


def test_a_snapshot_with_no_fitting_feedback_fails_saying_why(world, model, iris_version, trained):
    from jobs_app import runners

    row = {"sepal_length_cm": 1e39, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}
    bad = _logged_before_the_check(world, model, trained, row)
    job = services.submit_job(
        actor=world.users["member"],
        team=world.alpha,
        kind="snapshot",
        spec={"dataset_version": str(iris_version.pk), "model": str(model.pk)},
    )
    assert runners.execute(job_id=job.pk, task_id=job.task_id, worker="w") == "failed"
    job.refresh_from_db()
    assert job.error == (
        "none of the 1 labelled predictions fits this data set's schema: "
        f"prediction {bad}: 'sepal_length_cm' is 1e+39, outside the float32 range (±3.4e38)"
    )
    assert not DatasetVersion.objects.filter(source="feedback").exists()
