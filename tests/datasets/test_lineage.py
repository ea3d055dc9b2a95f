"""GET dataset-versions/{id}/lineage/: parents, children and the model versions trained on a version, within the
caller's teams only, in a number of queries that does not grow with the number of models or children."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from datasets_app.models import DatasetLineage, DatasetVersion
from models_app.models import ModelVersion, ModelVersionDataset, RegisteredModel


def derived(parent: DatasetVersion, number: int) -> DatasetVersion:
    child = DatasetVersion.objects.create(
        dataset=parent.dataset,
        version=number,
        blob=parent.blob,
        format=parent.format,
        target=parent.target,
        schema=parent.schema,
        num_rows=parent.num_rows,
        source="process",
    )
    DatasetLineage.objects.create(child=child, parent=parent)
    return child


def trained_on(version: DatasetVersion, model: RegisteredModel, number: int, template: ModelVersion) -> ModelVersion:
    mv = ModelVersion.objects.create(model=model, version=number, blob=template.blob, spec=template.spec)
    ModelVersionDataset.objects.create(model_version=mv, dataset_version=version)
    return mv


def test_models_of_other_teams_are_left_out(world, iris_version, model_version):
    """A model version of team beta linked to alpha's data (as a user in both teams could make) is not shown to
    alpha's members who are not in beta; beta's admin, once in alpha too, sees both."""
    beta_model = RegisteredModel.objects.create(team=world.beta, name="beta-secret", task="classification")
    theirs = trained_on(iris_version, beta_model, 1, model_version)
    body = world.client("viewer").get(f"/api/v1/dataset-versions/{iris_version.pk}/lineage/").json()
    assert [m["id"] for m in body["models"]] == [str(model_version.pk)]
    assert "beta-secret" not in str(body)
    from tests.factories import MembershipFactory

    MembershipFactory(team=world.alpha, user=world.outsider, role="viewer")
    both = world.client("outsider").get(f"/api/v1/dataset-versions/{iris_version.pk}/lineage/").json()
    assert [m["id"] for m in both["models"]] == [str(model_version.pk), str(theirs.pk)]
    assert both["models"][1] == {
        "id": str(theirs.pk),
        "model": str(beta_model.pk),
        "model_name": "beta-secret",
        "version": 1,
    }


def test_lineage_queries_do_not_grow_with_children_and_models(world, iris_version, model_version):
    client = world.client("viewer")
    client.get("/api/v1/me/")  # the token's first use writes last_used_at
    url = f"/api/v1/dataset-versions/{iris_version.pk}/lineage/"

    def queries() -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries), response.json()

    derived(iris_version, 2)
    small, body = queries()
    assert len(body["children"]) == 1 and len(body["models"]) == 1
    for i in range(3, 13):
        derived(iris_version, i)
        trained_on(iris_version, model_version.model, i, model_version)
    large, body = queries()
    assert len(body["children"]) == 11 and len(body["models"]) == 11
    assert small == large, (small, large)
    assert [m["version"] for m in body["models"]] == [1, *range(3, 13)]  # oldest first
