import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from datasets_app.models import Blob, DatasetVersion
from tests.helpers import csv_file, npz_file

GOOD_CSV = "sepal,petal,label\n1.0,2,a\n1.5,3,b\n2.5,4,a\n"


def upload(client, dataset, fh, **fields):
    return client.post(f"/api/v1/datasets/{dataset.pk}/versions/", {"file": fh, **fields}, format="multipart")


def files_under(root) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()]


def test_csv_upload_infers_schema_counts_rows_and_hashes(world, dataset, media_root):
    response = upload(world.client("member"), dataset, csv_file(GOOD_CSV), target="label")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 1
    assert body["num_rows"] == 3
    assert body["sha256"] == hashlib.sha256(GOOD_CSV.encode()).hexdigest()
    assert body["size_bytes"] == len(GOOD_CSV)
    assert body["status"] == "ready" and body["source"] == "upload" and body["parents"] == []
    assert body["schema"]["columns"] == [
        {"name": "sepal", "dtype": "float64", "missing": 0},
        {"name": "petal", "dtype": "int64", "missing": 0},
        {"name": "label", "dtype": "string", "missing": 0},
    ]
    assert body["schema"]["target"] == "label"
    stored = Path(media_root) / "sha256" / body["sha256"][:2] / body["sha256"][2:4] / body["sha256"]
    assert stored.read_bytes() == GOOD_CSV.encode()


def test_versions_are_numbered_and_identical_content_is_stored_once(world, dataset, media_root):
    client = world.client("member")
    first = upload(client, dataset, csv_file(GOOD_CSV), target="label").json()
    second = upload(client, dataset, csv_file(GOOD_CSV), target="label").json()
    third = upload(client, dataset, csv_file(GOOD_CSV + "3.0,5,b\n"), target="label").json()
    assert [first["version"], second["version"], third["version"]] == [1, 2, 3]
    assert first["sha256"] == second["sha256"] != third["sha256"]
    assert Blob.objects.count() == 2
    assert len(files_under(media_root)) == 2
    listing = client.get(f"/api/v1/datasets/{dataset.pk}/versions/").json()
    assert listing["count"] == 3
    assert [v["version"] for v in listing["results"]] == [3, 2, 1]


def test_type_change_after_the_first_block_widens_the_column(world, dataset):
    # 2 MB of integers, then a float: the first block says int64, the whole file says double.
    rows = "".join(f"{i},{i % 2}\n" for i in range(250_000))
    text = "x,label\n" + rows + "1.5,1\n"
    response = upload(world.client("member"), dataset, csv_file(text), target="label")
    assert response.status_code == 201, response.json()
    columns = {c["name"]: c["dtype"] for c in response.json()["schema"]["columns"]}
    assert columns == {"x": "float64", "label": "string"}  # a classification target is text as written
    assert response.json()["num_rows"] == 250_001


def assert_rejected(response, field, *needles):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["status"] == 400 and body["code"] == "invalid"
    assert field in body["errors"], body
    message = " ".join(body["errors"][field])
    for needle in needles:
        assert needle in message, message
    assert needle in body["detail"]
    return body


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("a,b,label\n1,2,x\n3,4\n5,6,y\n", ["line 3", "expected 3 fields, found 2"]),
        ("a,b,label\n1,2,x\n3,4,y\n5,6,7,8\n", ["line 4", "expected 3 fields, found 4"]),
        (b"a,label\n1,x\n2,\xff\xfe\n", ["line 3", "not valid UTF-8"]),
        ("", ["empty"]),
        ("a,b,label\n", ["no data rows"]),
        ("a,a,label\n1,2,3\n", ["line 1", "'a' appears twice"]),
        ("a,,label\n1,2,3\n", ["line 1, column 2", "has no name"]),
    ],
    ids=["short-row", "long-row", "bad-utf8", "empty", "header-only", "duplicate-column", "unnamed-column"],
)
def test_malformed_csv_is_rejected_with_line_and_leaves_nothing(world, dataset, media_root, settings, text, needles):
    response = upload(world.client("member"), dataset, csv_file(text), target="label")
    assert_rejected(response, "file", *needles)
    assert DatasetVersion.objects.count() == 0
    assert Blob.objects.count() == 0
    assert files_under(media_root) == []
    assert files_under(settings.FILE_UPLOAD_TEMP_DIR) == []


def test_missing_target_column_names_the_columns(world, dataset):
    response = upload(world.client("member"), dataset, csv_file(GOOD_CSV), target="species")
    assert_rejected(response, "file", "target column 'species' not found", "sepal, petal, label")
    assert DatasetVersion.objects.count() == 0


def test_target_is_required_with_a_file(world, dataset):
    assert_rejected(upload(world.client("member"), dataset, csv_file(GOOD_CSV)), "target", "label column")


