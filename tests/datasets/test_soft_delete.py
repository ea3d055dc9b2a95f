"""Deleting a data set or a model is a soft delete: gone from the API at once, restorable by a staff user within
ECO_RETENTION_DAYS (Django admin action, audited), purged by the reaper's round after that; a blob goes only
when nothing refers to it any more."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts_app.models import AuditEvent
from config.errors import Conflict
from datasets_app import blobs
from datasets_app.models import Blob, Dataset, DatasetVersion
from models_app.models import ModelAlias, ModelVersion, RegisteredModel

DAY = timedelta(days=1)


@pytest.fixture
def staff(world):
    superuser = world.users["admin"]
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    client = Client()
    client.force_login(superuser)
    client.user = superuser
    return client


def stored(blob_id: str) -> bool:
    return Blob.objects.filter(sha256=blob_id).exists() and default_storage.exists(blobs.blob_path(blob_id))


def reap(now):
    """The reaper's round at `now` (jobs_app.services.reaper), collecting what it frees at once."""
    from jobs_app.services import reap_stale_jobs

    reap_stale_jobs(now=now)


def test_a_deleted_data_set_is_gone_from_the_api_at_once(world, dataset, iris_version):
    client = world.client("maintainer")
    assert client.delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 204
    for role in ("viewer", "admin"):
        client = world.client(role)
        assert client.get("/api/v1/datasets/").json()["count"] == 0
        assert client.get(f"/api/v1/datasets/{dataset.pk}/").status_code == 404
        assert client.get(f"/api/v1/datasets/{dataset.pk}/versions/").status_code == 404
        for what in ("", "preview/", "stats/", "download/", "export/", "lineage/"):
            assert client.get(f"/api/v1/dataset-versions/{iris_version.pk}/{what}").status_code == 404, what
    # nothing is lost yet: the rows and the file stay for the retention period
    row = Dataset.all_objects.get(pk=dataset.pk)
    assert row.deleted_by == world.users["maintainer"] and row.deleted_at is not None
    assert DatasetVersion.objects.filter(pk=iris_version.pk).exists() and stored(iris_version.blob_id)
    event = AuditEvent.objects.get(action="dataset.delete")
    assert event.actor == world.users["maintainer"] and event.data == {"name": "flowers", "id": str(dataset.pk)}
    # a job can no longer be given it
    spec = {"dataset_version": str(iris_version.pk), "model": "m", "architecture": "mlp"}
    job = world.client("member").post("/api/v1/jobs/", {"team": "alpha", "kind": "train", "spec": spec}, format="json")
    assert job.status_code == 400 and "does not exist" in job.json()["errors"]["spec.dataset_version"][0]
    # deleting again is a 404, not a second event
    assert world.client("maintainer").delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 404
    assert AuditEvent.objects.filter(action="dataset.delete").count() == 1


def test_a_deleted_data_sets_name_is_free_and_restoring_it_then_conflicts(world, dataset, iris_version):
    from datasets_app.services import create_dataset, delete_dataset, restore_dataset

    delete_dataset(actor=world.users["maintainer"], dataset=dataset)
    created = world.client("member").post(
        "/api/v1/datasets/", {"team": "alpha", "name": "Flowers", "task": "classification"}, format="json"
    )
    assert created.status_code == 201, created.json()
    with pytest.raises(Conflict, match="has a dataset named 'flowers' again"):
        restore_dataset(actor=world.users["admin"], dataset=dataset)
    assert Dataset.all_objects.get(pk=dataset.pk).deleted_at is not None
    other = create_dataset(actor=world.users["member"], team=world.beta, name="flowers", task="classification")
    assert other.name == "flowers"  # another team's name was never in the way


def test_restore_within_the_period_brings_it_back_and_is_audited(world, dataset, iris_version):
    from datasets_app.services import delete_dataset, restore_dataset

    now = timezone.now()
    delete_dataset(actor=world.users["maintainer"], dataset=dataset, now=now)
    restored = restore_dataset(actor=world.users["admin"], dataset=dataset, now=now + 29 * DAY)
    assert restored.deleted_at is None and restored.deleted_by is None
    viewer = world.client("viewer")
    assert viewer.get(f"/api/v1/datasets/{dataset.pk}/").json()["num_versions"] == 1
    assert viewer.get(f"/api/v1/dataset-versions/{iris_version.pk}/download/").status_code == 200
    event = AuditEvent.objects.get(action="dataset.restore")
    assert event.actor == world.users["admin"] and event.data["id"] == str(dataset.pk)
    assert event.data["deleted_at"] == now.isoformat()
    reap(now + 40 * DAY)  # restored: never purged
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_restore_after_the_period_is_refused(world, dataset, settings):
    from datasets_app.services import delete_dataset, restore_dataset

    settings.ECO_RETENTION_DAYS = 2
    now = timezone.now()
    delete_dataset(actor=world.users["maintainer"], dataset=dataset, now=now)
    with pytest.raises(Conflict, match="more than 2 days ago"):
        restore_dataset(actor=world.users["admin"], dataset=dataset, now=now + 2 * DAY)
    assert not AuditEvent.objects.filter(action="dataset.restore").exists()


