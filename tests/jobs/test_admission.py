"""Admission (jobs_app.services.admission): quotas, pool capacity, fair share between teams, the reasons a
waiting job shows, and usage accounting. Jobs are submitted through the service; the broker is not needed to
decide (the workers' side is tested in tests/worker/test_admission_on_worker.py)."""

from datetime import timedelta

import pytest
from django.test import TestCase
from django.utils import timezone

from jobs_app.models import Job, JobStatus, ResourcePool, TeamMonthUsage, TeamQuota
from jobs_app.services import admission, cancel_job, submit_job
from jobs_app.services.lifecycle import finish
from tests.factories import MembershipFactory, TeamFactory

SPEC = {"steps": [{"op": "dedupe"}]}


@pytest.fixture
def version(iris_version):
    return str(iris_version.pk)


def _submit(world, version, *, pool="cpu", gpus=0, priority=0):
    return submit_job(
        actor=world.users["admin"],
        team=world.alpha,
        kind="process",
        spec={"dataset_version": version, **SPEC},
        priority=priority,
        resources={"pool": pool, "gpus": gpus},
    )


def _end(job: Job) -> None:
    """The job runs and ends (what a worker's attempt does), then admission runs as after that commit."""
    job = Job.objects.get(pk=job.pk)
    job.status, job.attempt_started_at, job.started_at = JobStatus.RUNNING, timezone.now(), timezone.now()
    finish(job, JobStatus.FAILED, "done")
    admission.admit(pool=job.pool)


def test_without_a_pool_row_or_quota_every_job_is_admitted_at_once(world, version):
    jobs = [_submit(world, version) for _ in range(3)]
    assert all(Job.objects.get(pk=j.pk).admitted_at is not None for j in jobs)
    detail = world.client("member").get(f"/api/v1/jobs/{jobs[0].pk}/").json()
    assert detail["queue_reason"] == "waiting for a worker on pool cpu"


def test_a_team_quota_of_one_concurrent_job_holds_the_rest_back_with_a_reason(world, version):
    pool = ResourcePool.objects.create(name="cpu", queue="cpu", capacity=10)
    TeamQuota.objects.create(team=world.alpha, pool=pool, max_concurrent_jobs=1)
    first, second, third = (_submit(world, version) for _ in range(3))
    states = {j.pk: Job.objects.get(pk=j.pk) for j in (first, second, third)}
    assert states[first.pk].admitted_at is not None
    assert states[second.pk].admitted_at is None and states[third.pk].admitted_at is None
    reason = world.client("viewer").get(f"/api/v1/jobs/{second.pk}/").json()["queue_reason"]
    assert reason == "team quota: 1 of 1 concurrent job running"
    _end(first)
    assert Job.objects.get(pk=second.pk).admitted_at is not None  # it starts by itself when room frees
    assert Job.objects.get(pk=third.pk).admitted_at is None


def test_a_full_pool_and_a_gpu_quota_name_their_numbers(world, version):
    gpu = ResourcePool.objects.create(name="gpu", queue="gpu", accelerator="gpu", capacity=8)
    TeamQuota.objects.create(team=world.alpha, pool=gpu, max_gpus=2)
    a1 = _submit(world, version, pool="gpu", gpus=2)
    a2 = _submit(world, version, pool="gpu", gpus=1)
    assert Job.objects.get(pk=a1.pk).admitted_at and Job.objects.get(pk=a1.pk).units == 2
    assert Job.objects.get(pk=a2.pk).queue_reason == "team quota: 2 of 2 GPUs in use"
    TeamQuota.objects.filter(team=world.alpha).update(max_gpus=None)
    gpu.capacity = 2
    gpu.save()
    admission.admit(pool="gpu")
    assert Job.objects.get(pk=a2.pk).queue_reason == "pool gpu full: 2 of 2 GPUs in use"


def test_a_monthly_budget_used_up_lets_the_running_job_finish_and_holds_later_ones(world, version):
    gpu = ResourcePool.objects.create(name="gpu", queue="gpu", accelerator="gpu", capacity=8)
    TeamQuota.objects.create(team=world.alpha, pool=gpu, gpu_hours_per_month=1.0)
    running = _submit(world, version, pool="gpu", gpus=1)
    Job.objects.filter(pk=running.pk).update(status="running", attempt_started_at=timezone.now())
    TeamMonthUsage.objects.create(
        team=world.alpha, pool="gpu", month=admission.month_start(timezone.now()), gpu_seconds=3600.0
    )
    later = _submit(world, version, pool="gpu", gpus=1)
    assert Job.objects.get(pk=running.pk).status == "running"  # not stopped
    assert Job.objects.get(pk=later.pk).queue_reason == "monthly GPU-hours used up (1.0 of 1)"
    # a new month's budget lets it through (the reaper's round runs admission)
    admission.admit(pool="gpu", now=timezone.now() + timedelta(days=32))
    assert Job.objects.get(pk=later.pk).admitted_at is not None


