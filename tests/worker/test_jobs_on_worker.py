"""Jobs end to end: submitted through the API, run by a real Celery worker process over Redis and
PostgreSQL, results read back through the API."""

import time

import pytest

from jobs_app import selectors
from jobs_app.models import Job
from models_app.models import ModelVersion
from tests.helpers import builtin_version, submit, wait_finished, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_train_digits_cnn_registers_a_version_with_metrics_and_lineage(world, worker):
    member = world.client("member")
    version_id = builtin_version(member, name="digits", builtin="digits")
    job = submit(
        member,
        "train",
        {
            "dataset_version": version_id,
            "model": "digits-cnn",
            "architecture": "cnn",
            "hyperparameters": {"epochs": 4, "batch_size": 32, "lr": 0.003},
        },
    )
    assert job["status"] == "queued" and job["progress"] == 0.0
    finished = wait_finished(job["id"])
    assert finished.status == "succeeded", finished.error

    detail = member.get(f"/api/v1/jobs/{job['id']}/").json()
    assert detail["progress"] == 1.0 and detail["attempts"] == 1 and detail["worker"].startswith("test")
    assert detail["started_at"] and detail["finished_at"]
    model_version = member.get(f"/api/v1/model-versions/{detail['outputs']['model_version']}/").json()
    assert model_version["metrics"]["accuracy"] >= 0.9
    assert set(model_version["metrics"]) >= {"precision_macro", "recall_macro", "f1_macro", "log_loss"}
    confusion = model_version["metrics"]["confusion_matrix"]  # {labels, matrix}: rows true, columns predicted
    assert confusion["labels"] == [str(d) for d in range(10)] and len(confusion["matrix"]) == 10
    per_class = model_version["metrics"]["per_class"]  # named by the preprocessing's classes
    rows_per_class = dict(zip(confusion["labels"], map(sum, confusion["matrix"]), strict=True))
    assert {name: r["support"] for name, r in per_class.items()} == rows_per_class
    assert model_version["job"] == job["id"]
    assert model_version["dataset_versions"] == [version_id]
    assert model_version["params"]["hyperparameters"]["epochs"] == 4
    assert model_version["spec"]["preprocessing"]["image_shape"] == [8, 8]
    assert ModelVersion.objects.filter(pk__in=finished.output_links.values("object_id")).count() == 1

    keys = {k["key"]: k for k in member.get(f"/api/v1/jobs/{job['id']}/metrics/").json()["keys"]}
    assert {"loss", "lr", "samples_per_s", "val_accuracy"} <= set(keys)
    loss = member.get(f"/api/v1/jobs/{job['id']}/metrics/?key=loss&max_points=0").json()
    assert loss["count"] == keys["loss"]["count"] and len(loss["points"]) == loss["count"]
    assert [p[0] for p in loss["points"]] == sorted(p[0] for p in loss["points"])

    logs = member.get(f"/api/v1/jobs/{job['id']}/logs/").json()
    lines = [line["line"] for line in logs["results"]]
    assert any("epoch=4" in line for line in lines) and lines[-1].startswith("succeeded")
    later = member.get(f"/api/v1/jobs/{job['id']}/logs/?after={logs['results'][2]['id']}").json()
    assert [r["line"] for r in later["results"]] == lines[3:]

    # lineage: the dataset version now names the model version trained on it
    lineage = member.get(f"/api/v1/dataset-versions/{version_id}/lineage/").json()
    assert detail["outputs"]["model_version"] in str(lineage)


def test_evaluate_jobs_build_a_leaderboard(world, worker):
    member = world.client("member")
    version_id = builtin_version(member, name="iris", builtin="iris")
    trained = []
    for epochs in (1, 60):
        job = submit(
            member,
            "train",
            {"dataset_version": version_id, "model": "iris-mlp", "hyperparameters": {"epochs": epochs, "lr": 0.01}},
        )
        done = wait_finished(job["id"])
        assert done.status == "succeeded", done.error
        trained.append(done.outputs["model_version"])
    evaluations = []
    for model_version in trained:
        job = submit(member, "evaluate", {"model_version": model_version, "dataset_version": version_id})
        done = wait_finished(job["id"])
        assert done.status == "succeeded", done.error
        evaluations.append(done.outputs["evaluation"])

    board = member.get(f"/api/v1/evaluations/?dataset_version={version_id}").json()
    assert board["count"] == 2
    scores = [row["score"] for row in board["results"]]
    assert scores == sorted(scores, reverse=True)
    assert {row["model_version"] for row in board["results"]} == set(trained)
    best = board["results"][0]
    assert best["metric"] == "accuracy" and best["split"] == "test" and best["num_rows"] == 30
    # evaluating on the test split reproduces the metrics training recorded for the held-out rows
    trained_metrics = ModelVersion.objects.get(pk=best["model_version"]).metrics
    assert best["metrics"]["accuracy"] == pytest.approx(trained_metrics["accuracy"])
    assert {k: r["support"] for k, r in best["metrics"]["per_class"].items()} == {
        k: r["support"] for k, r in trained_metrics["per_class"].items()
    }
    by_version = member.get(f"/api/v1/evaluations/?model_version={trained[0]}").json()
    assert by_version["count"] == 1
    assert world.client("outsider").get(f"/api/v1/evaluations/?dataset_version={version_id}").json()["count"] == 0


