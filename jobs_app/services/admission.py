"""Admission: which waiting jobs go to the broker now. A job is sent to its pool's queue only when its team is
within its quota (jobs_app.models.TeamQuota) and the pool has room (ResourcePool.capacity); until then it
stays `queued` with a `queue_reason` in plain words, and it is let through by itself when room frees (admission
runs at submit, when a job ends, and in every reaper round).

Order between teams is fair share: the team whose current use of the pool divided by its weight is lowest goes
first; ties go to the lower GPU-hours (CPU-hours on a CPU pool) used this month divided by weight; within a team,
higher priority, then older. A pool is filled strictly in that order: when the next job does not fit, nothing
behind it jumps ahead (no back-filling), so a large job is never starved by small ones.

Usage is accounted per attempt (`account_attempt`): GPU-seconds = GPUs × wall time, CPU-seconds as measured in
the worker process (`record_cpu`), added to the job and to its team's month (TeamMonthUsage). A monthly budget
that runs out mid-job lets that job finish; the team's later jobs wait.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from accounts_app.models import Team
from jobs_app import kinds
from jobs_app.models import Accelerator, Job, JobLog, JobStatus, ResourcePool, TeamMonthUsage, TeamQuota
from jobs_app.services.dispatch import enqueue

log = logging.getLogger(__name__)
HELD = (JobStatus.QUEUED, JobStatus.RUNNING)


def month_start(when: datetime) -> date:
    return when.date().replace(day=1)


def _plural(n: float, word: str) -> str:
    shown = f"{n:,.0f}" if float(n).is_integer() else f"{n:,.1f}"
    return f"{shown} {word}{'' if n == 1 else 's'}"


@dataclass
class TeamState:
    """One team's standing in one pool during an admission round."""

    team_id: int
    weight: float = 1.0
    quota: TeamQuota | None = None
    jobs: int = 0  # admitted and not finished
    units: int = 0
    gpus: int = 0
    month_gpu_s: float = 0.0
    month_cpu_s: float = 0.0
    head: Job | None = None
    blocked: str = ""

    def key(self, gpu_pool: bool) -> tuple:
        month = self.month_gpu_s if gpu_pool else self.month_cpu_s
        job = self.head
        return (self.units / self.weight, month / self.weight, -job.priority, job.created_at, str(job.pk))

    def refusal(self, job: Job) -> str:
        """Why this team's quota keeps `job` back now ('' when it may go)."""
        q = self.quota
        if q is None:
            return ""
        if q.max_concurrent_jobs is not None and self.jobs + 1 > q.max_concurrent_jobs:
            return f"team quota: {self.jobs} of {_plural(q.max_concurrent_jobs, 'concurrent job')} running"
        if job.gpus and q.max_gpus is not None and self.gpus + job.gpus > q.max_gpus:
            return f"team quota: {self.gpus} of {_plural(q.max_gpus, 'GPU')} in use"
        if job.gpus and q.gpu_hours_per_month is not None and self.month_gpu_s >= q.gpu_hours_per_month * 3600:
            return f"monthly GPU-hours used up ({self.month_gpu_s / 3600:,.1f} of {q.gpu_hours_per_month:g})"
        if q.cpu_hours_per_month is not None and self.month_cpu_s >= q.cpu_hours_per_month * 3600:
            return f"monthly CPU-hours used up ({self.month_cpu_s / 3600:,.1f} of {q.cpu_hours_per_month:g})"
        return ""


@dataclass
class PoolState:
    name: str
    pool: ResourcePool | None
    teams: dict[int, TeamState] = field(default_factory=dict)

    @property
    def gpu_pool(self) -> bool:
        return self.pool is not None and self.pool.accelerator == Accelerator.GPU

    @property
    def used(self) -> int:
        return sum(t.units for t in self.teams.values())

    def full_reason(self, job: Job) -> str:
        if self.pool is None or self.used + job.units <= self.pool.capacity:
            return ""
        unit = "GPU" if self.gpu_pool else "slot"
        return f"pool {self.name} full: {self.used} of {_plural(self.pool.capacity, unit)} in use"