def test_the_admin_lists_deleted_data_sets_and_restores_them(world, staff, dataset, model):
    from datasets_app.services import delete_dataset
    from models_app.services import delete_model

    delete_dataset(actor=world.users["maintainer"], dataset=dataset)
    delete_model(actor=world.users["maintainer"], model=model)
    for obj, url in (
        (dataset, reverse("admin:datasets_app_dataset_changelist")),
        (model, reverse("admin:models_app_registeredmodel_changelist")),
    ):
        listed = staff.get(url + "?deleted_at__isnull=False")
        assert listed.status_code == 200 and str(obj.pk) in listed.content.decode()
        assert staff.post(url, {"action": "restore", "_selected_action": [str(obj.pk)]}).status_code == 302
        assert type(obj).objects.filter(pk=obj.pk).exists()
    assert AuditEvent.objects.filter(action__in=["dataset.restore", "model.restore"], actor=staff.user).count() == 2
    assert world.client("viewer").get(f"/api/v1/models/{model.pk}/").status_code == 200


def test_a_member_cannot_restore_in_the_admin(world, dataset):
    from datasets_app.services import delete_dataset

    delete_dataset(actor=world.users["maintainer"], dataset=dataset)
    client = Client()
    client.force_login(world.users["member"])  # not staff
    client.post(
        reverse("admin:datasets_app_dataset_changelist"), {"action": "restore", "_selected_action": [str(dataset.pk)]}
    )
    assert not Dataset.objects.filter(pk=dataset.pk).exists()


def test_the_reaper_purges_after_the_period_and_collects_the_blobs(
    world, dataset, iris_version, django_capture_on_commit_callbacks
):
    from datasets_app.services import delete_dataset

    now = timezone.now()
    delete_dataset(actor=world.users["maintainer"], dataset=dataset, now=now)
    with django_capture_on_commit_callbacks(execute=True):
        reap(now + 29 * DAY)
    assert Dataset.all_objects.filter(pk=dataset.pk).exists() and stored(iris_version.blob_id)
    with django_capture_on_commit_callbacks(execute=True):
        reap(now + 30 * DAY + timedelta(seconds=1))
    assert not Dataset.all_objects.filter(pk=dataset.pk).exists()
    assert not DatasetVersion.objects.filter(pk=iris_version.pk).exists()
    assert not stored(iris_version.blob_id)
    assert not default_storage.exists(blobs.blob_path(iris_version.blob_id))
    event = AuditEvent.objects.get(action="dataset.purge")
    assert event.actor is None and event.data["id"] == str(dataset.pk) and event.data["name"] == "flowers"


