"""What a tracking client writes besides points: a client-chosen run id that makes a resent start harmless,
parameters logged after the start, files (artifacts), and the run's environment."""

import threading
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from jobs_app.models import Job, JobArtifact, ResourcePool, TeamQuota


def _start(client, **extra):
    return client.post("/api/v1/jobs/", {"team": "alpha", "kind": "tracking", "spec": {}, **extra}, format="json")


def test_a_start_sent_again_with_its_id_makes_no_second_run(world):
    member, run_id = world.client("member"), str(uuid.uuid4())
    first = _start(member, id=run_id, spec={"params": {"lr": 0.1}})
    assert first.status_code == 201, first.json()
    assert first.json()["id"] == run_id
    again = _start(member, id=run_id, spec={"params": {"lr": 0.1}})
    assert again.status_code == 200 and again.json()["id"] == run_id
    assert Job.objects.filter(pk=run_id).count() == 1 and Job.objects.count() == 1
    # the id is someone else's run, or the same user's in another kind: a conflict, nothing made
    other = _start(world.client("maintainer"), id=run_id)
    assert other.status_code == 409 and "another job's" in other.json()["detail"]
    train = member.post("/api/v1/jobs/", {"team": "alpha", "kind": "evaluate", "spec": {}, "id": run_id}, format="json")
    assert train.status_code == 409
    assert _start(member, id="not-a-uuid").status_code == 400
    assert Job.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_same_id_sent_twice_at_once_makes_one_run(world):
    run_id, answers = str(uuid.uuid4()), []

    def start():
        try:
            answers.append(_start(world.client("member"), id=run_id).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [200, 200, 200, 201]
    assert Job.objects.filter(pk=run_id).count() == 1


def test_the_environment_is_kept_and_checked(world):
    member = world.client("member")
    env = {
        "git": {"commit": "a" * 40, "dirty": True, "branch": "main"},
        "python": "3.11.7",
        "packages": {"torch": "2.13"},
    }
    body = _start(member, spec={"environment": env}).json()
    assert body["spec"]["environment"] == env
    bad = _start(member, spec={"environment": "laptop"})
    assert bad.status_code == 400 and "spec.environment" in str(bad.json())
    huge = _start(member, spec={"environment": {"x": "y" * 70_000}})
    assert huge.status_code == 400 and "bytes" in str(huge.json())


def test_params_are_merged_by_the_creator_and_never_changed(world):
    member = world.client("member")
    run = _start(member, spec={"params": {"lr": 0.1}}).json()["id"]
    url = f"/api/v1/jobs/{run}/params/"
    answer = member.post(url, {"params": {"epochs": 3, "layers": [8, 4]}}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["spec"]["params"] == {"lr": 0.1, "epochs": 3, "layers": [8, 4]}
    assert member.post(url, {"params": {"lr": 0.1}}, format="json").status_code == 200  # the same value again
    changed = member.post(url, {"params": {"lr": 0.2, "new": 1}}, format="json")
    assert changed.status_code == 409 and "'lr'" in changed.json()["detail"]
    assert Job.objects.get(pk=run).spec["params"] == {"lr": 0.1, "epochs": 3, "layers": [8, 4]}  # `new` not kept
    assert member.post(url, {"params": []}, format="json").status_code == 400
    assert member.post(url, {"params": {"x": "y" * 70_000}}, format="json").status_code == 400
    assert world.client("admin").post(url, {"params": {"z": 1}}, format="json").status_code == 403
    assert world.client("outsider").post(url, {"params": {"z": 1}}, format="json").status_code == 404


def test_a_worker_job_takes_no_params_from_a_client(world, iris_version):
    member = world.client("member")
    job = member.post(
        "/api/v1/jobs/",
        {
            "team": "alpha",
            "kind": "train",
            "spec": {"dataset_version": str(iris_version.pk), "model": "m", "architecture": "mlp"},
        },
        format="json",
    ).json()
    answer = member.post(f"/api/v1/jobs/{job['id']}/params/", {"params": {"lr": 1}}, format="json")
    assert answer.status_code == 400 and "tracking run" in answer.json()["detail"]


def _file(data: bytes, name="notes.txt"):
    return SimpleUploadedFile(name, data, content_type="text/plain")


def test_artifacts_are_stored_listed_downloaded_and_replaced(world):
    member, viewer = world.client("member"), world.client("viewer")
    run = _start(member).json()["id"]
    url = f"/api/v1/jobs/{run}/artifacts/"
    stored = member.post(url, {"file": _file(b"loss went down"), "path": "notes/summary.txt"}, format="multipart")
    assert stored.status_code == 201, stored.json()
    assert stored.json()["path"] == "notes/summary.txt" and stored.json()["size_bytes"] == 14
    assert member.post(url, {"file": _file(b"{}", "config.json")}, format="multipart").status_code == 201
    listed = viewer.get(url).json()
    assert [a["path"] for a in listed] == ["config.json", "notes/summary.txt"]
    download = viewer.get(f"{url}notes/summary.txt")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"loss went down"
    assert viewer.get(f"{url}notes/missing.txt").status_code == 404
    replaced = member.post(url, {"file": _file(b"v2"), "path": "notes/summary.txt"}, format="multipart")
    assert replaced.status_code == 201 and replaced.json()["size_bytes"] == 2
    assert JobArtifact.objects.filter(job_id=run).count() == 2
    assert world.client("admin").post(url, {"file": _file(b"x")}, format="multipart").status_code == 403
    assert world.client("outsider").get(url).status_code == 404


@pytest.mark.parametrize(
    "path", ["../escape.txt", "/abs.txt", "a//b.txt", "a/./b", "back\\slash", "tab\there", "x" * 256]
)
def test_a_bad_artifact_path_is_refused_and_nothing_stored(world, path):
    member = world.client("member")
    run = _start(member).json()["id"]
    answer = member.post(f"/api/v1/jobs/{run}/artifacts/", {"file": _file(b"x"), "path": path}, format="multipart")
    assert answer.status_code == 400 and "path" in answer.json()["detail"] + str(answer.json()), answer.json()
    assert not JobArtifact.objects.filter(job_id=run).exists()


def test_an_artifact_beyond_the_storage_quota_is_refused(world):
    member = world.client("member")
    run = _start(member).json()["id"]
    pool = ResourcePool.objects.create(name="cpu", queue="cpu", capacity=10)
    TeamQuota.objects.create(team=world.alpha, pool=pool, storage_bytes=10)
    answer = member.post(f"/api/v1/jobs/{run}/artifacts/", {"file": _file(b"x" * 11)}, format="multipart")
    assert answer.status_code == 409 and "storage quota" in answer.json()["detail"]
    assert not JobArtifact.objects.filter(job_id=run).exists()
