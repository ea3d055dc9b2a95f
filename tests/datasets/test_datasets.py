import pytest

from accounts_app.models import AuditEvent
from datasets_app.models import Blob, Dataset, DatasetVersion

NEW = {
    "team": "alpha",
    "name": "reviews",
    "description": "Film reviews",
    "task": "text-classification",
    "sensitivity": "public",
    "license": "CC-BY-4.0",
}


def test_create_list_filter_and_read(world):
    client = world.client("member")
    created = client.post("/api/v1/datasets/", NEW, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert {k: body[k] for k in NEW} == NEW
    assert body["created_by"] == "alpha-member" and body["num_versions"] == 0
    client.post("/api/v1/datasets/", {**NEW, "name": "tabular", "task": "classification"}, format="json")
    viewer = world.client("viewer")
    assert viewer.get("/api/v1/datasets/").json()["count"] == 2
    assert viewer.get("/api/v1/datasets/?task=classification").json()["count"] == 1
    found = viewer.get("/api/v1/datasets/?search=REV").json()["results"]
    assert sorted(d["name"] for d in found) == ["reviews", "tabular"]  # tabular's description: "Film reviews"
    assert viewer.get("/api/v1/datasets/?team=beta").json()["count"] == 0
    assert viewer.get(f"/api/v1/datasets/{body['id']}/").json()["license"] == "CC-BY-4.0"


@pytest.mark.parametrize(
    ("change", "field", "needle"),
    [
        ({"task": "clustering"}, "task", "not a valid choice"),
        ({"sensitivity": "secret"}, "sensitivity", "not a valid choice"),
        ({"name": ""}, "name", "blank"),
        ({"team": "nowhere"}, "team", "No team 'nowhere'"),
        ({"team": "beta"}, "team", "No team 'beta'"),
    ],
)
def test_create_errors_name_the_field(world, change, field, needle):
    response = world.client("member").post("/api/v1/datasets/", {**NEW, **change}, format="json")
    assert response.status_code == 400, response.json()
    assert needle in " ".join(response.json()["errors"][field])
    assert Dataset.objects.count() == 0


def test_names_are_unique_per_team(world, dataset):
    response = world.client("member").post("/api/v1/datasets/", {**NEW, "name": "flowers"}, format="json")
    assert response.status_code == 400 and "already has a dataset named 'flowers'" in response.json()["detail"]


def test_patch_edits_metadata_but_not_the_task_once_versions_exist(world, dataset, iris_version):
    client = world.client("member")
    ok = client.patch(
        f"/api/v1/datasets/{dataset.pk}/", {"description": "Fisher's iris", "license": "BSD"}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["description"] == "Fisher's iris"
    task = client.patch(f"/api/v1/datasets/{dataset.pk}/", {"task": "regression"}, format="json")
    assert task.status_code == 400 and "cannot change once the dataset has versions" in task.json()["detail"]
    team = client.patch(f"/api/v1/datasets/{dataset.pk}/", {"team": "beta"}, format="json")
    assert team.status_code == 400 and "cannot be changed" in team.json()["errors"]["team"][0]


def test_delete_needs_maintainer_and_the_purge_removes_versions_and_unused_blobs(
    world, dataset, iris_version, media_root, django_capture_on_commit_callbacks
):
    """A soft delete (tests/datasets/test_soft_delete.py): hidden at once, removed for good by the purge."""
    from datetime import timedelta
    from pathlib import Path

    from django.utils import timezone

    from datasets_app.services import purge_deleted_datasets

    assert world.client("member").delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client("maintainer").delete(f"/api/v1/datasets/{dataset.pk}/")
    assert response.status_code == 204
    assert not Dataset.objects.exists() and Dataset.all_objects.exists() and Blob.objects.exists()
    assert AuditEvent.objects.filter(action="dataset.delete").exists()
    with django_capture_on_commit_callbacks(execute=True):
        purge_deleted_datasets(now=timezone.now() + timedelta(days=31))
    assert not Dataset.all_objects.exists() and not DatasetVersion.objects.exists() and not Blob.objects.exists()
    assert [p for p in Path(media_root).rglob("*") if p.is_file()] == []


def test_delete_keeps_a_blob_another_dataset_still_uses(world, dataset, iris_version):
    from datasets_app.services import create_dataset, create_version_from_builtin

    other = create_dataset(actor=world.users["member"], team=world.alpha, name="iris-2", task="classification")
    create_version_from_builtin(actor=world.users["member"], dataset=other, name="iris")
    assert world.client("maintainer").delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 204
    assert Blob.objects.filter(sha256=iris_version.blob_id).exists()
    assert (
        world.client("member").get(f"/api/v1/dataset-versions/{other.versions.get().pk}/download/").status_code == 200
    )


def test_delete_is_refused_while_a_model_version_uses_the_data(world, dataset, model_version):
    response = world.client("maintainer").delete(f"/api/v1/datasets/{dataset.pk}/")
    assert response.status_code == 409
    assert "still in use" in response.json()["detail"] and "flower-clf v1" in response.json()["detail"]
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1


def test_search_reads_the_name_and_the_description_in_any_case_within_the_callers_teams(world):
    from datasets_app.services import create_dataset

    create_dataset(actor=world.users["member"], team=world.alpha, name="reviews", task="text-classification")
    create_dataset(
        actor=world.users["member"],
        team=world.alpha,
        name="tabular",
        description="Census incomes, REVIEWED in 2024",
        task="classification",
    )
    create_dataset(actor=world.outsider, team=world.beta, name="reviews-beta", task="classification")
    viewer = world.client("viewer")

    def names(query: str) -> list[str]:
        response = viewer.get(f"/api/v1/datasets/?{query}")
        assert response.status_code == 200, response.json()
        return sorted(d["name"] for d in response.json()["results"])

    assert names("search=review") == ["reviews", "tabular"]
    assert names("search=census") == ["tabular"]
    assert names("search=Census&team=alpha") == ["tabular"]
    assert names("search=review&team=beta") == []  # beta is not the viewer's team
    assert names("search=review&task=classification") == ["tabular"]
    assert names("search=nothing-like-it") == []
    assert names("search=") == ["reviews", "tabular"]  # an empty search filters nothing
    assert sorted(
        d["name"] for d in world.client("outsider").get("/api/v1/datasets/?search=review").json()["results"]
    ) == ["reviews-beta"]