def test_file_or_builtin_is_required(world, dataset):
    response = world.client("member").post(f"/api/v1/datasets/{dataset.pk}/versions/", {}, format="json")
    assert_rejected(response, "file", "Send a file")


def test_unknown_extension_needs_a_format(world, dataset):
    response = upload(world.client("member"), dataset, csv_file(GOOD_CSV, name="data.txt"), target="label")
    assert_rejected(response, "format", "cannot tell the format")
    ok = upload(world.client("member"), dataset, csv_file(GOOD_CSV, name="data.txt"), target="label", format="csv")
    assert ok.status_code == 201


def test_regression_target_must_be_numeric(world):
    from datasets_app.services import create_dataset

    ds = create_dataset(actor=world.users["member"], team=world.alpha, name="prices", task="regression")
    response = upload(world.client("member"), ds, csv_file(GOOD_CSV), target="label")
    assert_rejected(response, "target", "must be numeric")


def test_jsonl_upload(world, dataset):
    lines = [{"text": "good film", "label": "pos"}, {"text": "bad film", "label": "neg", "score": 0.1}]
    text = "\n".join(json.dumps(x) for x in lines) + "\n\n"
    response = upload(world.client("member"), dataset, csv_file(text, name="reviews.jsonl"), target="label")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["format"] == "jsonl" and body["num_rows"] == 2
    assert body["schema"]["columns"] == [
        {"name": "text", "dtype": "string", "missing": 0},
        {"name": "label", "dtype": "string", "missing": 0},
        {"name": "score", "dtype": "float64", "missing": 1},
    ]


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ('{"text": "a", "label": 1}\n{"text": "b", "label": \n', ["line 2", "invalid JSON"]),
        ('{"text": "a", "label": 1}\n[1, 2]\n', ["line 2", "must be a JSON object"]),
    ],
)
def test_malformed_jsonl_names_the_line(world, dataset, text, needles):
    response = upload(world.client("member"), dataset, csv_file(text, name="x.jsonl"), target="label")
    assert_rejected(response, "file", *needles)
    assert Blob.objects.count() == 0


def test_npz_upload(world):
    from datasets_app.services import create_dataset

    ds = create_dataset(actor=world.users["member"], team=world.alpha, name="images", task="image-classification")
    x = np.random.default_rng(0).random((10, 8, 8), dtype=np.float32)
    y = np.arange(10) % 3
    response = upload(world.client("member"), ds, npz_file(x=x, y=y), target="y")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["num_rows"] == 10 and body["format"] == "npz"
    assert body["schema"]["columns"][0] == {
        "name": "x",
        "dtype": "float64",
        "stored": "float32",
        "shape": [10, 8, 8],
        "missing": 0,
    }
    preview = world.client("viewer").get(f"/api/v1/dataset-versions/{body['id']}/preview/?limit=2").json()
    assert preview["columns"] == ["x", "y"]
    assert len(preview["rows"]) == 2 and preview["rows"][1][1] == "1"  # an image-classification label is text
    assert np.allclose(np.array(preview["rows"][0][0]), x[0])


def test_npz_refuses_object_arrays_and_ragged_rows(world, dataset):
    fh = io.BytesIO()
    np.savez(fh, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    fh.seek(0)
    fh.name = "evil.npz"
    assert_rejected(upload(world.client("member"), dataset, fh, target="y"), "file", "no pickle")
    ragged = npz_file(x=np.zeros((5, 2)), y=np.zeros(4))
    assert_rejected(upload(world.client("member"), dataset, ragged, target="y"), "file", "disagree", "x: 5", "y: 4")
    not_zip = csv_file("definitely not a zip", name="fake.npz")
    assert_rejected(upload(world.client("member"), dataset, not_zip, target="y"), "file", "not an NPZ file")
    assert Blob.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "task", "rows", "columns"),
    [
        ("iris", "classification", 150, 5),
        ("wine", "classification", 178, 14),
        ("breast_cancer", "classification", 569, 31),
        ("digits", "classification", 1797, 65),
        ("diabetes", "regression", 442, 11),
    ],
)
def test_builtin_versions(world, name, task, rows, columns):
    from datasets_app.services import create_dataset

    ds = create_dataset(actor=world.users["member"], team=world.alpha, name=name, task=task)
    client = world.client("member")
    response = client.post(f"/api/v1/datasets/{ds.pk}/versions/", {"builtin": name}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["num_rows"] == rows
    assert len(body["schema"]["columns"]) == columns
    assert body["target"] == "target" and body["source"] == "builtin"
    assert body["source_detail"]["builtin"] == name
    again = client.post(f"/api/v1/datasets/{ds.pk}/versions/", {"builtin": name}, format="json").json()
    assert again["sha256"] == body["sha256"] and again["version"] == 2  # deterministic bytes


def test_builtin_must_fit_the_dataset_task(world, dataset):
    response = world.client("member").post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"builtin": "diabetes"}, format="json"
    )
    assert_rejected(response, "builtin", "regression")
    response = world.client("member").post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"builtin": "mnist"}, format="json"
    )
    assert_rejected(response, "builtin", "not a valid choice")