def test_process_job_writes_a_child_version(world, worker):
    member = world.client("member")
    version_id = builtin_version(member, name="wine", builtin="wine")
    steps = [
        {"op": "dropna"},
        {"op": "dedupe"},
        {"op": "filter", "column": "target", "operator": "!=", "value": "class_2"},
        {"op": "map_labels", "mapping": {"class_0": "first", "class_1": "second"}},
        {"op": "standardize"},
        {"op": "sample", "n": 100, "seed": 3},
    ]
    job = submit(member, "process", {"dataset_version": version_id, "steps": steps})
    done = wait_finished(job["id"])
    assert done.status == "succeeded", done.error
    child = member.get(f"/api/v1/dataset-versions/{done.outputs['dataset_version']}/").json()
    assert child["source"] == "process" and child["parents"] == [version_id] and child["num_rows"] == 100
    assert child["version"] == 2
    preview = member.get(f"/api/v1/dataset-versions/{child['id']}/preview/?limit=100").json()
    labels = {row[preview["columns"].index("target")] for row in preview["rows"]}
    assert labels == {"first", "second"}
    assert selectors.job_id_of(kind="dataset_version", object_id=child["id"]) == str(done.pk)


def _long_training(member, version_id, **extra):
    spec = {
        "dataset_version": version_id,
        "model": "slow",
        "architecture": "cnn",
        "hyperparameters": {"epochs": 2000, "batch_size": 16},
    }
    return submit(member, "train", spec, **extra)


def test_cancel_stops_a_running_job(world, worker):
    """A 2000-epoch run stops at the next step after the heartbeat sees the request (how fast: benchmarks/jobs.py)."""
    member = world.client("member")
    version_id = builtin_version(member, name="digits", builtin="digits")
    job = _long_training(member, version_id)
    wait_for(job["id"], lambda j: j.status == "running" and j.progress > 0, what="training to make progress")
    response = member.post(f"/api/v1/jobs/{job['id']}/cancel/")
    assert response.status_code == 200 and response.json()["cancel_requested"] is True
    done = wait_finished(job["id"], timeout=30)
    assert done.status == "cancelled" and done.progress < 0.5
    assert not ModelVersion.objects.filter(pk__in=done.output_links.values("object_id")).exists()
    assert member.post(f"/api/v1/jobs/{job['id']}/cancel/").status_code == 409


def test_timeout_fails_the_job_with_a_clear_error(world, worker):
    member = world.client("member")
    version_id = builtin_version(member, name="digits", builtin="digits")
    job = _long_training(member, version_id, timeout_s=2)
    done = wait_finished(job["id"], timeout=40)
    assert done.status == "failed"
    assert done.error == "timed out: the job ran longer than its timeout_s (2 s)"
    assert not ModelVersion.objects.filter(pk__in=done.output_links.values("object_id")).exists()


def test_a_diverging_training_fails_the_job_with_a_clear_error(world, worker, tmp_path):
    """lr 10 on targets around 1e37: the standardised loss stays finite, but the network's answers overflow
    float32 once rescaled to the target's units (ml.train), and the job fails saying what to change."""
    member = world.client("member")
    dataset = member.post(
        "/api/v1/datasets/", {"team": "alpha", "name": "huge", "task": "regression"}, format="json"
    ).json()
    rows = "\n".join(f"{i % 7},{(i % 5) * 1e37}" for i in range(200))
    path = tmp_path / "huge.csv"
    path.write_text("x,y\n" + rows + "\n")
    with open(path, "rb") as fh:
        version = member.post(
            f"/api/v1/datasets/{dataset['id']}/versions/", {"file": fh, "target": "y"}, format="multipart"
        )
    assert version.status_code == 201, version.json()
    job = submit(
        member,
        "train",
        {"dataset_version": version.json()["id"], "model": "explodes", "hyperparameters": {"lr": 10.0, "epochs": 5}},
    )
    done = wait_finished(job["id"])
    assert done.status == "failed"
    assert "overflow float32" in done.error and "lower the learning rate" in done.error
    assert not ModelVersion.objects.filter(pk__in=done.output_links.values("object_id")).exists()


