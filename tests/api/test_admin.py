"""Every model is in the admin, and its list (with filters and search), detail and add pages render."""

import pytest
from django.contrib import admin
from django.urls import reverse

from models_app.models import ModelAlias


@pytest.fixture
def staff_client(world, iris_version, model_version):
    from django.test import Client

    from jobs_app import metrics
    from jobs_app.models import Job, JobLog
    from models_app.models import Evaluation

    ModelAlias.objects.create(model=model_version.model, alias="production", version=model_version)
    job = Job.objects.create(team=world.alpha, kind="evaluate", spec={})
    JobLog.objects.create(job=job, line="attempt 1 started")
    metrics.ingest(job.pk, [("loss", 1, 0.5), ("loss", 2, 0.25)])
    Evaluation.objects.create(model_version=model_version, dataset_version=iris_version, metric="accuracy", score=0.9)
    from accounts_app.services import invite_member
    from jobs_app.models import ResourcePool, TeamMonthUsage, TeamQuota

    pool = ResourcePool.objects.create(name="gpu", queue="gpu", accelerator="gpu", capacity=8)
    TeamQuota.objects.create(team=world.alpha, pool=pool, max_gpus=2)
    TeamMonthUsage.objects.create(team=world.alpha, pool="gpu", month="2026-12-01", gpu_seconds=7200)
    invite_member(actor=world.users["admin"], team=world.alpha, username="someone", role="viewer")
    superuser = world.users["admin"]
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    client = Client()
    client.force_login(superuser)
    client.user = superuser
    return client


def test_every_eco_model_is_registered():
    from django.apps import apps

    ours = [m for m in apps.get_models() if m._meta.app_label.endswith("_app")]
    # through tables (and a version's files) are edited inline on their parents; the metric tables have composite
    # primary keys, which the admin cannot address: its figures show on the job's admin page and through the API
    through = {"DatasetLineage", "ModelVersionDataset", "ModelVersionFile", "MetricChunk", "MetricBatch"}
    missing = [m.__name__ for m in ours if m not in admin.site._registry and m.__name__ not in through]
    assert missing == []


@pytest.mark.parametrize(
    "registered", [m for m in admin.site._registry if m._meta.app_label.endswith("_app")], ids=lambda m: m.__name__
)
def test_admin_pages_render(staff_client, registered):
    model = registered
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    response = staff_client.get(changelist, {"q": "a"})
    assert response.status_code == 200
    obj = model.objects.first()
    if obj is not None:
        change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        assert staff_client.get(change).status_code == 200
    if admin.site._registry[model].has_add_permission(type("R", (), {"user": staff_client.user})()):
        assert staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 200


def test_cancelling_jobs_in_the_admin_needs_the_change_permission(world):
    from django.contrib.auth.models import Permission
    from django.test import Client

    from jobs_app.models import Job

    job = Job.objects.create(team=world.alpha, kind="train", spec={})
    viewer = world.users["viewer"]
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_job"))
    client = Client()
    client.force_login(viewer)
    url = reverse("admin:jobs_app_job_changelist")
    client.post(url, {"action": "cancel_jobs", "_selected_action": [str(job.pk)]})
    job.refresh_from_db()
    assert job.status == "queued"
    viewer.user_permissions.add(Permission.objects.get(codename="change_job"))
    client.post(url, {"action": "cancel_jobs", "_selected_action": [str(job.pk)]})
    job.refresh_from_db()
    assert job.status == "cancelled"