def _lock(pool: str) -> ResourcePool | None:
    """Serialise admission of one pool across processes: its row, or (a pool without one) an advisory lock."""
    row = ResourcePool.objects.select_for_update().filter(name=pool).first()
    if row is None and connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"eco-pool:{pool}".encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
    return row


def load(pool: str, *, now: datetime) -> PoolState:
    """The pool's state for a round: each team's quota, weight, what it holds, its month's use and its best
    waiting job. A handful of indexed queries whatever the queue's length (one row per team each)."""
    state = PoolState(pool, _lock(pool))

    def team(team_id: int) -> TeamState:
        return state.teams.setdefault(team_id, TeamState(team_id))

    if state.pool is not None:
        for quota in TeamQuota.objects.filter(pool=state.pool):
            t = team(quota.team_id)
            t.quota, t.weight = quota, quota.weight
    held = (
        Job.objects.filter(pool=pool, status__in=HELD, admitted_at__isnull=False)
        .values("team_id")
        .annotate(n=Count("id"), units=Sum("units"), gpus=Sum("gpus"))
        .order_by()
    )
    for row in held:
        t = team(row["team_id"])
        t.jobs, t.units, t.gpus = row["n"], row["units"] or 0, row["gpus"] or 0
    for row in TeamMonthUsage.objects.filter(pool=pool, month=month_start(now)).values(
        "team_id", "gpu_seconds", "cpu_seconds"
    ):
        t = team(row["team_id"])
        t.month_gpu_s, t.month_cpu_s = row["gpu_seconds"], row["cpu_seconds"]
    for job in _heads(pool):
        team(job.team_id).head = job
    return state


def _waiting(pool: str):
    return Job.objects.filter(pool=pool, status=JobStatus.QUEUED, admitted_at__isnull=True)


def _heads(pool: str, team_id: int | None = None) -> list[Job]:
    """Each team's next waiting job (highest priority, then oldest): one per team, by the `job_waiting` index."""
    jobs = _waiting(pool)
    if team_id is not None:
        return list(jobs.filter(team_id=team_id).order_by("-priority", "created_at", "id")[:1])
    if connection.vendor == "postgresql":
        return list(jobs.order_by("team_id", "-priority", "created_at", "id").distinct("team_id"))
    heads: dict[int, Job] = {}
    for job in jobs.order_by("team_id", "-priority", "created_at", "id"):
        heads.setdefault(job.team_id, job)
    return list(heads.values())


def decide(state: PoolState) -> tuple[Job | None, str]:
    """The next job to admit under fair share, or (None, the pool's reason) when the best candidate does not
    fit; teams held back by their quota are marked (`blocked`) and skipped. Writes nothing."""
    while True:
        candidates = [t for t in state.teams.values() if t.head is not None and not t.blocked]
        if not candidates:
            return None, ""
        best = min(candidates, key=lambda t: t.key(state.gpu_pool))
        refusal = best.refusal(best.head)
        if refusal:
            best.blocked = refusal
            continue
        full = state.full_reason(best.head)
        if full:
            return None, full
        return best.head, ""


@transaction.atomic
def admit(*, pool: str, now: datetime | None = None) -> list[Job]:
    """One admission round of `pool`: send every waiting job that fits, in fair-share order, and write each
    remaining waiting job's `queue_reason`. Returns the jobs admitted. Safe to call from several processes
    at once (the pool is locked for the round)."""
    now = now or timezone.now()
    state = load(pool, now=now)
    admitted: list[Job] = []
    for _ in range(2):  # a second pass when a preemption gave back a place at once
        pool_reason = _fill(state, pool, now, admitted)
        if not pool_reason:
            break
        preempting, freed = preempt_for_fair_share(state, now=now)
        if preempting:
            pool_reason = f"{pool_reason}; {preempting}"
        if not freed:
            break
    for t in state.teams.values():
        if t.head is None:
            continue
        reason = t.blocked or pool_reason or f"waiting its turn for pool {pool} (fair share)"
        _waiting(pool).filter(team_id=t.team_id).exclude(queue_reason=reason).update(queue_reason=reason)
    if admitted:
        log.info("admitted %d job(s) to pool %s", len(admitted), pool)
    return admitted


