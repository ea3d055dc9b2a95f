"""The dashboard's speed goals (issue 11), measured in Debian's chromium by Playwright against gunicorn
serving the production build:

- chart: a job with 1,000,000 points of `loss` (noise around 1.0 with 25 spikes of 50 at random steps):
  milliseconds from the navigation start of /jobs/<id>?keys=loss to uPlot's draw of the series (goal < 1000),
  and how many of the 25 spikes the drawn points keep (goal: all);
- runs table: 10,000 jobs: milliseconds from navigation start to the first row (goal < 1000), and the most
  rows in the DOM while scrolling to the end (goal: a few dozen);
- bundle: the JavaScript the overview page loads after sign-in, gzipped (goal <= 300 KB).

Run: DATABASE_URL=postgres://... .venv/bin/python benchmarks/dashboard.py  (needs `make frontend` first; it
runs on SQLite too, but the product's figures are PostgreSQL's). Prints one JSON
object; chart_requests and table_requests say where each navigation's time went.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import ROOT, bench_environment, cleanup, django_shell, gunicorn  # noqa: E402

POINTS = 1_000_000
SPIKES = 25
JOBS = 10_000

SETUP = f"""
import numpy as np
from django.utils import timezone
from accounts_app.models import User
from accounts_app.services import create_team
from jobs_app import metrics
from jobs_app.models import Job
u = User.objects.create_user(username="bench", password="bench-password-1")
t = create_team(actor=u, slug="bench", name="Bench")
job = Job.objects.create(team=t, kind="tracking", status="succeeded", spec={{}}, created_by=u,
                         started_at=timezone.now(), finished_at=timezone.now(), progress=1.0)
rng = np.random.default_rng(0)
values = 1.0 + 0.01 * rng.standard_normal({POINTS})
spikes = rng.choice({POINTS}, {SPIKES}, replace=False)
values[spikes] = 50.0
for start in range(0, {POINTS}, 200_000):
    metrics.ingest(job.pk, [("loss", i, float(values[i])) for i in range(start, min(start + 200_000, {POINTS}))])
print("RESULT", job.pk, ",".join(str(int(s)) for s in sorted(spikes)))
"""


def vacuum(env: dict) -> None:
    """What autovacuum does soon after a bulk write: fresh statistics and a visibility map (the first read of
    a million never-vacuumed rows would otherwise pay for setting their hint bits)."""
    import psycopg

    with psycopg.connect(env["DATABASE_URL"].replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        for table in ("jobs_app_job", "jobs_app_metricchunk"):
            conn.execute(f"VACUUM ANALYZE {table}")


def main() -> int:
    if not (ROOT / "frontend" / "dist" / "index.html").exists():
        print(json.dumps({"error": "the dashboard is not built: run make frontend"}))
        return 1
    env = bench_environment("dashboard")
    try:
        out = django_shell(env, SETUP)
        job_id, spike_steps = out.split("RESULT", 1)[1].split()[:2]
        subprocess.run(
            [sys.executable, "manage.py", "seed_jobs", "--team", "bench", "--count", str(JOBS)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        if env.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
            vacuum(env)
        with gunicorn(env, workers=1, threads=4) as (base, _pid):
            run = subprocess.run(
                ["node", "scripts/bench.mjs", base, job_id, spike_steps],
                cwd=ROOT / "frontend",
                env={**env, "CHROMIUM_PATH": shutil.which("chromium") or "/usr/bin/chromium"},
                capture_output=True,
                text=True,
                timeout=600,
            )
        if run.returncode != 0:
            print(json.dumps({"error": run.stderr[-3000:] or run.stdout[-3000:]}))
            return 1
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        # the product's figures are PostgreSQL's: say which database ran
        on_postgres = env.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
        database = "postgresql" if on_postgres else "sqlite"
        figures.update(points=POINTS, jobs=JOBS, database=database)
        figures["goals"] = {
            "chart_drawn_ms": "< 1000",
            "spikes_kept": f"== {SPIKES}",
            "table_first_row_ms": "< 1000",
            "table_max_rows_in_dom": "a few dozen",
            "overview_js_gzip_kb": "<= 300",
        }
        print(json.dumps(figures))
        return 0
    finally:
        cleanup(env)


if __name__ == "__main__":
    sys.exit(main())