def test_gpu_seconds_are_gpus_times_wall_time_per_attempt_and_add_up_per_team_and_month(world, version):
    ResourcePool.objects.create(name="gpu", queue="gpu", accelerator="gpu", capacity=8)
    job = _submit(world, version, pool="gpu", gpus=2)
    started = timezone.now() - timedelta(seconds=30)
    Job.objects.filter(pk=job.pk).update(status="running", attempt_started_at=started, started_at=started)
    finish(Job.objects.get(pk=job.pk), JobStatus.FAILED, "boom", now=started + timedelta(seconds=30))
    assert Job.objects.get(pk=job.pk).gpu_seconds == pytest.approx(60.0)
    admission.record_cpu(job_id=job.pk, seconds=12.5)
    row = TeamMonthUsage.objects.get(team=world.alpha, pool="gpu")
    assert (row.gpu_seconds, row.cpu_seconds, row.jobs) == (pytest.approx(60.0), 12.5, 1)
    usage = world.client("viewer").get("/api/v1/teams/alpha/usage/").json()
    assert usage["gpu_seconds"] == pytest.approx(60.0, abs=0.01) and usage["cpu_seconds"] == 12.5


def test_a_cancelled_waiting_job_is_never_sent_and_frees_nothing(world, version):
    pool = ResourcePool.objects.create(name="cpu", queue="cpu", capacity=10)
    TeamQuota.objects.create(team=world.alpha, pool=pool, max_concurrent_jobs=1)
    first, second = _submit(world, version), _submit(world, version)
    cancel_job(actor=world.users["admin"], job=second)
    admission.admit(pool="cpu")
    second = Job.objects.get(pk=second.pk)
    assert second.status == "cancelled" and second.admitted_at is None and second.task_id == ""
    assert Job.objects.get(pk=first.pk).admitted_at is not None


def _teams(world, weights):
    teams = []
    pool = ResourcePool.objects.get(name="cpu")
    for i, weight in enumerate(weights):
        team = TeamFactory(slug=f"t{i}")
        MembershipFactory(team=team, user=world.users["admin"], role="admin")
        TeamQuota.objects.create(team=team, pool=pool, weight=weight)
        teams.append(team)
    return teams


def _held(pool="cpu") -> dict[str, int]:
    held = {}
    for slug in Job.objects.filter(pool=pool, admitted_at__isnull=False, status__in=["queued", "running"]).values_list(
        "team__slug", flat=True
    ):
        held[slug] = held.get(slug, 0) + 1
    return held


def test_fair_share_holds_each_team_to_its_weighted_share_within_one_slot(world, iris_version):
    """Three teams with weights 1, 1 and 2 on a pool of four slots, all keeping work queued: whenever a job
    ends, each team holds its weighted share (1, 1, 2) within one slot."""
    from datasets_app.services import create_dataset, create_version_from_builtin

    ResourcePool.objects.create(name="cpu", queue="cpu", capacity=4)
    teams = _teams(world, [1, 1, 2])
    versions = {}
    for team in teams:
        ds = create_dataset(actor=world.users["admin"], team=team, name="d", task="classification")
        versions[team.slug] = str(create_version_from_builtin(actor=world.users["admin"], dataset=ds, name="iris").pk)
    for _ in range(6):
        for team in teams:
            submit_job(
                actor=world.users["admin"], team=team, kind="process",
                spec={"dataset_version": versions[team.slug], **SPEC}, resources={"pool": "cpu"},
            )  # fmt: skip
    share = {"t0": 1, "t1": 1, "t2": 2}
    rounds = 0
    waiting = Job.objects.filter(pool="cpu", status="queued", admitted_at__isnull=True)
    while waiting.values("team").distinct().count() == 3:  # every team keeps work queued
        held = _held()
        assert sum(held.values()) == 4
        for slug, target in share.items():
            assert abs(held.get(slug, 0) - target) <= 1, (rounds, held)
        # the oldest admitted job ends; admission refills the slot
        oldest = (
            Job.objects.filter(pool="cpu", admitted_at__isnull=False, status="queued")
            .order_by("admitted_at", "created_at")
            .first()
        )
        _end(oldest)
        rounds += 1
    assert rounds >= 8


