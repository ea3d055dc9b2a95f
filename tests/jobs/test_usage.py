"""GET /teams/{slug}/usage/: jobs by status, CPU / GPU seconds and storage, scoped to members."""

from datetime import timedelta

from django.utils import timezone

from jobs_app.models import Job


def test_usage_counts_jobs_seconds_and_distinct_storage(world, iris_version, model_version):
    now = timezone.now()
    Job.objects.create(
        team=world.alpha, kind="train", status="succeeded", started_at=now - timedelta(seconds=100),
        finished_at=now - timedelta(seconds=40), cpu_seconds=50.5,
    )  # fmt: skip
    Job.objects.create(
        team=world.alpha, kind="train", status="failed", resources={"pool": "gpu", "gpus": 2}, gpus=2,
        started_at=now - timedelta(seconds=30), finished_at=now - timedelta(seconds=20), cpu_seconds=15,
    )  # fmt: skip
    Job.objects.create(team=world.alpha, kind="train", status="running", started_at=now - timedelta(seconds=5))
    Job.objects.create(team=world.alpha, kind="process")  # queued: no seconds yet
    Job.objects.create(team=world.beta, kind="train", status="running", started_at=now - timedelta(hours=1))

    usage = world.client("viewer").get("/api/v1/teams/alpha/usage/").json()
    assert usage["team"] == "alpha" and usage["running_jobs"] == 1
    assert usage["jobs"] == {"queued": 1, "running": 1, "succeeded": 1, "failed": 1, "cancelled": 0}
    assert usage["cpu_seconds"] == 65.5  # as measured by the workers
    assert usage["gpu_seconds"] == 20.0  # 10 s on 2 GPUs
    expected = iris_version.blob.size_bytes + model_version.blob.size_bytes
    assert usage["storage_bytes"] == expected and usage["blobs"] == 2
    assert usage["quota"] == {}  # no quota anywhere: unlimited

    # a second version of the same file is stored once and counted once
    from datasets_app.services import create_version_from_builtin

    create_version_from_builtin(actor=world.users["member"], dataset=iris_version.dataset, name="iris")
    assert world.client("viewer").get("/api/v1/teams/alpha/usage/").json()["storage_bytes"] == expected


def test_usage_of_another_team_is_404(world):
    assert world.client("outsider").get("/api/v1/teams/alpha/usage/").status_code == 404
    assert world.client("outsider").get("/api/v1/teams/beta/usage/").status_code == 200