def test_oversize_upload_gets_413_and_leaves_nothing(world, dataset, settings, media_root):
    settings.ECO_MAX_UPLOAD_BYTES = 200
    big = "a,label\n" + "".join(f"{i},x\n" for i in range(100))
    response = upload(world.client("member"), dataset, csv_file(big), target="label")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large" and "200 bytes" in response.json()["detail"]
    assert DatasetVersion.objects.count() == 0 and Blob.objects.count() == 0
    assert files_under(settings.FILE_UPLOAD_TEMP_DIR) == []


def test_upload_handler_stops_a_file_that_streams_past_the_limit(settings):
    """Defence in depth behind the Content-Length check: the handler counts the bytes as they stream."""
    from django.test import RequestFactory

    from config.errors import PayloadTooLarge
    from datasets_app.uploads import ensure_upload_completed

    settings.ECO_MAX_UPLOAD_BYTES = 1000
    big = csv_file("a,label\n" + "".join(f"{i},x\n" for i in range(500)))
    request = RequestFactory().post("/", {"file": big, "target": "label"})
    assert "file" not in request.FILES  # parsing stops at the limit; the partial file is discarded
    with pytest.raises(PayloadTooLarge):
        ensure_upload_completed(request)
    assert files_under(settings.FILE_UPLOAD_TEMP_DIR) == []


def test_preview_download_and_limits(world, iris_version):
    client = world.client("viewer")
    preview = client.get(f"/api/v1/dataset-versions/{iris_version.pk}/preview/?limit=3").json()
    assert preview["columns"][-1] == "target" and len(preview["rows"]) == 3
    assert preview["rows"][0][-1] == "setosa" and isinstance(preview["rows"][0][0], float)
    assert preview["num_rows"] == 150
    bad = client.get(f"/api/v1/dataset-versions/{iris_version.pk}/preview/?limit=0")
    assert_rejected(bad, "limit", "greater than or equal to 1")
    too_many = client.get(f"/api/v1/dataset-versions/{iris_version.pk}/preview/?limit=5000")
    assert_rejected(too_many, "limit", "less than or equal to 1000")

    response = client.get(f"/api/v1/dataset-versions/{iris_version.pk}/download/")
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert hashlib.sha256(content).hexdigest() == iris_version.blob_id
    assert response["Content-Length"] == str(len(content))
    assert 'filename="flowers-v1.csv"' in response["Content-Disposition"]


def test_lineage_shows_parents_ancestors_children_and_models(world, dataset, iris_version, model_version):
    from django.core.files import File

    from datasets_app import blobs
    from datasets_app.models import Source
    from datasets_app.services import register_version

    path = blobs.local_path(iris_version.blob)

    def derive(parent):
        with open(path, "rb") as fh:
            return register_version(
                actor=world.users["member"],
                dataset=dataset,
                path=path,
                content=File(fh, name="x.csv"),
                sha256=iris_version.blob_id,
                size=os.path.getsize(path),
                fmt="csv",
                target="target",
                source=Source.PROCESS,
                parents=[parent],
            )

    child = derive(iris_version)
    grandchild = derive(child)
    client = world.client("viewer")
    body = client.get(f"/api/v1/dataset-versions/{grandchild.pk}/lineage/").json()
    assert [p["id"] for p in body["parents"]] == [str(child.pk)]
    assert [(a["id"], a["depth"]) for a in body["ancestors"]] == [(str(child.pk), 1), (str(iris_version.pk), 2)]
    assert body["children"] == []
    root = client.get(f"/api/v1/dataset-versions/{iris_version.pk}/lineage/").json()
    assert [c["id"] for c in root["children"]] == [str(child.pk)]
    assert root["models"] == [
        {"id": str(model_version.pk), "model": str(model_version.model_id), "model_name": "flower-clf", "version": 1}
    ]
    detail = client.get(f"/api/v1/dataset-versions/{child.pk}/").json()
    assert detail["parents"] == [str(iris_version.pk)]


def test_non_ascii_utf8_is_fine(world, dataset):
    text = "word,label\nnaïve,café\n東京,über\n"
    response = upload(world.client("member"), dataset, csv_file(text.encode()), target="label")
    assert response.status_code == 201, response.json()
    preview = world.client("viewer").get(f"/api/v1/dataset-versions/{response.json()['id']}/preview/").json()
    assert preview["rows"] == [["naïve", "café"], ["東京", "über"]]