def test_the_team_furthest_below_its_share_goes_first_then_month_use_then_priority(world):
    from datasets_app.services import create_dataset, create_version_from_builtin

    pool = ResourcePool.objects.create(name="cpu", queue="cpu", capacity=2)
    t0, t1 = _teams(world, [1, 1])
    versions = {}
    for team in (t0, t1):
        ds = create_dataset(actor=world.users["admin"], team=team, name="d", task="classification")
        versions[team.pk] = str(create_version_from_builtin(actor=world.users["admin"], dataset=ds, name="iris").pk)

    def job(team, priority=0):
        return submit_job(
            actor=world.users["admin"], team=team, kind="process", priority=priority,
            spec={"dataset_version": versions[team.pk], **SPEC},
        )  # fmt: skip

    def admitted(j):
        return Job.objects.get(pk=j.pk).admitted_at is not None

    a, b = job(t0), job(t0)  # t0 fills the pool
    high0, plain1 = job(t0, priority=9), job(t1)
    assert admitted(a) and admitted(b) and not admitted(high0) and not admitted(plain1)
    # t0 still holds one slot, t1 none: t1 goes first, though t0's job has the higher priority
    _end(a)
    assert admitted(plain1) and not admitted(high0)
    # both hold one slot now; on a tie of current use, the lower use this month goes first
    _end(b)  # frees a slot: t0 holds 0, t1 holds 1, so t0 goes whatever the month says
    assert admitted(high0)
    low0, mid1 = job(t0, priority=-5), job(t1, priority=5)
    TeamMonthUsage.objects.update_or_create(
        team=t0, pool="cpu", month=admission.month_start(timezone.now()), defaults={"cpu_seconds": 99}
    )
    _end(high0)  # t0 0, t1 1 (plain1): t0 first
    assert admitted(low0) and not admitted(mid1)
    _end(low0)
    _end(plain1)  # both hold 0 now: t1 used less this month, so t1's job goes first
    assert admitted(mid1)
    assert pool.capacity == 2


def test_within_a_team_higher_priority_then_older_goes_first(world, version):
    pool = ResourcePool.objects.create(name="cpu", queue="cpu", capacity=1)
    first = _submit(world, version)
    old_low, new_high, new_low = (
        _submit(world, version, priority=-1),
        _submit(world, version, priority=3),
        _submit(world, version, priority=-1),
    )
    _end(first)
    assert Job.objects.get(pk=new_high.pk).admitted_at is not None
    _end(new_high)
    assert Job.objects.get(pk=old_low.pk).admitted_at is not None
    assert Job.objects.get(pk=new_low.pk).admitted_at is None
    assert Job.objects.get(pk=new_low.pk).queue_reason == "pool cpu full: 1 of 1 slot in use"
    assert pool.pk


