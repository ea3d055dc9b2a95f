"""SQL queries per list request, for page sizes 10 and 100, on every list endpoint.

Goal (issue 2): the same count for both page sizes (no N+1). Prints one JSON object.
Run: .venv/bin/python benchmarks/list_queries.py
"""

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import ROOT, bench_environment, cleanup  # noqa: E402

N = 120  # rows behind every list, more than the largest page


def populate():
    from django.core.files.base import ContentFile

    from accounts_app.models import AuditEvent, Membership, Role, Team, User
    from accounts_app.services import create_team, issue_token
    from datasets_app import blobs
    from datasets_app.models import Blob, Dataset, DatasetLineage, DatasetVersion
    from datasets_app.services import create_dataset, create_version_from_builtin
    from models_app.models import ModelAlias, ModelVersion, ModelVersionDataset, RegisteredModel

    owner = User.objects.create_user(username="owner", password="owner-password-1")
    team = create_team(actor=owner, slug="bench", name="Bench")
    users = User.objects.bulk_create([User(username=f"user{i:03d}") for i in range(N)])
    Membership.objects.bulk_create([Membership(team=team, user=u, role=Role.MEMBER) for u in users])
    Team.objects.bulk_create([Team(slug=f"team-{i:03d}", name=f"Team {i}") for i in range(N)])
    Membership.objects.bulk_create(
        [Membership(team=t, user=owner, role=Role.VIEWER) for t in Team.objects.exclude(pk=team.pk)]
    )
    for _ in range(N):
        issue_token(user=owner)
    AuditEvent.objects.bulk_create([AuditEvent(actor=owner, team=team, action="bench.event") for _ in range(N)])

    first = create_dataset(actor=owner, team=team, name="iris", task="classification")
    base = create_version_from_builtin(actor=owner, dataset=first, name="iris")
    Dataset.objects.bulk_create(
        [Dataset(team=team, name=f"dataset-{i:03d}", task="classification", created_by=owner) for i in range(N)]
    )
    versions = DatasetVersion.objects.bulk_create(
        [
            DatasetVersion(
                dataset=first,
                version=i + 2,
                blob_id=base.blob_id,
                format="csv",
                target="target",
                schema=base.schema,
                num_rows=base.num_rows,
                source="process",
                created_by=owner,
            )
            for i in range(N)
        ]
    )
    DatasetLineage.objects.bulk_create([DatasetLineage(child=v, parent=base) for v in versions])

    weights = blobs.blob_path("0" * 64)
    Blob.objects.create(sha256="0" * 64, size_bytes=4)
    from django.core.files.storage import default_storage

    default_storage.save(weights, ContentFile(b"none"))
    model = RegisteredModel.objects.create(team=team, name="clf", task="classification", created_by=owner)
    RegisteredModel.objects.bulk_create(
        [RegisteredModel(team=team, name=f"model-{i:03d}", task="classification") for i in range(N)]
    )
    mvs = ModelVersion.objects.bulk_create(
        [
            ModelVersion(model=model, version=i + 1, blob_id="0" * 64, spec={"architecture": "mlp"}, created_by=owner)
            for i in range(N)
        ]
    )
    ModelVersionDataset.objects.bulk_create([ModelVersionDataset(model_version=mv, dataset_version=base) for mv in mvs])
    ModelAlias.objects.bulk_create([ModelAlias(model=model, alias=f"alias-{i:03d}", version=mvs[i]) for i in range(N)])
    for other in RegisteredModel.objects.exclude(pk=model.pk)[:N]:
        ModelAlias.objects.create(model=other, alias="production", version=mvs[0])
    _, raw = issue_token(user=owner)
    return raw, {"dataset": first.pk, "model": model.pk}


def measure() -> dict:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    token, ids = populate()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    client.get("/api/v1/me/")  # the token's first use records last_used_at; keep that write out of the counts
    endpoints = [
        "/api/v1/teams/",
        "/api/v1/teams/bench/members/",
        "/api/v1/auth/tokens/",
        "/api/v1/audit-events/",
        "/api/v1/datasets/",
        f"/api/v1/datasets/{ids['dataset']}/versions/",
        "/api/v1/models/",
        f"/api/v1/models/{ids['model']}/versions/",
        f"/api/v1/models/{ids['model']}/aliases/",
    ]
    results = {}
    for url in endpoints:
        counts = {}
        for size in (10, 100):
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url, {"page_size": size})
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
            body = response.json()
            items = len(body["results"]) if isinstance(body, dict) else len(body)
            counts[f"page_{size}"] = {"queries": len(ctx.captured_queries), "items": items}
        counts["constant"] = counts["page_10"]["queries"] == counts["page_100"]["queries"]
        results[url.replace(str(ids["dataset"]), "{id}").replace(str(ids["model"]), "{id}")] = counts
    return {
        "benchmark": "list_queries",
        "endpoints": results,
        "all_constant": all(r["constant"] for r in results.values()),
        "database": connection.vendor,
    }


def main() -> None:
    if os.environ.get("ECO_BENCH_CHILD"):
        print(json.dumps(measure()))
        return
    env = bench_environment("lists")
    try:
        out = subprocess.run(
            [sys.executable, __file__],
            cwd=ROOT,
            env={**env, "ECO_BENCH_CHILD": "1"},
            check=True,
            capture_output=True,
            text=True,
        )
        print(out.stdout.strip().splitlines()[-1])
    except subprocess.CalledProcessError as exc:
        print(exc.stdout, exc.stderr, file=sys.stderr)
        raise
    finally:
        cleanup(env)


if __name__ == "__main__":
    main()
