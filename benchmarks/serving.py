"""The REST predict endpoint under the production server (gunicorn, `-c config/gunicorn.py`, one worker, one
thread), PostgreSQL when DATABASE_URL points at it, prediction logging in `background` mode (the default).

Set-up (throw-away database): a user, team and API token; the builtin digits data; a digits CNN trained in
process with ml.pipeline.train and registered as safetensors, with alias "production" on it; its fp32 ONNX
export registered as a child version the way an export job does (so runtime "onnxruntime" serves it).

1. Latency: POST /models/{id}/predict/ by alias "production", runtime "torch" and "onnxruntime", one 8x8 image
   and a batch of 64, over one keep-alive connection, one request at a time: client-side round-trip p50 / p99,
   predictions/s of the sequential client, and the server-reported `latency_ms` (encode + model + decode).
   Goal: p50 at most 3 ms for one input and 10 ms for 64.
2. Where the milliseconds go: the same server answering an authenticated GET /me/, the unauthenticated
   health check, and a predict request rejected before the model (unknown runtime: auth, routing, JSON
   parsing, the exception handler); and, in process, each step of `serving.predict` timed on its own.
3. The prediction log is complete: after a clean shutdown (SIGTERM) every prediction served has its row.
Run: .venv/bin/python benchmarks/serving.py [--one 500] [--batch64 200] [--warmup 50] [--epochs 5]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import bench_environment, cleanup, django_shell, gunicorn  # noqa: E402

SETUP = """
import tempfile
from pathlib import Path
import torch
from django.conf import settings
from django.core.files import File
from accounts_app.models import User
from accounts_app.services import create_team, issue_token
from datasets_app import blobs
from datasets_app.services import create_dataset, create_version_from_builtin
from jobs_app.models import Job
from ml import optimize, pipeline
from ml.artifacts import save_weights
from ml import formats
from ml.train import NullReporter
from models_app.services import create_model, register_version, set_alias


u = User.objects.create_user(username="bench", password="bench-password-1")
t = create_team(actor=u, slug="bench", name="Bench")
d = create_dataset(actor=u, team=t, name="digits", task="classification")
dv = create_version_from_builtin(actor=u, dataset=d, name="digits")
with blobs.local_copy(dv.blob) as path:
    columns = formats.arrays(path, dv.format, dv.schema)
torch.manual_seed(0)
outcome = pipeline.train(
    columns, task="classification", target=dv.target, architecture="cnn",
    hyperparameters={"epochs": __EPOCHS__, "seed": 0}, reporter=NullReporter(),
)
model = create_model(actor=u, team=t, name="digits-cnn", task="classification")
with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
    weights = Path(tmp) / "weights.safetensors"
    save_weights(outcome.model, weights)
    with open(weights, "rb") as fh:
        source = register_version(
            actor=u, model=model, weights_path=weights, weights=File(fh, name=weights.name), spec=outcome.spec,
            metrics=outcome.metrics,
            params={"architecture": "cnn", "hyperparameters": outcome.hyperparameters, "split": outcome.split},
            dataset_versions=[dv],
        )
    set_alias(actor=u, model=model, alias="production", version=source)
    onnx_path = Path(tmp) / "model.onnx"
    optimize.export_onnx(outcome.model, source.spec, onnx_path)
    job = Job.objects.create(team=t, kind="export", status="succeeded", spec={}, created_by=u)
    with open(onnx_path, "rb") as fh:
        export = register_version(
            actor=u, model=model, weights_path=onnx_path, weights=File(fh, name=onnx_path.name), spec=source.spec,
            metrics=outcome.metrics,
            params={"optimization": "export", "format": "onnx", "dtype": "float32", "source_version": str(source.pk),
                    "size_bytes": onnx_path.stat().st_size, "split": outcome.split},
            dataset_versions=[dv], from_job=True, parent=source, fmt="onnx",
        )
_, raw = issue_token(user=u)
print("RESULT", raw, model.pk, source.pk, export.pk, round(outcome.metrics["accuracy"], 4),
      round(outcome.fit.train_seconds, 2))
"""

# Each step of serving.predict on its own, in process, against the same database (run after the server stopped).
BREAKDOWN = """
import json, statistics, time, uuid
from sklearn.datasets import load_digits
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer
from accounts_app.models import ApiToken
from accounts_app.services import hash_token
from ml import inference
from django.utils import timezone
from models_app import prediction_log, selectors, serving
from models_app.models import RegisteredModel

RAW, MODEL = "__TOKEN__", "__MODEL__"
images = [img.tolist() for img in load_digits().images[:64]]
user = ApiToken.objects.select_related("user").get(key_hash=hash_token(RAW)).user
model = RegisteredModel.objects.get(pk=MODEL)
serving.writer.add = lambda rows: None  # these calls are measurements; they log nothing


def ms(fn, repeat):
    fn(); fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter(); fn(); times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def sql_only(query):
    # The SQL a query call sends, executed on its own: the database's share of the call (the rest is the ORM).
    with CaptureQueriesContext(connection) as captured:
        query()
    sql = captured.captured_queries[-1]["sql"]

    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql)
            cursor.fetchall()

    return ms(run, 200)