def test_a_pool_saved_in_the_admin_is_audited_before_and_after_and_lets_waiting_jobs_through(world, version):
    from django.test import Client

    from accounts_app.models import AuditEvent

    pool = ResourcePool.objects.create(name="cpu", queue="cpu", capacity=10)
    quota = TeamQuota.objects.create(team=world.alpha, pool=pool, max_concurrent_jobs=1)
    first, second = _submit(world, version), _submit(world, version)
    assert Job.objects.get(pk=second.pk).admitted_at is None
    staff = world.users["admin"]
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    form = {
        "name": "cpu", "queue": "cpu", "accelerator": "cpu", "capacity": "10", "preemption_grace_s": "60",
        "quotas-TOTAL_FORMS": "1", "quotas-INITIAL_FORMS": "1",
        "quotas-MIN_NUM_FORMS": "0", "quotas-MAX_NUM_FORMS": "1000",
        "quotas-0-id": str(quota.pk), "quotas-0-pool": str(pool.pk), "quotas-0-team": str(world.alpha.pk),
        "quotas-0-weight": "1", "quotas-0-max_concurrent_jobs": "2",
    }  # fmt: skip
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(f"/admin/jobs_app/resourcepool/{pool.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="governance.pool")
    assert event.data["before"]["quotas"]["alpha"]["max_concurrent_jobs"] == 1
    assert event.data["after"]["quotas"]["alpha"]["max_concurrent_jobs"] == 2
    assert Job.objects.get(pk=second.pk).admitted_at is not None  # the raised limit let it through
    assert first.pk


def test_changing_a_waiting_jobs_priority_is_audited_and_refused_once_it_is_admitted(world, version):
    from accounts_app.models import AuditEvent
    from jobs_app.services.governance import set_priority

    pool = ResourcePool.objects.create(name="cpu", queue="cpu", capacity=1)
    running, waiting = _submit(world, version), _submit(world, version)
    assert set_priority(actor=world.users["admin"], job=waiting, priority=15) is True  # clamped to 10
    assert Job.objects.get(pk=waiting.pk).priority == 10
    assert set_priority(actor=world.users["admin"], job=running, priority=5) is False
    assert AuditEvent.objects.get(action="job.priority").data == {"before": 0, "after": 10}
    assert pool.pk


def test_an_upload_beyond_the_storage_quota_is_a_409_naming_the_quota_and_stores_nothing(world, dataset):
    from datasets_app.models import DatasetVersion
    from tests.helpers import csv_file

    pool = ResourcePool.objects.create(name="cpu", queue="cpu", capacity=10)
    TeamQuota.objects.create(team=world.alpha, pool=pool, storage_bytes=200)
    client = world.client("member")
    small = client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/",
        {"file": csv_file("a,b\n1,x\n2,y\n"), "target": "b"},
        format="multipart",
    )
    assert small.status_code == 201, small.json()
    big = client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/",
        {"file": csv_file("a,b\n" + "".join(f"{i},x\n" for i in range(100))), "target": "b"},
        format="multipart",
    )
    assert big.status_code == 409 and "team storage quota" in big.json()["detail"], big.json()
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1
    # the same file again costs nothing: it is stored once
    again = client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/",
        {"file": csv_file("a,b\n1,x\n2,y\n"), "target": "b"},
        format="multipart",
    )
    assert again.status_code == 201


def _train(world, team, version, *, priority=0):
    return submit_job(
        actor=world.users["admin"], team=team, kind="train", priority=priority,
        spec={"dataset_version": version, "model": f"m-{team.slug}", "architecture": "mlp"},
    )  # fmt: skip


def _two_teams_with_data(world):
    from datasets_app.services import create_dataset, create_version_from_builtin

    teams = _teams(world, [1, 1])
    versions = {}
    for team in teams:
        ds = create_dataset(actor=world.users["admin"], team=team, name="d", task="classification")
        versions[team.pk] = str(create_version_from_builtin(actor=world.users["admin"], dataset=ds, name="iris").pk)
    return teams, versions


def _run(job):
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(status="running", attempt_started_at=now, started_at=now, heartbeat_at=now)
    return Job.objects.get(pk=job.pk)


def test_a_team_below_its_share_gets_the_lowest_priority_running_job_of_a_team_above_it_preempted(world):
    from jobs_app.services import heartbeat, requeue_preempted

    ResourcePool.objects.create(name="cpu", queue="cpu", capacity=2, preemption_grace_s=60)
    (t0, t1), versions = _two_teams_with_data(world)
    keep, victim = _run(_train(world, t0, versions[t0.pk], priority=5)), _run(_train(world, t0, versions[t0.pk]))
    waiting = _train(world, t1, versions[t1.pk])
    victim = Job.objects.get(pk=victim.pk)
    assert victim.preempt_requested_at is not None and Job.objects.get(pk=keep.pk).preempt_requested_at is None
    reason = Job.objects.get(pk=waiting.pk).queue_reason
    assert reason.startswith("pool cpu full: 2 of 2 slots in use; preempting a job of team t0"), reason
    lines = list(victim.log_lines.values_list("line", flat=True))
    assert any(
        "preempted for team t1, which waits below its fair share of pool cpu (0 of 1.0)" in line for line in lines
    )
    # one preemption at a time: another round asks nobody else
    admission.admit(pool="cpu")
    assert Job.objects.filter(preempt_requested_at__isnull=False).count() == 1
    # the worker's heartbeat hears it; the stopped attempt goes back to the queue and the place goes to t1
    assert heartbeat(job_id=victim.pk, task_id=victim.task_id, progress=0.5) == "preempt"
    with TestCase.captureOnCommitCallbacks(execute=True):
        requeue_preempted(job_id=victim.pk, task_id=victim.task_id)
    victim, waiting = Job.objects.get(pk=victim.pk), Job.objects.get(pk=waiting.pk)
    assert victim.status == "queued" and victim.admitted_at is None and victim.preempt_requested_at is None
    assert waiting.admitted_at is not None
    # now each team holds its share (1 of 1): nobody is preempted again
    assert Job.objects.filter(preempt_requested_at__isnull=False).count() == 0
    assert "t0" in victim.queue_reason or victim.queue_reason.startswith("pool cpu full")


