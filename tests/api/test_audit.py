"""Dataset and model updates and deletes leave an audit event naming the actor, the team and what changed."""

import pytest

from accounts_app.models import AuditEvent


@pytest.mark.parametrize("what", ["datasets", "models"])
def test_an_update_is_audited_with_the_changed_fields(world, dataset, model, what):
    obj, action = (dataset, "dataset.update") if what == "datasets" else (model, "model.update")
    old_name = obj.name
    response = world.client("maintainer").patch(
        f"/api/v1/{what}/{obj.pk}/", {"name": "renamed", "description": "longer words"}, format="json"
    )
    assert response.status_code == 200, response.json()
    event = AuditEvent.objects.get(action=action)
    assert event.actor == world.users["maintainer"] and event.team == world.alpha
    assert (event.target_type, event.target_id) == (type(obj).__name__.lower(), str(obj.pk))
    assert event.data["fields"] == ["description", "name"]
    assert event.data["name"] == {"old": old_name, "new": "renamed"}
    assert "description" not in event.data  # long text: only that it changed


@pytest.mark.parametrize("what", ["datasets", "models"])
def test_an_update_that_changes_nothing_is_not_audited(world, dataset, model, what):
    obj = dataset if what == "datasets" else model
    response = world.client("maintainer").patch(f"/api/v1/{what}/{obj.pk}/", {"name": obj.name}, format="json")
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action__endswith=".update").exists()


def test_a_refused_update_is_not_audited(world, dataset, iris_version):
    response = world.client("maintainer").patch(
        f"/api/v1/datasets/{dataset.pk}/", {"task": "regression"}, format="json"
    )
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="dataset.update").exists()


def test_dataset_sensitivity_change_records_old_and_new(world, dataset):
    from datasets_app.services import update_dataset

    update_dataset(actor=world.users["admin"], dataset=dataset, sensitivity="restricted", license="CC-BY-4.0")
    event = AuditEvent.objects.get(action="dataset.update")
    assert event.data["sensitivity"] == {"old": "internal", "new": "restricted"}
    assert event.data["license"] == {"old": "", "new": "CC-BY-4.0"}
    assert event.actor == world.users["admin"]


@pytest.mark.parametrize("what", ["datasets", "models"])
def test_a_delete_is_audited(world, dataset, model, what):
    obj, action = (dataset, "dataset.delete") if what == "datasets" else (model, "model.delete")
    pk, name = str(obj.pk), obj.name
    assert world.client("maintainer").delete(f"/api/v1/{what}/{pk}/").status_code == 204
    event = AuditEvent.objects.get(action=action)
    assert event.actor == world.users["maintainer"] and event.team == world.alpha
    assert event.data == {"name": name, "id": pk}
    assert (event.target_type, event.target_id) == (type(obj).__name__.lower(), pk)


def test_a_refused_delete_leaves_no_audit_event(world, dataset, model_version):
    response = world.client("maintainer").delete(f"/api/v1/datasets/{dataset.pk}/")
    assert response.status_code == 409
    assert not AuditEvent.objects.filter(action="dataset.delete").exists()
