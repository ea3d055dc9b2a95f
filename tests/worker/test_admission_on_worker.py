"""Admission with real workers: a team allowed one concurrent job submits three while two workers are free;
never more than one runs, and all three finish (each let through by the end of the one before)."""

import time

import pytest

from jobs_app.models import Job, ResourcePool, TeamQuota
from tests.helpers import ISOLATED_POOL, builtin_version, submit, wait_finished, wait_for

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
        for d in done:  # measured in the worker process, recorded just after the job's end
            wait_for(d.pk, lambda j: j.cpu_seconds > 0, timeout=10, what="the job's CPU time")
        assert len({d.worker for d in done}) >= 1
    finally:
        for process in workers:
            process.stop()


def test_a_preempted_job_checkpoints_gives_its_place_back_and_resumes_from_that_step(world, stack):
    """Team alpha fills a pool of two slots with two trainings; team beta submits a job. Alpha's lower-priority
    training is asked to stop, saves an on-demand checkpoint at its next step and returns to the queue; beta's
    job runs in its place; then alpha's resumes from the checkpoint's step and registers one version."""
    from models_app.models import ModelVersion

    pool = ResourcePool.objects.create(name=ISOLATED_POOL, queue=ISOLATED_POOL, capacity=2, preemption_grace_s=60)
    TeamQuota.objects.create(team=world.alpha, pool=pool, weight=1)
    TeamQuota.objects.create(team=world.beta, pool=pool, weight=1)
    member, outsider = world.client("member"), world.client("outsider")
    digits = builtin_version(member, name="digits", builtin="digits")
    ds = outsider.post("/api/v1/datasets/", {"team": "beta", "name": "iris", "task": "classification"}, format="json")
    iris = outsider.post(f"/api/v1/datasets/{ds.json()['id']}/versions/", {"builtin": "iris"}, format="json").json()
    # the trainings sleep 0.05 s a step, so they run long enough to be preempted while the CPUs stay free
    workers = [stack.worker(ISOLATED_POOL, ECO_TRAIN_STEP_DELAY_S="0.05") for _ in range(2)]
    try:
        spec = {
            "dataset_version": digits,
            "architecture": "mlp",
            "hyperparameters": {"epochs": 4, "batch_size": 32, "log_every": 1},
        }
        keep = submit(member, "train", {**spec, "model": "kept"}, priority=1, resources={"pool": ISOLATED_POOL})
        victim = submit(member, "train", {**spec, "model": "preempted"}, resources={"pool": ISOLATED_POOL})
        wait_for(victim["id"], lambda j: j.status == "running" and j.progress > 0, what="the training to run")
        wait_for(keep["id"], lambda j: j.status == "running", what="the other training to run")
        response = outsider.post(
            "/api/v1/jobs/",
            {
                "team": "beta",
                "kind": "process",
                "spec": {"dataset_version": iris["id"], "steps": [{"op": "dedupe"}]},
                "resources": {"pool": ISOLATED_POOL},
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        beta_job = response.json()
        assert "preempting a job of team alpha" in beta_job["queue_reason"], beta_job["queue_reason"]
        # queued again after its first attempt; that state can last less than a poll (beta's job is quick and
        # the victim starts again at once), so a second attempt also shows the requeue happened
        requeued = wait_for(
            victim["id"],
            lambda j: (j.status == "queued" and j.attempts == 1) or j.attempts >= 2,
            what="the preempted job to requeue",
        )
        assert requeued.checkpoint  # the on-demand checkpoint
        assert wait_finished(beta_job["id"], timeout=60).status == "succeeded"
        done = wait_finished(victim["id"], timeout=240)
        assert done.status == "succeeded", done.error
        lines = list(done.log_lines.order_by("id").values_list("line", flat=True))
        saved = next(line for line in lines if line.startswith("on-demand checkpoint at epoch"))
        where = saved.removeprefix("on-demand checkpoint at ")  # "epoch E, step S"
        assert any(line == f"resumed from the on-demand checkpoint at {where}" for line in lines), lines
        assert any(line.startswith("preempted: checkpointed and returned to the queue") for line in lines)
        assert done.attempts == 2
        assert ModelVersion.objects.filter(pk__in=done.output_links.values("object_id")).count() == 1
        assert ModelVersion.objects.filter(model__name="preempted").count() == 1
        assert wait_finished(keep["id"], timeout=240).status == "succeeded"
    finally:
        for process in workers:
            process.stop()


def _iris(client, team: str) -> str:
    made = client.post("/api/v1/datasets/", {"team": team, "name": "iris", "task": "classification"}, format="json")
    assert made.status_code == 201, made.json()
    version = client.post(f"/api/v1/datasets/{made.json()['id']}/versions/", {"builtin": "iris"}, format="json")
    return version.json()["id"]


def test_three_teams_weighted_1_1_2_on_four_slots_each_hold_their_share_within_one_slot(world, stack):
    """Four real workers, three teams keeping work queued: sampled throughout, each team holds its weighted
    share of the pool's four slots (1, 1 and 2) within one slot, and every job finishes."""
    from accounts_app.models import Team

    member, outsider = world.client("member"), world.client("outsider")
    assert member.post("/api/v1/teams/", {"slug": "gamma", "name": "Gamma"}, format="json").status_code == 201
    # no room at first: all the work waits until the four workers are up
    pool = ResourcePool.objects.create(name=ISOLATED_POOL, queue=ISOLATED_POOL, capacity=0)
    weights = {"alpha": 1, "beta": 1, "gamma": 2}
    for slug, weight in weights.items():
        TeamQuota.objects.create(team=Team.objects.get(slug=slug), pool=pool, weight=weight)
    clients = {"alpha": member, "beta": outsider, "gamma": member}
    versions = {slug: _iris(clients[slug], slug) for slug in weights}
    workers = []
    try:
        ids = []
        for _ in range(8):
            for slug in [s for s, w in weights.items() for _ in range(w)]:  # work in proportion to the weights
                body = {
                    "team": slug,
                    "kind": "process",
                    "spec": {"dataset_version": versions[slug], "steps": [{"op": "dedupe"}]},
                    "resources": {"pool": ISOLATED_POOL},
                }
                response = clients[slug].post("/api/v1/jobs/", body, format="json")
                assert response.status_code == 201, response.json()
                ids.append(response.json()["id"])
        workers = [stack.worker(ISOLATED_POOL) for _ in range(4)]
        assert not Job.objects.filter(pk__in=ids, admitted_at__isnull=False).exists()
        pool.capacity = 4
        pool.save()
        from jobs_app.services import admit

        admit(pool=ISOLATED_POOL)  # what a save in the admin does
        share = {"alpha": 1, "beta": 1, "gamma": 2}
        samples, deadline = 0, time.monotonic() + 240
        jobs = Job.objects.filter(pk__in=ids)
        while time.monotonic() < deadline:
            waiting = set(jobs.filter(status="queued", admitted_at__isnull=True).values_list("team__slug", flat=True))
            if waiting != set(weights):
                break  # a team has no work queued any more: the share no longer applies
            held = {slug: 0 for slug in weights}
            for slug in jobs.filter(status__in=["queued", "running"], admitted_at__isnull=False).values_list(
                "team__slug", flat=True
            ):
                held[slug] += 1
            assert sum(held.values()) <= 4, held
            for slug, target in share.items():
                assert abs(held[slug] - target) <= 1, (samples, held)
            samples += 1
            time.sleep(0.05)
        assert samples >= 5
        done = [wait_finished(i, timeout=240) for i in ids]
        assert {d.status for d in done} == {"succeeded"}, [d.error for d in done if d.status != "succeeded"]
    finally:
        for process in workers:
            process.stop()