def test_a_sigkilled_worker_is_replaced_and_the_job_resumes_from_its_checkpoint(world, stack):
    """Kill the worker (and its pool children) with SIGKILL in the middle of training. The reaper sees the
    heartbeat stop and re-queues the job; a new worker resumes from the last checkpoint."""
    from tests.helpers import ISOLATED_POOL

    member = world.client("member")
    version_id = builtin_version(member, name="digits", builtin="digits")
    first = stack.worker(ISOLATED_POOL)
    reaper = None
    second = None
    try:
        job = submit(
            member,
            "train",
            {
                "dataset_version": version_id,
                "model": "survivor",
                "architecture": "cnn",
                "hyperparameters": {"epochs": 8, "batch_size": 16},
            },
            resources={"pool": ISOLATED_POOL},
        )
        running = wait_for(
            job["id"], lambda j: j.status == "running" and "epoch-000001" in j.checkpoint, what="epoch 2's checkpoint"
        )
        assert running.attempts == 1
        first.kill()
        killed_at = Job.objects.get(pk=job["id"])
        assert killed_at.status == "running"  # nobody knows yet

        reaper = stack.reaper(every=0.5)
        second = stack.worker(ISOLATED_POOL)
        done = wait_finished(job["id"], timeout=120)
        assert done.status == "succeeded", done.error + "\n" + reaper.log()
        assert done.attempts == 2
        assert ModelVersion.objects.filter(pk__in=done.output_links.values("object_id")).count() == 1
        lines = list(done.log_lines.order_by("id").values_list("line", flat=True))
        assert any("stopped responding" in line and "re-queued" in line for line in lines)
        assert any(line.startswith("resumed from the checkpoint of epoch") for line in lines)
        version = ModelVersion.objects.get(pk__in=done.output_links.values("object_id"))
        assert version.params["resumed_from_epoch"] >= 1
        assert version.params["epochs_run"] < 8
    finally:
        for process in (first, second, reaper):
            if process is not None:
                process.stop()


def test_waiting_jobs_start_in_priority_order(world, worker):
    """While the worker is busy, a high-priority job submitted last starts before low-priority ones."""
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("message priorities need Redis; the filesystem broker of a bare clone is first-in first-out")
    member = world.client("member")
    version_id = builtin_version(member, name="iris", builtin="iris")
    busy = _long_training(member, builtin_version(member, name="digits", builtin="digits"))
    wait_for(busy["id"], lambda j: j.status == "running", what="the worker to be busy")
    steps = {"dataset_version": version_id, "steps": [{"op": "dedupe"}]}
    low = [submit(member, "process", steps, priority=-5) for _ in range(2)]
    high = submit(member, "process", steps, priority=9)
    time.sleep(0.5)  # all three wait in the broker
    member.post(f"/api/v1/jobs/{busy['id']}/cancel/")
    finished = {j["id"]: wait_finished(j["id"]) for j in (*low, high)}
    assert all(j.status == "succeeded" for j in finished.values())
    started = sorted(finished.values(), key=lambda j: j.started_at)
    assert started[0].pk == Job.objects.get(pk=high["id"]).pk, [(j.priority, j.started_at) for j in started]


def test_text_and_npz_image_data_sets_train_on_the_worker(world, worker):
    """The other input kinds, end to end: a text CSV with the textcnn and the transformer, and an NPZ of
    8x8 images with the cnn."""
    import io

    import numpy as np
    from sklearn.datasets import load_digits

    member = world.client("member")
    reviews = member.post(
        "/api/v1/datasets/", {"team": "alpha", "name": "reviews", "task": "text-classification"}, format="json"
    ).json()
    words = {"pos": ["great", "lovely", "superb", "fun"], "neg": ["awful", "boring", "dull", "bad"]}
    rng = np.random.default_rng(0)
    lines = ["text,label"]
    for i in range(300):
        label = "pos" if i % 2 else "neg"
        lines.append(f"the film was {' and '.join(rng.choice(words[label], 2))} overall,{label}")
    text = io.BytesIO(("\n".join(lines) + "\n").encode())
    text.name = "reviews.csv"
    version = member.post(
        f"/api/v1/datasets/{reviews['id']}/versions/", {"file": text, "target": "label"}, format="multipart"
    )
    assert version.status_code == 201, version.json()

    digits = load_digits()
    images = io.BytesIO()
    np.savez(images, images=digits.images.astype(np.float32), label=digits.target)
    images.seek(0)
    images.name = "digits.npz"
    pictures = member.post(
        "/api/v1/datasets/", {"team": "alpha", "name": "pictures", "task": "image-classification"}, format="json"
    ).json()
    npz = member.post(
        f"/api/v1/datasets/{pictures['id']}/versions/", {"file": images, "target": "label"}, format="multipart"
    )
    assert npz.status_code == 201, npz.json()

    runs = [
        (version.json()["id"], "textcnn", 0.9),
        (version.json()["id"], "transformer", 0.9),
        (npz.json()["id"], "cnn", 0.9),
    ]
    for dataset_version, architecture, floor in runs:
        job = submit(
            member,
            "train",
            {
                "dataset_version": dataset_version,
                "model": f"m-{architecture}",
                "architecture": architecture,
                "hyperparameters": {"epochs": 4},
            },
        )
        done = wait_finished(job["id"])
        assert done.status == "succeeded", (architecture, done.error)
        metrics = ModelVersion.objects.get(pk__in=done.output_links.values("object_id")).metrics
        assert metrics["accuracy"] >= floor, (architecture, metrics["accuracy"])