def shares(state: PoolState) -> dict[int, float]:
    """Each team's fair share of the pool (in GPUs or slots): capacity × weight ÷ the weights of the teams that
    hold some of it or wait for it."""
    demand = [t for t in state.teams.values() if t.units > 0 or (t.head is not None and not t.blocked)]
    total = sum(t.weight for t in demand) or 1.0
    return {t.team_id: state.pool.capacity * t.weight / total for t in demand}


def preempt_for_fair_share(state: PoolState, *, now: datetime) -> tuple[str, bool]:
    """When a team that would still be within its share waits on a full pool, ask the lowest-priority train job
    of a team above its share to give its place back: one not started yet is simply un-admitted; a running one
    is asked (`preempt_requested_at`) to save an on-demand checkpoint at its next step and return to the queue
    (the reaper re-queues it if it has not within the pool's grace period). One preemption at a time per pool.
    Returns what it did in words for the waiting jobs' reason ('' for nothing), and whether a place is free now
    (an un-admitted job) rather than once the running one has stopped."""
    if state.pool is None:
        return "", False
    share = shares(state)
    below = [
        t
        for t in state.teams.values()
        if t.head is not None and not t.blocked and t.units + t.head.units <= share.get(t.team_id, 0.0)
    ]
    over = {t.team_id for t in state.teams.values() if t.units > share.get(t.team_id, 0.0) + 1e-9}
    if not below or not over:
        return "", False
    held = Job.objects.filter(pool=state.name, status__in=HELD, admitted_at__isnull=False)
    pending = held.filter(status=JobStatus.RUNNING, preempt_requested_at__isnull=False).first()
    if pending is not None:
        return f"preempting a job of team {pending.team.slug}", False
    victim = (
        held.filter(team_id__in=over, kind__in=kinds.PREEMPTIBLE, preempt_requested_at__isnull=True)
        .order_by("priority", "-status", F("attempt_started_at").desc(nulls_last=True), "-created_at")
        .select_related("team")
        .first()
    )  # "-status": queued (not started: no work lost) before running
    if victim is None:
        return "", False
    waiting = min(below, key=lambda t: t.key(state.gpu_pool))
    slug = Team.objects.filter(pk=waiting.team_id).values_list("slug", flat=True).first()
    why = (
        f"preempted for team {slug}, which waits below its fair share of pool {state.name} "
        f"({waiting.units} of {share[waiting.team_id]:.1f}); team {victim.team.slug} holds "
        f"{state.teams[victim.team_id].units} of its {share[victim.team_id]:.1f}"
    )
    if victim.status == JobStatus.QUEUED:  # admitted, not started: it waits again, nothing is lost
        Job.objects.filter(pk=victim.pk).update(admitted_at=None, task_id=uuid.uuid4().hex, queue_reason=why)
        JobLog.objects.create(job=victim, line=f"{why}; it had not started")
    else:
        grace = state.pool.preemption_grace_s
        Job.objects.filter(pk=victim.pk).update(preempt_requested_at=now)
        JobLog.objects.create(
            job=victim,
            line=f"{why}; asked to save an on-demand checkpoint at its next step (within {grace} s) and return to "
            "the queue",
        )
    done = f"preempting a job of team {victim.team.slug}, above its fair share"
    if victim.status != JobStatus.QUEUED:
        return done, False  # it holds its place until it has stopped
    t = state.teams[victim.team_id]
    t.units, t.jobs, t.gpus = t.units - victim.units, t.jobs - 1, t.gpus - victim.gpus
    return done, True