def test_an_admitted_job_that_has_not_started_is_given_back_at_once(world):
    ResourcePool.objects.create(name="cpu", queue="cpu", capacity=2)
    (t0, t1), versions = _two_teams_with_data(world)
    running = _run(_train(world, t0, versions[t0.pk]))
    not_started = _train(world, t0, versions[t0.pk], priority=-3)
    assert Job.objects.get(pk=not_started.pk).admitted_at is not None
    old_task = Job.objects.get(pk=not_started.pk).task_id
    waiting = _train(world, t1, versions[t1.pk])
    not_started = Job.objects.get(pk=not_started.pk)
    assert not_started.admitted_at is None and not_started.task_id != old_task  # its message is now stale
    assert Job.objects.get(pk=waiting.pk).admitted_at is not None
    assert Job.objects.get(pk=running.pk).preempt_requested_at is None


def test_a_job_that_ignores_preemption_is_requeued_by_the_reaper_after_the_grace_period(world):
    from jobs_app.services import reap_stale_jobs

    ResourcePool.objects.create(name="cpu", queue="cpu", capacity=2, preemption_grace_s=60)
    (t0, t1), versions = _two_teams_with_data(world)
    _run(_train(world, t0, versions[t0.pk], priority=1))
    stubborn = _run(_train(world, t0, versions[t0.pk]))
    waiting = _train(world, t1, versions[t1.pk])  # asks for the preemption
    assert Job.objects.get(pk=stubborn.pk).preempt_requested_at is not None
    reap_stale_jobs()  # within the grace period: nothing happens
    assert Job.objects.get(pk=stubborn.pk).status == "running"
    Job.objects.filter(pk=stubborn.pk).update(preempt_requested_at=timezone.now() - timedelta(seconds=61))
    reap_stale_jobs()
    stubborn = Job.objects.get(pk=stubborn.pk)
    assert stubborn.status == "queued" and stubborn.admitted_at is None
    lines = list(stubborn.log_lines.values_list("line", flat=True))
    assert any("did not stop within the grace period (60 s)" in line for line in lines)
    assert Job.objects.get(pk=waiting.pk).admitted_at is not None


def test_the_console_charts_usage_per_team_and_month_and_audits_in_words(world, version):
    from django.test import Client

    from accounts_app.admin import describe_change

    pool = ResourcePool.objects.create(name="gpu", queue="gpu", accelerator="gpu", capacity=8)
    month = admission.month_start(timezone.now())
    TeamMonthUsage.objects.create(team=world.alpha, pool="gpu", month=month, gpu_seconds=7200, cpu_seconds=360)
    TeamMonthUsage.objects.create(team=world.beta, pool="gpu", month=month, gpu_seconds=1800)
    staff = world.users["admin"]
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/jobs_app/teammonthusage/").content.decode()
    charts = [part.split("</figure>")[0] for part in page.split("<figure")[1:]]
    assert len(charts) == 2 and "GPU-hours per team" in charts[0] and "CPU-hours per team" in charts[1]
    assert all("pygal-chart" in c and "<script" not in c for c in charts)  # no script: the CSP allows none
    assert "alpha" in page and "2.00" in page  # the list's rounded GPU-hours
    assert (
        describe_change(
            {
                "before": {"quotas": {"alpha": {"max_gpus": 2, "weight": 1}}},
                "after": {"quotas": {"alpha": {"max_gpus": 4, "weight": 1}}},
            }
        )
        == "quotas.alpha.max_gpus: 2 → 4"
    )
    assert describe_change({"kind": "train"}) == "kind=train"
    assert pool.pk


def test_requeue_sends_an_admitted_job_back_to_wait_and_asks_a_running_one_to_checkpoint(world, version):
    from accounts_app.models import AuditEvent
    from jobs_app.services.governance import requeue_job

    ResourcePool.objects.create(name="cpu", queue="cpu", capacity=1)
    running = _run(_train(world, world.alpha, version))
    waiting_admitted = _submit(world, version)  # waits: the pool is full
    assert requeue_job(actor=world.users["admin"], job=waiting_admitted) is False  # not admitted: nothing to do
    assert requeue_job(actor=world.users["admin"], job=running) is True
    assert Job.objects.get(pk=running.pk).preempt_requested_at is not None
    assert AuditEvent.objects.filter(action="job.requeue").count() == 1