def select_one():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchall()


token_query = lambda: ApiToken.objects.select_related("user").filter(key_hash=hash_token(RAW)).first()
target_query = lambda: selectors.serving_target(user=user, model_pk=model.pk, alias="production")
out = {
    "db_select_1_ms": ms(select_one, 200),
    "auth_token_query_ms": ms(token_query, 200),
    "auth_token_query_sql_only_ms": sql_only(token_query),
    "serving_target_query_ms": ms(target_query, 200),  # a prepared statement: no separate SQL-only figure
}


def log_rows(runtime, inputs, answer):
    # The prediction log rows serving.predict builds for one request.
    target = target_query()
    _, logged = inference.encode(served.spec, inputs)
    return [
        dict(id=uuid.uuid4(), team_id=target["team_id"], model_id=model.pk, model_version_id=target["pk"],
             alias="production", runtime=runtime, input=row, output={k: v for k, v in p.items() if k != "id"},
             latency_ms=1.0, batch_size=len(inputs), created_by_id=user.pk, created_at=timezone.now())
        for row, p in zip(logged, answer["predictions"])
    ]


def insert(rows):
    # What the background writer does with them: one COPY (rolled back here).
    with transaction.atomic():
        for row in rows:
            row["id"] = uuid.uuid4()
        prediction_log.insert(rows)
        transaction.set_rollback(True)


for runtime in ("torch", "onnxruntime"):
    target = selectors.serving_target(user=user, model_pk=model.pk, alias="production")
    served = serving.cache.get(serving._artifact(target, runtime))
    for label, inputs in (("one", images[:1]), ("batch64", images)):
        array, _ = inference.encode(served.spec, inputs)
        outputs = served.runtime.run(array)
        answer = serving.predict(user=user, model_pk=model.pk, alias="production", inputs=inputs, runtime=runtime)
        out[f"{runtime}_{label}"] = {
            "encode_ms": ms(lambda: inference.encode(served.spec, inputs), 200),
            "model_run_ms": ms(lambda: served.runtime.run(array), 200),
            "decode_ms": ms(lambda: inference.decode(served.spec, outputs), 200),
            "serving_predict_total_ms": ms(
                lambda: serving.predict(user=user, model_pk=model.pk, alias="production", inputs=inputs,
                                        runtime=runtime), 200),
            "render_json_ms": ms(lambda: JSONRenderer().render(answer), 200),
            "response_bytes": len(JSONRenderer().render(answer)),
        }
        rows = log_rows(runtime, inputs, answer)
        out[f"{runtime}_{label}"]["log_insert_ms"] = ms(lambda: insert(rows), 50)
