"""Admission with real workers: a team allowed one concurrent job submits three while two workers are free;
never more than one runs, and all three finish (each let through by the end of the one before)."""

import time

import pytest

from jobs_app.models import Job, ResourcePool, TeamQuota
from tests.helpers import ISOLATED_POOL, builtin_version, submit, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_team_allowed_one_concurrent_job_never_runs_two_though_two_workers_are_free(world, stack):
    pool = ResourcePool.objects.create(name=ISOLATED_POOL, queue=ISOLATED_POOL, capacity=10)
    TeamQuota.objects.create(team=world.alpha, pool=pool, max_concurrent_jobs=1)
    member = world.client("member")
    version_id = builtin_version(member, name="digits", builtin="digits")
    workers = [stack.worker(ISOLATED_POOL), stack.worker(ISOLATED_POOL)]
    try:
        spec = {
            "dataset_version": version_id,
            "model": "one-at-a-time",
            "architecture": "mlp",
            "hyperparameters": {"epochs": 3, "batch_size": 64},
        }
        jobs = [submit(member, "train", spec, resources={"pool": ISOLATED_POOL}) for _ in range(3)]
        reasons = [member.get(f"/api/v1/jobs/{j['id']}/").json()["queue_reason"] for j in jobs]
        assert reasons[1] == reasons[2] == "team quota: 1 of 1 concurrent job running", reasons
        most_running, deadline = 0, time.monotonic() + 180
        ids = [j["id"] for j in jobs]
        while time.monotonic() < deadline:
            running = Job.objects.filter(pk__in=ids, status="running").count()
            most_running = max(most_running, running)
            if Job.objects.filter(pk__in=ids, status__in=["succeeded", "failed", "cancelled"]).count() == 3:
                break
            time.sleep(0.05)
        done = [wait_finished(i, timeout=5) for i in ids]
        assert [d.status for d in done] == ["succeeded"] * 3, [d.error for d in done]
        assert most_running == 1
        # one after another: each started after the one before had finished
        done.sort(key=lambda d: d.started_at)
        for before, after in zip(done, done[1:], strict=False):
            assert after.started_at >= before.finished_at
        assert all(d.cpu_seconds > 0 for d in done)  # measured in the worker process
        assert len({d.worker for d in done}) >= 1
    finally:
        for process in workers:
            process.stop()
