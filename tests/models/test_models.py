import hashlib
import io
import json

import numpy as np
import pytest
from django.db import IntegrityError, transaction

from accounts_app.models import AuditEvent
from datasets_app.models import Blob
from models_app.models import ModelAlias, ModelVersion
from tests.helpers import MLP_SPEC, safetensors_file


def register(client, model, **fields):
    payload = {"weights": safetensors_file(), "spec": MLP_SPEC, **fields}
    return client.post(f"/api/v1/models/{model.pk}/versions/", payload, format="multipart")


def test_create_model_and_read_it(world):
    client = world.client("member")
    response = client.post(
        "/api/v1/models/",
        {"team": "alpha", "name": "churn", "task": "classification", "card": "## Intended use\nInternal."},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["aliases"] == {} and body["num_versions"] == 0 and body["card"].startswith("## Intended")
    edited = client.patch(f"/api/v1/models/{body['id']}/", {"card": "v2 card"}, format="json").json()
    assert edited["card"] == "v2 card"
    bad = client.post("/api/v1/models/", {"team": "alpha", "name": "churn", "task": "classification"}, format="json")
    assert bad.status_code == 400 and "already has a model named 'churn'" in bad.json()["detail"]


def test_register_a_version_with_weights_spec_metrics_and_lineage(world, model, iris_version):
    weights = safetensors_file()
    expected_sha = hashlib.sha256(weights.getvalue()).hexdigest()
    response = register(
        world.client("member"),
        model,
        weights=weights,
        metrics=json.dumps({"accuracy": 0.93, "loss": 0.2}),
        params=json.dumps({"lr": 0.001, "epochs": 5}),
        dataset_versions=[str(iris_version.pk)],
        description="trained on a laptop",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 1 and body["status"] == "ready" and body["format"] == "safetensors"
    assert body["sha256"] == expected_sha and body["size_bytes"] == len(weights.getvalue())
    assert body["metrics"] == {"accuracy": 0.93, "loss": 0.2} and body["params"]["epochs"] == 5
    assert body["dataset_versions"] == [str(iris_version.pk)]
    assert body["job"] is None and body["parent"] is None
    assert body["spec"]["architecture"] == "mlp" and body["num_parameters"] == 15
    assert body["tensors"]["net.0.weight"] == {"dtype": "F32", "shape": [3, 4]}
    second = register(world.client("member"), model).json()
    assert second["version"] == 2 and second["sha256"] == expected_sha
    assert Blob.objects.filter(sha256=expected_sha).count() == 1
    download = world.client("viewer").get(f"/api/v1/model-versions/{body['id']}/download/")
    assert hashlib.sha256(b"".join(download.streaming_content)).hexdigest() == expected_sha


def pickled_torch_file() -> io.BytesIO:
    import torch

    fh = io.BytesIO()
    torch.save({"w": torch.ones(2)}, fh)  # the file an attacker or a careless user would send
    fh.seek(0)
    fh.name = "model.pt"
    return fh


def raw_pickle_file() -> io.BytesIO:
    import pickle

    fh = io.BytesIO(pickle.dumps({"w": [1.0, 2.0]}, protocol=4))
    fh.name = "model.pkl"
    return fh


def truncated_safetensors() -> io.BytesIO:
    data = safetensors_file().getvalue()[:-4]
    fh = io.BytesIO(data)
    fh.name = "cut.safetensors"
    return fh


@pytest.mark.parametrize(
    ("weights", "needle"),
    [
        (pickled_torch_file, "Eco never loads pickles"),
        (raw_pickle_file, "Eco never loads pickles"),
        (truncated_safetensors, "outside the file"),
        (lambda: safetensors_file({}), "holds no tensors"),
    ],
    ids=["torch-save", "pickle", "truncated", "no-tensors"],
)
def test_anything_but_safetensors_is_refused(world, model, media_root, weights, needle):
    from pathlib import Path

    response = register(world.client("member"), model, weights=weights())
    assert response.status_code == 400, response.json()
    assert needle in " ".join(response.json()["errors"]["weights"])
    assert ModelVersion.objects.count() == 0 and Blob.objects.count() == 0
    assert [p for p in Path(media_root).rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    ("fields", "field", "needle"),
    [
        ({"spec": "{not json"}, "spec", "Not valid JSON"),
        ({"spec": json.dumps({"architecture": "resnet"})}, "spec", "must be one of"),
        ({"spec": json.dumps([1, 2])}, "spec", "JSON object"),
        ({"spec": json.dumps({"architecture": "mlp", "num_outputs": 3})}, "spec", "'in_features'"),
        (
            {"spec": json.dumps({"architecture": "mlp", "in_features": 5, "hidden": [], "num_outputs": 3})},
            "weights",
            "'net.0.weight' has shape [3, 4], the spec needs [3, 5]",
        ),
        (
            {"spec": json.dumps({"architecture": "mlp", "in_features": 4, "hidden": [8], "num_outputs": 3})},
            "weights",
            "missing tensors net.3.bias",
        ),
        ({"metrics": '{"accuracy": NaN}'}, "metrics", "valid JSON"),
        ({"metrics": '{"accuracy": "high"}'}, "metrics", "finite number"),
        ({"params": '{"lr": Infinity}'}, "params", "valid JSON"),
        ({"params": "[1, 2]"}, "params", "JSON object"),
        ({"dataset_versions": ["not-a-uuid"]}, "dataset_versions.0", "valid UUID"),
        ({"dataset_versions": ["00000000-0000-0000-0000-000000000000"]}, "dataset_versions", "does not exist"),
    ],
)
def test_version_input_errors_name_the_field(world, model, fields, field, needle):
    response = register(world.client("member"), model, **fields)
    assert response.status_code == 400, response.json()
    assert needle in " ".join(response.json()["errors"][field]), response.json()
    assert ModelVersion.objects.count() == 0


def test_another_teams_dataset_version_cannot_be_linked(world, model):
    from datasets_app.services import create_dataset, create_version_from_builtin

    theirs = create_dataset(actor=world.outsider, team=world.beta, name="secret", task="classification")
    dv = create_version_from_builtin(actor=world.outsider, dataset=theirs, name="iris")
    response = register(world.client("member"), model, dataset_versions=[str(dv.pk)])
    assert response.status_code == 400 and "does not exist" in response.json()["detail"]


def test_aliases_move_are_unique_and_audited(world, model, model_version):
    client = world.client("member")
    v2 = register(client, model).json()
    first = client.post(
        f"/api/v1/models/{model.pk}/aliases/", {"alias": "production", "version": str(model_version.pk)}
    )
    assert first.status_code == 200, first.json()
    moved = client.post(f"/api/v1/models/{model.pk}/aliases/", {"alias": "production", "version": v2["id"]})
    assert moved.status_code == 200 and moved.json()["version_number"] == 2
    detail = client.get(f"/api/v1/models/{model.pk}/").json()
    assert detail["aliases"] == {"production": v2["id"]}
    assert client.get(f"/api/v1/model-versions/{v2['id']}/").json()["aliases"] == ["production"]
    events = list(AuditEvent.objects.filter(action="alias.set").order_by("id").values_list("data", flat=True))
    assert [e["version"] for e in events] == [str(model_version.pk), v2["id"]]
    assert events[1]["previous"] == str(model_version.pk)
    assert client.delete(f"/api/v1/models/{model.pk}/aliases/production/").status_code == 204
    assert AuditEvent.objects.filter(action="alias.delete").count() == 1
    assert client.get(f"/api/v1/models/{model.pk}/").json()["aliases"] == {}


def test_alias_uniqueness_is_a_database_constraint(world, model, model_version):
    ModelAlias.objects.create(model=model, alias="production", version=model_version)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelAlias.objects.create(model=model, alias="production", version=model_version)


def test_alias_errors(world, model, model_version):
    from models_app.services import create_model

    other = create_model(actor=world.users["member"], team=world.alpha, name="other", task="classification")
    client = world.client("member")
    wrong_model = client.post(
        f"/api/v1/models/{other.pk}/aliases/", {"alias": "prod", "version": str(model_version.pk)}
    )
    assert wrong_model.status_code == 400 and "has no version" in wrong_model.json()["errors"]["version"][0]
    bad_name = client.post(
        f"/api/v1/models/{model.pk}/aliases/", {"alias": "Prod uction", "version": str(model_version.pk)}
    )
    assert bad_name.status_code == 400 and "alias" in bad_name.json()["errors"]
    assert ModelAlias.objects.count() == 0


def test_delete_model_then_the_purge_removes_versions_and_their_blobs(
    world, model, model_version, django_capture_on_commit_callbacks
):
    """A soft delete (tests/datasets/test_soft_delete.py): hidden at once, removed for good by the purge."""
    from datetime import timedelta

    from django.utils import timezone

    from models_app.services import purge_deleted_models

    ModelAlias.objects.create(model=model, alias="production", version=model_version)
    assert world.client("member").delete(f"/api/v1/models/{model.pk}/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        assert world.client("maintainer").delete(f"/api/v1/models/{model.pk}/").status_code == 204
    assert world.client("maintainer").get(f"/api/v1/models/{model.pk}/").status_code == 404
    assert Blob.objects.filter(sha256=model_version.blob_id).exists()
    with django_capture_on_commit_callbacks(execute=True):
        purge_deleted_models(now=timezone.now() + timedelta(days=31))
    assert not ModelVersion.objects.exists()
    assert not Blob.objects.filter(sha256=model_version.blob_id).exists()


def test_inspect_safetensors_reads_only_the_header(tmp_path):
    from safetensors.numpy import save_file

    from ml.artifacts import inspect_safetensors

    path = tmp_path / "w.safetensors"
    save_file(
        {"a": np.zeros((2, 3), dtype=np.float16), "b": np.zeros(4, dtype=np.int64)},
        str(path),
        metadata={"framework": "test"},
    )
    facts = inspect_safetensors(path)
    assert facts["tensors"] == {"a": {"dtype": "F16", "shape": [2, 3]}, "b": {"dtype": "I64", "shape": [4]}}
    assert facts["metadata"] == {"framework": "test"} and facts["num_parameters"] == 10


def test_the_model_card_is_markdown_read_on_get_and_edited_by_a_member(world, model):
    from models_app.models import MAX_CARD_CHARS

    card = "# Flowers\n\n## Intended use\nSorting iris flowers.\n"
    url = f"/api/v1/models/{model.pk}/"
    assert world.client("viewer").patch(url, {"card": card}, format="json").status_code == 403
    response = world.client("member").patch(url, {"card": card}, format="json")
    assert response.status_code == 200 and response.json()["card"] == card
    assert world.client("viewer").get(url).json()["card"] == card
    event = AuditEvent.objects.filter(action="model.update").latest("created_at")
    assert event.data["fields"] == ["card"]  # a card's change is noted, not its text

    longest = "x" * MAX_CARD_CHARS
    assert world.client("member").patch(url, {"card": longest}, format="json").status_code == 200
    response = world.client("member").patch(url, {"card": longest + "x"}, format="json")
    assert response.status_code == 400 and "card" in response.json()["errors"], response.json()
    assert world.client("member").patch(url, {"card": ["x"]}, format="json").status_code == 400
    model.refresh_from_db()
    assert model.card == longest
    body = {"team": "alpha", "name": "big-card", "task": "classification", "card": longest + "x"}
    response = world.client("member").post("/api/v1/models/", body, format="json")
    assert response.status_code == 400 and "card" in response.json()["errors"]


def test_the_service_refuses_an_oversized_card_too(world, model):
    from django.core.exceptions import ValidationError

    from models_app.models import MAX_CARD_CHARS
    from models_app.services import create_model, update_model

    with pytest.raises(ValidationError) as refused:
        update_model(actor=world.users["member"], model=model, card="x" * (MAX_CARD_CHARS + 1))
    assert "card" in refused.value.message_dict
    with pytest.raises(ValidationError):
        create_model(
            actor=world.users["member"], team=world.alpha, name="n", task="regression", card="x" * (MAX_CARD_CHARS + 1)
        )


def test_stored_bare_confusion_matrices_get_their_labels():
    import importlib

    migration = importlib.import_module("models_app.migrations.0007_confusion_matrix_labels")
    metrics = {"accuracy": 1.0, "confusion_matrix": [[2, 0], [0, 1]], "val_confusion_matrix": [[1, 0], [0, 1]]}
    assert migration._labelled(metrics, ["cat", "dog"])
    assert metrics["confusion_matrix"] == {"labels": ["cat", "dog"], "matrix": [[2, 0], [0, 1]]}
    assert metrics["val_confusion_matrix"]["labels"] == ["cat", "dog"]
    assert not migration._labelled(metrics, ["cat", "dog"])  # already labelled: left alone
    unnamed = {"confusion_matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}
    assert migration._labelled(unnamed, ["a", "b"])  # names that do not fit: indices
    assert unnamed["confusion_matrix"]["labels"] == ["0", "1", "2"]
