"""One admission decision with 10,000 queued jobs across 50 teams and 5 pools (goal: at most 20 ms).

Each pool holds 2,000 waiting jobs of 50 teams (40 each, mixed priorities), every team has a quota with its
own weight on every pool, and each pool is nearly full (admitted jobs of every team hold all but one slot),
so a decision weighs every team's fair share, quota and month use. Measured in one process against the
database (PostgreSQL when DATABASE_URL points at it):
- `decision_ms`: load the pool's state and pick the next job (jobs_app.services.admission.load + decide),
  in a transaction rolled back after each; median and p95 of 50;
- `round_ms`: a whole admission round of the pool (admit: the decision, sending the job, each waiting team's
  queue_reason written when it changed), rolled back after each; median and p95 of 20.
Run: .venv/bin/python benchmarks/admission.py
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import bench_environment, cleanup, django_shell  # noqa: E402

CODE = r"""
import json, random, statistics, time
from datetime import timedelta
from django.db import transaction
from django.utils import timezone
from accounts_app.models import Team
from jobs_app.models import Job, ResourcePool, TeamMonthUsage, TeamQuota
from jobs_app.services import admission

random.seed(0)
TEAMS, POOLS, WAITING_PER_TEAM_POOL, CAPACITY = 50, 5, 40, 200
now = timezone.now()
teams = Team.objects.bulk_create([Team(slug=f"t{i:02d}", name=f"Team {i}") for i in range(TEAMS)])
pools = [
    ResourcePool.objects.create(name=f"p{i}", queue=f"p{i}", accelerator="gpu" if i % 2 else "cpu", capacity=CAPACITY)
    for i in range(POOLS)
]
TeamQuota.objects.bulk_create([
    TeamQuota(team=t, pool=p, weight=random.choice([1, 1, 2, 3]), max_concurrent_jobs=50, max_gpus=50,
              gpu_hours_per_month=1e6, cpu_hours_per_month=1e6)
    for t in teams for p in pools
])
TeamMonthUsage.objects.bulk_create([
    TeamMonthUsage(team=t, pool=p.name, month=admission.month_start(now), gpu_seconds=random.random() * 1e5,
                   cpu_seconds=random.random() * 1e5)
    for t in teams for p in pools
])
jobs = []
for p in pools:
    for k in range(CAPACITY - 1):  # admitted and running: the pool is full but for one slot
        t = teams[k % TEAMS]
        jobs.append(Job(team=t, kind="process", pool=p.name, status="running", admitted_at=now, units=1,
                        gpus=1 if p.accelerator == "gpu" else 0, created_at=now - timedelta(hours=1)))
    for t in teams:
        for k in range(WAITING_PER_TEAM_POOL):
            jobs.append(Job(team=t, kind="process", pool=p.name, priority=random.randint(-10, 10), units=1,
                            gpus=1 if p.accelerator == "gpu" else 0,
                            created_at=now - timedelta(seconds=random.randint(0, 86400))))
Job.objects.bulk_create(jobs, batch_size=2000)
waiting = Job.objects.filter(status="queued", admitted_at__isnull=True).count()
admission.admit(pool="p0")  # the first round writes every team's reason; later rounds only changes
transaction.set_autocommit(True)

class Rollback(Exception):
    pass

def timed(fn, n):
    out = []
    for _ in range(n):
        try:
            with transaction.atomic():
                start = time.perf_counter()
                result = fn()
                out.append((time.perf_counter() - start) * 1000)
                raise Rollback
        except Rollback:
            pass
    return out, result

def decision():
    state = admission.load("p1", now=timezone.now())
    job, reason = admission.decide(state)
    assert job is not None
    return job

def round_():
    return admission.admit(pool="p1")

decision_ms, job = timed(decision, 50)
round_ms, admitted = timed(round_, 20)
q = lambda xs, f: sorted(xs)[min(len(xs) - 1, int(f * len(xs)))]
print("RESULT" + json.dumps({
    "benchmark": "admission",
    "waiting_jobs": waiting, "teams": TEAMS, "pools": POOLS,
    "decision_ms_median": round(statistics.median(decision_ms), 2), "decision_ms_p95": round(q(decision_ms, 0.95), 2),
    "round_ms_median": round(statistics.median(round_ms), 2), "round_ms_p95": round(q(round_ms, 0.95), 2),
    "admitted_per_round": len(admitted),
    "goal_decision_ms": 20,
}))
"""


def main() -> int:
    env = bench_environment("admission")
    try:
        out = django_shell(env, CODE)
        line = next(line for line in out.splitlines() if line.startswith("RESULT"))
        figures = json.loads(line[len("RESULT") :])
        figures["database"] = "postgresql" if env.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
        figures["ok"] = figures["decision_ms_median"] <= figures["goal_decision_ms"]
        print(json.dumps(figures))
        return 0
    finally:
        cleanup(env)


if __name__ == "__main__":
    sys.exit(main())
