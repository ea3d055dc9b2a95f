"""The metrics store through the REST API under gunicorn (PostgreSQL when DATABASE_URL points at it).

1. Ingest 1,000,000 points with POST /jobs/{id}/metrics/ in batches (--clients client threads, default two,
   against two gunicorn workers: the machine's two cores), goal at least 100,000 points/s. Then again as a
   tracking client sends them (`ingest_one_client`): one client, 1,000-point requests one after another, each
   with its batch_id and the points as columns (`series`, eco.tracking's body) (--one-client-batch; 0 skips
   it), same goal: each request must take under 10 ms; and the same with one object per point
   (`ingest_one_client_points`).
2. Read a 100,000-point series with GET /jobs/{id}/metrics/?key=...: raw (max_points=0), goal at most 0.5 s;
   downsampled to 1,000 points, goal at most 50 ms. Medians of several reads, over HTTP, after a warm-up.
Run: .venv/bin/python benchmarks/metrics_store.py [--points 1000000] [--batch 50000] [--clients 2]
     [--one-client-batch 1000]
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import bench_environment, cleanup, django_shell, gunicorn  # noqa: E402

from eco.tracking import _points_event  # noqa: E402

SETUP = """
from accounts_app.models import User
from accounts_app.services import create_team, issue_token
from jobs_app.models import Job
u = User.objects.create_user(username="bench", password="bench-password-1")
t = create_team(actor=u, slug="bench", name="Bench")
# tracking runs of the bench user: their points come from their creator (a worker job's only from its worker)
ingest = Job.objects.create(team=t, kind="tracking", status="running", spec={}, created_by=u)
read = Job.objects.create(team=t, kind="tracking", status="running", spec={}, created_by=u)
one = Job.objects.create(team=t, kind="tracking", status="running", spec={}, created_by=u)
points = Job.objects.create(team=t, kind="tracking", status="running", spec={}, created_by=u)
_, raw = issue_token(user=u)
print("RESULT", raw, ingest.pk, read.pk, one.pk, points.pk)
"""


def bodies(
    total: int,
    batch: int,
    keys=("loss", "accuracy", "lr", "samples_per_s"),
    *,
    batch_ids: bool = False,
    form: str = "points",
) -> list[bytes]:
    """JSON request bodies, prepared before the clock starts: `total` points over four keys; with `batch_ids`
    each body carries its own batch_id and each point the client's time (4 points a step, a step every 2 ms),
    as the tracking client sends them. `form` "points" sends one object per point, "series" the same points
    as columns, one series per key: the body eco.tracking sends, made by its own code (with batch_ids)."""
    per_key = total // len(keys)
    start = time.time() - total / 500
    # step by step, every key at each step, as a training loop logs them (a 1,000-point body holds 250 steps)
    points = [
        {"key": k, "step": s, "value": 1.0 / (s + 1), **({"time": start + s * 0.002} if batch_ids else {})}
        for s in range(per_key)
        for k in keys
    ]
    out = []
    for i in range(0, len(points), batch):
        part = points[i : i + batch]
        if form == "series":  # the client's own body, batch id and times included
            out.append(_points_event([(p["key"], p["step"], p["value"], p["time"]) for p in part])["body_bytes"])
            continue
        body: dict = {"points": part, **({"batch_id": uuid.uuid4().hex} if batch_ids else {})}
        out.append(json.dumps(body).encode())
    return out


def timed_get(client: httpx.Client, url: str, repeat: int) -> tuple[float, dict]:
    client.get(url).raise_for_status()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return statistics.median(times), response.json()


def ingest(client: httpx.Client, url: str, payloads: list[bytes], clients: int) -> dict:
    """Send the bodies (`clients` threads, one request after another in each); the figures of the run."""
    first = json.loads(payloads[0])
    warm_up = json.dumps({k: v for k, v in first.items() if k != "batch_id"})  # the same points again later
    client.post(url, content=warm_up).raise_for_status()

    def send(body: bytes) -> int:
        response = client.post(url, content=body)
        response.raise_for_status()
        return response.json()["written"]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        written = sum(pool.map(send, payloads))
    seconds = time.perf_counter() - started
    points = sum(_count(json.loads(body)) for body in payloads)
    return {
        "points": points,
        "batch": _count(first),
        "form": "series" if "series" in first else "points",
        "clients": clients,
        "requests": len(payloads),
        "seconds": round(seconds, 3),
        "points_per_s": round(points / seconds),
        "ms_per_request": round(1000 * seconds * clients / len(payloads), 2),
        "batch_ids": b'"batch_id"' in payloads[0],
        "written": written,
        "stored": sum(k["count"] for k in client.get(url).json()["keys"]),
        "goal_points_per_s": ">= 100000",
    }


def _count(body: dict) -> int:
    return sum(len(one["steps"]) for one in body["series"]) if "series" in body else len(body["points"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--one-client-batch", type=int, default=1000, help="0: skip the one-client run")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (make run: WEB_CONCURRENCY, 1)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (make run: ECO_WEB_THREADS, 8)")
    args = parser.parse_args()
    env = bench_environment("metrics")
    try:
        token, ingest_job, read_job, one_job, points_job = django_shell(env, SETUP).splitlines()[-1].split()[1:]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        figures = {"benchmark": "metrics_store", "database": env.get("DATABASE_URL", "sqlite").split("://")[0]}
        # the web process `make run` starts (platform/supervisord.conf): one worker, eight threads, keep-alive
        with gunicorn(env, workers=args.workers, threads=args.threads) as (base, _):
            with httpx.Client(headers=headers, timeout=300) as client:
                figures["ingest"] = ingest(
                    client, f"{base}/api/v1/jobs/{ingest_job}/metrics/", bodies(args.points, args.batch), args.clients
                )
                if args.one_client_batch:
                    # as eco.tracking sends them (series), then the same points one object each, into another run
                    for name, job, form in (("", one_job, "series"), ("_points", points_job, "points")):
                        figures[f"ingest_one_client{name}"] = ingest(
                            client,
                            f"{base}/api/v1/jobs/{job}/metrics/",
                            bodies(args.points, args.one_client_batch, batch_ids=True, form=form),
                            1,
                        )

                # a 100,000-point series for the reads
                series = [{"key": "loss", "step": s, "value": (s % 97) / 97.0} for s in range(args.series)]
                series[54_321]["value"] = 50.0  # a spike the downsampled read must keep
                read_url = f"{base}/api/v1/jobs/{read_job}/metrics/"
                for i in range(0, len(series), args.batch):
                    client.post(read_url, content=json.dumps({"points": series[i : i + args.batch]})).raise_for_status()
                raw_s, raw = timed_get(client, f"{read_url}?key=loss&max_points=0", 5)
                down_s, down = timed_get(client, f"{read_url}?key=loss&max_points=1000", 20)
        figures["read"] = {
            "series_points": raw["count"],
            "raw_points_returned": len(raw["points"]),
            "raw_median_s": round(raw_s, 4),
            "downsampled_points_returned": len(down["points"]),
            "downsampled_median_ms": round(down_s * 1000, 2),
            "spike_kept": [54_321, 50.0] in down["points"],
            "goal": {"raw_s": "<= 0.5", "downsampled_ms": "<= 50"},
        }
        figures["load_average_1min"] = round(os.getloadavg()[0], 2)  # other work on the machine slows every figure
        print(json.dumps(figures))
    finally:
        cleanup(env)


if __name__ == "__main__":
    main()