def test_a_shared_blob_stays_while_another_version_refers_to_it(
    world, dataset, iris_version, model, django_capture_on_commit_callbacks
):
    from datasets_app.services import create_dataset, create_version_from_builtin, delete_dataset

    other = create_dataset(actor=world.users["member"], team=world.alpha, name="iris-2", task="classification")
    twin = create_version_from_builtin(actor=world.users["member"], dataset=other, name="iris")
    assert twin.blob_id == iris_version.blob_id  # the same bytes: one blob
    now = timezone.now()
    delete_dataset(actor=world.users["maintainer"], dataset=dataset, now=now)
    with django_capture_on_commit_callbacks(execute=True):
        reap(now + 31 * DAY)
    assert not Dataset.all_objects.filter(pk=dataset.pk).exists()
    assert stored(twin.blob_id)
    download = world.client("member").get(f"/api/v1/dataset-versions/{twin.pk}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"sepal_length")

    # a soft-deleted version still refers to its blob: the other data set's purge must not take it either
    later = now + 40 * DAY
    delete_dataset(actor=world.users["maintainer"], dataset=other, now=later)
    assert stored(twin.blob_id)
    with django_capture_on_commit_callbacks(execute=True):
        reap(later + 31 * DAY)
    assert not stored(twin.blob_id)


def test_a_data_set_used_since_its_deletion_waits_for_its_user(
    world, dataset, iris_version, model, django_capture_on_commit_callbacks
):
    """A job that was running when the data set was deleted registered a model on it: the purge keeps the data
    set (the model version refers to it) until that model goes too, then both go in one round."""
    from datasets_app.services import delete_dataset
    from jobs_app.services.reaper import purge_deleted
    from models_app.services import delete_model
    from tests.helpers import register_trained

    now = timezone.now()
    delete_dataset(actor=world.users["maintainer"], dataset=dataset, now=now)
    version = register_trained(actor=world.users["member"], model=model, dataset_version=iris_version, epochs=1)
    assert purge_deleted(now=now + 31 * DAY) == []
    assert Dataset.all_objects.filter(pk=dataset.pk).exists()
    delete_model(actor=world.users["maintainer"], model=model, now=now + 31 * DAY)
    with django_capture_on_commit_callbacks(execute=True):
        purged = purge_deleted(now=now + 62 * DAY)
    assert purged == [str(model.pk), str(dataset.pk)]
    assert not stored(version.blob_id) and not stored(iris_version.blob_id)


def test_deleting_a_data_set_in_use_is_still_refused(world, dataset, model_version):
    response = world.client("maintainer").delete(f"/api/v1/datasets/{dataset.pk}/")
    assert response.status_code == 409 and "flower-clf v1" in response.json()["detail"]
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    assert not AuditEvent.objects.filter(action="dataset.delete").exists()


def test_a_deleted_model_is_gone_from_the_api_and_from_serving(world, trained, iris_version):
    model = trained.model
    client = world.client("member")
    predict = {"alias": "production", "inputs": [[5.1, 3.5, 1.4, 0.2]]}
    assert client.post(f"/api/v1/models/{model.pk}/predict/", predict, format="json").status_code == 200
    assert world.client("maintainer").delete(f"/api/v1/models/{model.pk}/").status_code == 204
    assert client.get("/api/v1/models/").json()["count"] == 0
    for url in (
        f"/api/v1/models/{model.pk}/",
        f"/api/v1/models/{model.pk}/versions/",
        f"/api/v1/models/{model.pk}/aliases/production/",
        f"/api/v1/model-versions/{trained.pk}/",
        f"/api/v1/model-versions/{trained.pk}/download/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/api/v1/models/{model.pk}/predict/", predict, format="json").status_code == 404
    assert client.get("/api/v1/predictions/").json()["count"] == 0
    assert client.get(f"/api/v1/evaluations/?model={model.pk}").json()["count"] == 0
    lineage = client.get(f"/api/v1/dataset-versions/{iris_version.pk}/lineage/").json()
    assert lineage["models"] == []
    # the data set it was trained on is still in use until the model is purged
    assert world.client("maintainer").delete(f"/api/v1/datasets/{iris_version.dataset_id}/").status_code == 409
    # a new model may take its name; a job naming it makes a new model
    assert (
        client.post("/api/v1/models/", {"team": "alpha", "name": model.name, "task": "classification"}).status_code
        == 201
    )


def test_a_deleted_model_is_restored_and_serves_again(world, trained):
    from models_app.services import delete_model, restore_model

    model = trained.model
    now = timezone.now()
    delete_model(actor=world.users["maintainer"], model=model, now=now)
    restore_model(actor=world.users["admin"], model=model, now=now + DAY)
    predict = {"alias": "production", "inputs": [[5.1, 3.5, 1.4, 0.2]]}
    response = world.client("member").post(f"/api/v1/models/{model.pk}/predict/", predict, format="json")
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="model.restore", actor=world.users["admin"]).exists()


def test_a_deleted_model_is_purged_with_its_versions_and_blobs(world, trained, django_capture_on_commit_callbacks):
    from models_app.services import delete_model

    model = trained.model
    now = timezone.now()
    delete_model(actor=world.users["maintainer"], model=model, now=now)
    assert stored(trained.blob_id) and ModelAlias.objects.filter(model_id=model.pk).exists()
    with django_capture_on_commit_callbacks(execute=True):
        reap(now + 31 * DAY)
    assert not RegisteredModel.all_objects.filter(pk=model.pk).exists()
    assert not ModelVersion.objects.filter(pk=trained.pk).exists() and not stored(trained.blob_id)
    assert AuditEvent.objects.filter(action="model.purge", target_id=str(model.pk)).exists()


@pytest.mark.django_db(transaction=True)  # the command closes connections between rounds
def test_the_purge_is_in_the_reap_jobs_command(world, dataset, iris_version, settings):
    from django.core.management import call_command

    from datasets_app.services import delete_dataset

    settings.ECO_RETENTION_DAYS = 0  # purged at the first round
    delete_dataset(actor=world.users["maintainer"], dataset=dataset)
    call_command("reap_jobs")
    assert not Dataset.all_objects.filter(pk=dataset.pk).exists()
    assert not Path(default_storage.path(blobs.blob_path(iris_version.blob_id))).exists()
