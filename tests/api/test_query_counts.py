"""No N+1: a list request costs the same number of SQL queries for 2 rows as for 12."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts_app.models import AuditEvent, Membership
from accounts_app.services import issue_token
from datasets_app.models import DatasetLineage, DatasetVersion
from datasets_app.services import create_dataset
from jobs_app.models import Job, JobLog, JobOutput
from models_app.models import Evaluation, ModelAlias, ModelVersion, ModelVersionDataset, RegisteredModel
from tests.factories import TeamFactory, UserFactory


def grow(world, iris_version, model_version, n):
    """Add n more rows behind every list endpoint."""
    admin = world.users["admin"]
    for _ in range(n):
        i = DatasetVersion.objects.count() + 1
        user = UserFactory()
        Membership.objects.create(team=world.alpha, user=user, role="viewer")
        Membership.objects.create(team=TeamFactory(), user=admin, role="viewer")
        issue_token(user=admin)
        AuditEvent.objects.create(actor=admin, team=world.alpha, action="test.event")
        create_dataset(actor=admin, team=world.alpha, name=f"ds-{i}", task="classification")
        dv = DatasetVersion.objects.create(
            dataset=iris_version.dataset,
            version=i + 1,
            blob=iris_version.blob,
            format="csv",
            target="target",
            schema=iris_version.schema,
            num_rows=1,
            source="process",
        )
        DatasetLineage.objects.create(child=dv, parent=iris_version)
        other = RegisteredModel.objects.create(team=world.alpha, name=f"m-{i}", task="classification")
        mv = ModelVersion.objects.create(
            model=model_version.model, version=i + 1, blob=model_version.blob, spec=model_version.spec
        )
        ModelVersionDataset.objects.create(model_version=mv, dataset_version=dv)
        ModelAlias.objects.create(model=model_version.model, alias=f"a{i}", version=mv)
        ModelAlias.objects.create(model=other, alias="production", version=mv)
        job = Job.objects.create(team=world.alpha, kind="train", spec={}, created_by=admin)
        JobLog.objects.create(job=job, line="hello")
        evaluation = Evaluation.objects.create(
            model_version=mv, dataset_version=iris_version, metric="accuracy", score=0.5
        )
        JobOutput.objects.create(job=job, kind="evaluation", object_id=evaluation.pk)


LISTS = [
    "/api/v1/teams/",
    "/api/v1/teams/alpha/members/",
    "/api/v1/auth/tokens/",
    "/api/v1/audit-events/",
    "/api/v1/datasets/",
    "/api/v1/datasets/{ds}/versions/",
    "/api/v1/models/",
    "/api/v1/models/{m}/versions/",
    "/api/v1/models/{m}/aliases/",
    "/api/v1/jobs/",
    "/api/v1/evaluations/",
    "/api/v1/evaluations/?dataset_version={dv}",
]


def count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, {"page_size": 100})
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()["count"]


@pytest.mark.parametrize("url", LISTS)
def test_list_queries_do_not_grow_with_rows(world, iris_version, model_version, url):
    url = url.format(ds=iris_version.dataset_id, m=model_version.model_id, dv=iris_version.pk)
    client = world.client("admin")
    client.get("/api/v1/me/")  # first use of the token writes last_used_at
    grow(world, iris_version, model_version, 2)
    small, small_count = count(client, url)
    grow(world, iris_version, model_version, 10)
    large, large_count = count(client, url)
    assert large_count >= small_count + 10
    assert small == large, f"{url}: {small} queries for {small_count} rows, {large} for {large_count}"
