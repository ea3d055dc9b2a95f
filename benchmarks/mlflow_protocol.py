"""Eco's MLflow protocol against `mlflow server` itself, side by side in one run.

Both servers use the same PostgreSQL (DATABASE_URL; each its own throw-away database) and the same number of
web workers (--workers, default 1). Requests carry MLflow's own JSON, sent by httpx so that the client's
cost does not hide the servers':

1. `runs/log-batch` of 1,000 metrics (one key, 1,000 steps) into one run: median ms of --batches requests.
   Goal: Eco at least 10x faster.
2. `metrics/get-history` of a 100,000-point metric (logged by 100 such batches): the whole history, page after
   page as the client reads it (MLflow's client asks for 25,000 a page): median ms of 5 reads. Goal: Eco at
   least 10x faster.
3. `runs/search` over 10,000 runs (each with one metric `loss`, a tenth of them below 0.1) with the filter
   `metrics.loss < 0.1`, ordered by `metrics.loss ASC`, max_results 100: median ms of 10. Goal on Eco: at most
   200 ms; MLflow's beside it. The runs are made through each server's API (runs/create + runs/log-batch).
4. The same operations end to end through MLflow's own Python client (MlflowClient.log_batch,
   get_metric_history, search_runs), for both servers.

MLflow's server runs from its own virtual environment (it pins packages Eco does not use): `make
mlflow-server-venv` makes it in var/mlflow-server-venv (mlflow==3.17.2 and psycopg), or point ECO_MLFLOW_PYTHON
at a Python that has them.

Run: DATABASE_URL=postgres://... .venv/bin/python benchmarks/mlflow_protocol.py [--runs 10000] [--workers 1]
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _env import ROOT, bench_environment, cleanup, django_shell, free_port, gunicorn  # noqa: E402

MLFLOW_PYTHON = os.environ.get("ECO_MLFLOW_PYTHON") or str(ROOT / "var" / "mlflow-server-venv" / "bin" / "python")
T0 = 1_700_000_000_000


def timed(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


@contextmanager
def mlflow_server(workers: int):
    """`mlflow server` on its own database of DATABASE_URL's server; yields its base URL."""
    import httpx
    import psycopg

    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "mlflow_bench" WITH (FORCE)')
        conn.execute('CREATE DATABASE "mlflow_bench"')
    parts = urlsplit(url)
    store = urlunsplit(parts._replace(scheme="postgresql+psycopg", path="/mlflow_bench"))
    port = free_port()
    artifacts = ROOT / "var" / "mlflow-bench-artifacts"
    log = open(ROOT / "var" / "mlflow-bench-server.log", "wb")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [
            MLFLOW_PYTHON,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            store,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("mlflow server did not start: see var/mlflow-bench-server.log")
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "mlflow_bench" WITH (FORCE)')


def raw_operations(base: str, headers: dict, experiment_id: str, args) -> dict:
    """Parts 1-3 over HTTP with MLflow's JSON."""
    import httpx

    with httpx.Client(base_url=f"{base}/api/2.0/mlflow", headers=headers, timeout=600) as http:

        def post(path, body):
            answer = http.post(path, json=body)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            return answer.json()

        run_id = post("/runs/create", {"experiment_id": experiment_id, "start_time": T0})["run"]["info"]["run_id"]
        counter = iter(range(10**9))

        def log_batch():
            block = next(counter) * 1000
            metrics = [
                {"key": "loss", "value": 1.0 / (1 + s), "timestamp": T0 + s, "step": s}
                for s in range(block, block + 1000)
            ]
            post("/runs/log-batch", {"run_id": run_id, "metrics": metrics})

        log_batch_ms = timed(log_batch, args.batches)
        history_run = post("/runs/create", {"experiment_id": experiment_id, "start_time": T0})["run"]["info"]["run_id"]
        for block in range(100):
            metrics = [
                {"key": "loss", "value": (s % 977) / 977, "timestamp": T0 + s, "step": s}
                for s in range(block * 1000, block * 1000 + 1000)
            ]
            post("/runs/log-batch", {"run_id": history_run, "metrics": metrics})

        def history():
            points, token = 0, None
            while True:
                params = {"run_id": history_run, "run_uuid": history_run, "metric_key": "loss", "max_results": 25000}
                if token:
                    params["page_token"] = token
                answer = http.get("/metrics/get-history", params=params)
                assert answer.status_code == 200, answer.text[:300]
                body = answer.json()
                points += len(body.get("metrics", []))
                token = body.get("next_page_token")
                if not token:
                    break
            assert points == 100_000, points

        history_ms = timed(history, 5)

        search_experiment = post("/experiments/create", {"name": f"search-{time.time_ns()}"})["experiment_id"]

        def one_run(i: int) -> None:
            with httpx.Client(base_url=f"{base}/api/2.0/mlflow", headers=headers, timeout=120) as own:
                made = own.post("/runs/create", json={"experiment_id": search_experiment, "start_time": T0 + i})
                rid = made.json()["run"]["info"]["run_id"]
                loss = (i % 10) / 10 + 0.05  # a tenth below 0.1
                logged = own.post(
                    "/runs/log-batch",
                    json={"run_id": rid, "metrics": [{"key": "loss", "value": loss, "timestamp": T0, "step": 0}]},
                )
                assert logged.status_code == 200, logged.text[:200]

        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(one_run, range(args.runs)))
        seed_s = time.perf_counter() - started
        body = {
            "experiment_ids": [search_experiment],
            "filter": "metrics.loss < 0.1",
            "max_results": 100,
            "order_by": ["metrics.loss ASC"],
        }
        found = post("/runs/search", body)
        assert len(found["runs"]) == min(100, args.runs // 10), len(found["runs"])
        search_ms = timed(lambda: post("/runs/search", body), 10)
    return {
        "log_batch_1000_ms": log_batch_ms,
        "get_history_100000_ms": history_ms,
        "search_10000_runs_ms": search_ms,
        "seed_runs_s": round(seed_s, 1),
        "search_experiment": search_experiment,
    }


def client_operations(experiment_id: str) -> str:
    """Part 4's script: the same through MLflow's own client, run in a fresh process (its settings are the
    process's environment)."""
    code = f"""
import json, time, statistics
from mlflow import MlflowClient
from mlflow.entities import Metric
c = MlflowClient()
def timed(f, n):
    t = []
    for _ in range(n):
        s = time.perf_counter(); f(); t.append((time.perf_counter() - s) * 1000)
    return round(statistics.median(t), 2)
rid = c.create_run("{experiment_id}").info.run_id
k = iter(range(10**9))
def batch():
    b = next(k) * 1000
    c.log_batch(rid, metrics=[Metric("loss", 1.0, {T0} + s, s) for s in range(b, b + 1000)])
out = {{"log_batch_1000_ms": timed(batch, 10)}}
for _ in range(90):
    batch()
out["get_history_100000_ms"] = timed(lambda: len(c.get_metric_history(rid, "loss")), 3)
assert len(c.get_metric_history(rid, "loss")) == 100000
out["search_10000_runs_ms"] = timed(lambda: c.search_runs(["__SEARCH__"], "metrics.loss < 0.1",
    order_by=["metrics.loss ASC"], max_results=100), 10)
print("RESULT " + json.dumps(out))
"""
    return code


def through_client(base: str, token: str | None, experiment_id: str, search_experiment: str) -> dict:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": base,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    code = client_operations(experiment_id).replace("__SEARCH__", search_experiment)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))[7:])


SETUP = """
from accounts_app.models import User
from accounts_app.services import create_team, issue_token
u = User.objects.create_user(username="bench", password="bench-password-1")
create_team(actor=u, slug="bench", name="Bench")
print("RESULT", issue_token(user=u, scope="write")[1])
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL must point at PostgreSQL: both servers use it")
    if not Path(MLFLOW_PYTHON).exists():
        raise SystemExit(f"no MLflow server Python at {MLFLOW_PYTHON}: run `make mlflow-server-venv`")
    import httpx

    results: dict = {"runs": args.runs, "workers": args.workers}
    env = bench_environment("mlflow")
    env["ECO_CALLER_RATE"] = "100000/s"  # the throttle is not what is measured
    try:
        token = next(x for x in django_shell(env, SETUP).splitlines() if x.startswith("RESULT")).split()[1]
        with gunicorn(env, workers=args.workers, threads=1) as (base, _):
            headers = {"Authorization": f"Bearer {token}"}
            made = httpx.post(f"{base}/api/2.0/mlflow/experiments/create", json={"name": "bench"}, headers=headers)
            eco = raw_operations(base, headers, made.json()["experiment_id"], args)
            eco["client"] = through_client(base, token, made.json()["experiment_id"], eco.pop("search_experiment"))
        results["eco"] = eco
    finally:
        cleanup(env)
    with mlflow_server(args.workers) as base:
        made = httpx.post(f"{base}/api/2.0/mlflow/experiments/create", json={"name": "bench"})
        theirs = raw_operations(base, {}, made.json()["experiment_id"], args)
        theirs["client"] = through_client(base, None, made.json()["experiment_id"], theirs.pop("search_experiment"))
        results["mlflow"] = theirs
    for name in ("log_batch_1000_ms", "get_history_100000_ms", "search_10000_runs_ms"):
        results[f"speedup_{name}"] = round(results["mlflow"][name] / results["eco"][name], 1)
    results["goals"] = {
        "log_batch_1000": "Eco >= 10x faster",
        "get_history_100000": "Eco >= 10x faster",
        "search_10000_runs": "Eco <= 200 ms",
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