print("RESULT", json.dumps(out))
"""


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def timed(send, repeat: int) -> tuple[list[float], list]:
    """`send()` `repeat` times, one after another; returns the round trips (ms) and the responses."""
    times, responses = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        response = send()
        times.append((time.perf_counter() - start) * 1000)
        responses.append(response)
    return times, responses


class LeanClient:
    """A keep-alive HTTP/1.1 client from the standard library, so the figures are the server's and not a heavy
    client's: the subset of httpx.Client this script uses."""

    class Response:
        def __init__(self, status: int, content: bytes):
            self.status_code, self.content = status, content

        def json(self):
            return json.loads(self.content)

        def raise_for_status(self):
            if self.status_code >= 400:
                raise RuntimeError(f"HTTP {self.status_code}: {self.content[:300]!r}")

    def __init__(self, base: str, headers: dict):
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.headers = headers

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.connection.close()

    def _send(self, method: str, path: str, body: bytes | None = None) -> "LeanClient.Response":
        self.connection.request(method, path, body=body, headers=self.headers)
        response = self.connection.getresponse()
        return LeanClient.Response(response.status, response.read())

    def get(self, path: str):
        return self._send("GET", path)

    def post(self, path: str, content: bytes):
        return self._send("POST", path, content)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--one", type=int, default=500)
    parser.add_argument("--batch64", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--prediction-log", default="background", choices=("background", "inline"))
    args = parser.parse_args()
    began = time.perf_counter()
    load_before = os.getloadavg()
    env = bench_environment("serving")
    env["ECO_PREDICTION_LOG"] = args.prediction_log
    env.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
    try:
        started = time.perf_counter()
        line = django_shell(env, SETUP.replace("__EPOCHS__", str(args.epochs))).splitlines()[-1]
        token, model_pk, source_pk, export_pk, accuracy, train_s = line.split()[1:]
        setup_s = time.perf_counter() - started

        from sklearn.datasets import load_digits

        images = [img.tolist() for img in load_digits().images[:64]]
        url = f"/api/v1/models/{model_pk}/predict/"
        bodies = {
            (runtime, label): json.dumps({"alias": "production", "runtime": runtime, "inputs": inputs}).encode()
            for runtime in ("torch", "onnxruntime")
            for label, inputs in (("one", images[:1]), ("batch64", images))
        }
        rejected_body = json.dumps({"alias": "production", "runtime": "none", "inputs": images[:1]}).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        predictions_made, results, overhead = 0, {}, {}
        loads = []
        # the production settings: DEBUG off (no query recording), plain HTTP on loopback
        production = dict(
            env, DEBUG="false", SECRET_KEY="bench-" + "x" * 50, SECURE_SSL_REDIRECT="false", ALLOWED_HOSTS="127.0.0.1"
        )
        with gunicorn(production, workers=1, threads=1) as (base, _):
            with httpx.Client(base_url=base, headers=headers, timeout=60) as fancy:
                # what a heavier client adds on its own: httpx costs about a millisecond more per call
                for _ in range(50):
                    fancy.post(url, content=bodies[("onnxruntime", "one")])
                times, _ = timed(lambda: fancy.post(url, content=bodies[("onnxruntime", "one")]), 300)
                httpx_one = percentile(times, 50)
                predictions_made += 350
            with LeanClient(base, headers) as client:
                # 2. the same server without the model: where the milliseconds go
                for name, send in (
                    ("get_me_auth", lambda: client.get("/api/v1/me/")),
                    ("get_health_no_auth", lambda: client.get("/api/v1/health/")),
                    ("predict_rejected_400", lambda: client.post(url, content=rejected_body)),
                ):
                    for _ in range(20):
                        send()
                    times, responses = timed(send, 200)
                    overhead[name] = {
                        "status": responses[-1].status_code,
                        "p50_ms": percentile(times, 50),
                        "p99_ms": percentile(times, 99),
                    }
                # 1. predict, each runtime and batch size
                for (runtime, label), body in bodies.items():
                    repeat = args.one if label == "one" else args.batch64
                    for _ in range(args.warmup):
                        response = client.post(url, content=body)
                        response.raise_for_status()
                        predictions_made += len(response.json()["predictions"])
                    loads.append(os.getloadavg()[0])
                    started = time.perf_counter()
                    times, responses = timed(lambda b=body: client.post(url, content=b), repeat)
                    elapsed = time.perf_counter() - started
                    served = 0
                    server_ms = []
                    for response in responses:
                        response.raise_for_status()
                        answer = response.json()
                        if answer["runtime"] != runtime:
                            raise RuntimeError(f"asked for {runtime}, served by {answer['runtime']}")
                        if answer["model_version"] != source_pk:  # the aliased version, whichever runtime
                            raise RuntimeError(f"answered for version {answer['model_version']}, not {source_pk}")
                        served += len(answer["predictions"])
                        server_ms.append(answer["latency_ms"])
                    predictions_made += served
                    results.setdefault(runtime, {})[label] = {
                        "requests": repeat,
                        "batch": 1 if label == "one" else 64,
                        "p50_ms": percentile(times, 50),
                        "p99_ms": percentile(times, 99),
                        "mean_ms": round(float(np.mean(times)), 3),
                        "predictions_per_s": round(served / elapsed, 1),
                        "server_latency_ms_p50": percentile(server_ms, 50),
                        "response_bytes": len(responses[-1].content),
                    }
        # gunicorn stopped with SIGTERM: the worker's exit hook wrote what was pending
        logged = int(
            django_shell(
                env, "from models_app.models import PredictionLog; print(PredictionLog.objects.count())"
            ).splitlines()[-1]
        )
        breakdown = json.loads(
            django_shell(env, BREAKDOWN.replace("__TOKEN__", token).replace("__MODEL__", model_pk))
            .splitlines()[-1]
            .split(" ", 1)[1]
        )
        goal = {"p50_one_ms": 3, "p50_batch64_ms": 10}
        for figures in results.values():
            figures["met"] = (
                figures["one"]["p50_ms"] <= goal["p50_one_ms"]
                and figures["batch64"]["p50_ms"] <= goal["p50_batch64_ms"]
            )
        print(
            json.dumps(
                {
                    "benchmark": "serving",
                    "database": env.get("DATABASE_URL", "sqlite").split("://")[0],
                    "server": "gunicorn -c config/gunicorn.py, 1 worker, 1 thread, DEBUG=false",
                    "client": "http.client, one keep-alive connection, sequential requests",
                    "onnxruntime_one_p50_ms_with_httpx_client": httpx_one,
                    "prediction_log": env["ECO_PREDICTION_LOG"],
                    "model": {
                        "architecture": "cnn",
                        "data": "digits 8x8",
                        "epochs": args.epochs,
                        "train_seconds": float(train_s),
                        "test_accuracy": float(accuracy),
                        "versions": {"torch": source_pk, "onnxruntime": export_pk},
                    },
                    "goal": goal,
                    "runtimes": results,
                    "overhead": overhead,
                    "in_process_breakdown": breakdown,
                    "prediction_log_check": {
                        "predictions_made": predictions_made,
                        "logged": logged,
                        "complete": logged == predictions_made,
                    },
                    "setup_seconds": round(setup_s, 1),
                    "total_seconds": round(time.perf_counter() - began, 1),
                    "cpu_count": os.cpu_count(),
                    "load_average_1m": {"before": round(load_before[0], 2), "during": [round(v, 2) for v in loads]},
                }
            )
        )
    finally:
        cleanup(env)


if __name__ == "__main__":
    main()