def _fill(state: PoolState, pool: str, now: datetime, admitted: list[Job]) -> str:
    """Admit jobs in fair-share order while they fit; returns the pool's reason when the next one does not."""
    while True:
        job, pool_reason = decide(state)
        if job is None:
            return pool_reason
        t = state.teams[job.team_id]
        job.admitted_at, job.queue_reason = now, ""
        Job.objects.filter(pk=job.pk).update(admitted_at=now, queue_reason="")
        enqueue(job)
        admitted.append(job)
        t.jobs, t.units, t.gpus = t.jobs + 1, t.units + job.units, t.gpus + job.gpus
        heads = _heads(pool, job.team_id)
        t.head = heads[0] if heads else None


def released(job: Job) -> None:
    """A job that held a place in its pool has ended: run the pool's admission round in the same transaction,
    so the place passes to the next job as the job's end commits (nobody ever sees the pool emptier than it
    is). Its rows are not among the waiting jobs a round writes, so the lock order is the same as a submit's
    (pool, then waiting rows). A job that never held a place frees nothing."""
    if job.admitted_at is not None:
        admit(pool=job.pool)


def admit_after_commit(pool: str) -> None:
    """Run an admission round of `pool` once the current transaction commits (a job ended, a quota changed)."""

    def run():
        try:
            admit(pool=pool)
        except Exception:  # the reaper's next round admits what this one could not
            log.warning("admission of pool %s failed; the reaper retries", pool, exc_info=True)

    transaction.on_commit(run, robust=True)


def admit_all(*, now: datetime | None = None) -> list[Job]:
    """An admission round of every pool with waiting jobs (the reaper's round: month roll-over, quota edits)."""
    pools = set(Job.objects.filter(status=JobStatus.QUEUED, admitted_at__isnull=True).values_list("pool", flat=True))
    admitted = []
    for pool in sorted(pools):
        admitted += admit(pool=pool, now=now)
    return admitted


def units_for(*, pool: str, gpus: int, processes: int = 1) -> int:
    """What a job holds of `pool`: its GPUs on a GPU pool, else a slot per process (`resources.processes`: a
    distributed job on the CPU runs that many training processes)."""
    accelerator = ResourcePool.objects.filter(name=pool).values_list("accelerator", flat=True).first()
    return max(1, gpus) if accelerator == Accelerator.GPU else max(1, processes)


def account_attempt(job: Job, *, now: datetime | None = None) -> None:
    """Add the ending attempt's GPU-seconds (GPUs × wall time since it started) to the job and to its team's
    month. Called once per attempt, where the attempt ends (lifecycle, reaper). Jobs outside the workers and
    attempts that never started count nothing."""
    if job.attempt_started_at is None:
        return
    now = now or timezone.now()
    gpu_s = max(0.0, (now - job.attempt_started_at).total_seconds()) * job.gpus
    Job.objects.filter(pk=job.pk).update(gpu_seconds=F("gpu_seconds") + gpu_s)
    job.gpu_seconds += gpu_s
    _month_row(job, now, gpu_s=gpu_s, cpu_s=0.0, ended=True)


def record_cpu(*, job_id, seconds: float) -> None:
    """Add CPU-seconds measured in the worker process for one attempt to the job and its team's month."""
    if seconds <= 0:
        return
    job = Job.objects.filter(pk=job_id).only("pk", "team_id", "pool").first()
    if job is None:
        return
    with transaction.atomic():
        Job.objects.filter(pk=job_id).update(cpu_seconds=F("cpu_seconds") + seconds)
        _month_row(job, timezone.now(), gpu_s=0.0, cpu_s=seconds, ended=False)


def _month_row(job: Job, now: datetime, *, gpu_s: float, cpu_s: float, ended: bool) -> None:
    month = month_start(now)
    TeamMonthUsage.objects.get_or_create(team_id=job.team_id, pool=job.pool, month=month)
    TeamMonthUsage.objects.filter(team_id=job.team_id, pool=job.pool, month=month).update(
        gpu_seconds=F("gpu_seconds") + gpu_s, cpu_seconds=F("cpu_seconds") + cpu_s, jobs=F("jobs") + int(ended)
    )


def is_known_pool(pool: str) -> bool:
    return pool in settings.ECO_POOLS or ResourcePool.objects.filter(name=pool).exists()
