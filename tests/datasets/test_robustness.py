"""Hostile and odd input: every one of these is a clear 4xx (or a correct answer), never a 500, a leaked
thread or a lost file. Several came from a review of the upload path."""

import gc
import io
import json
import os
import struct
import threading
import time

import numpy as np
import pytest
from django.db import connection

from datasets_app.models import Blob, DatasetVersion
from tests.helpers import MLP_SPEC, csv_file, npz_file, safetensors_file


def named(data: bytes, name: str) -> io.BytesIO:
    fh = io.BytesIO(data)
    fh.name = name
    return fh


def upload(world, dataset, fh, target="y"):
    return world.client("member").post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": fh, "target": target}, format="multipart"
    )


def corrupt_npz() -> io.BytesIO:
    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.arange(1000), y=np.arange(1000))
    data = bytearray(buf.getvalue())
    i = data.find(b"x.npy") + 45
    data[i : i + 20] = b"\x00" * 20
    return named(bytes(data), "d.npz")


def npz_bomb() -> io.BytesIO:
    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.zeros((40_000_000,), dtype=np.float64), y=np.zeros(40_000_000, dtype=np.int8))
    return named(buf.getvalue(), "bomb.npz")


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: named(b'{"a\\u0000b": 1, "y": 1}\n', "d.jsonl"), "NUL character"),
        (lambda: named(b'{"a\\ud800": 1, "y": 1}\n', "d.jsonl"), "unpaired surrogate"),
        (lambda: csv_file("a\x00b,y\n1,2\n"), "NUL character"),
        (lambda: named(b'{"a": ' + b"9" * 5000 + b', "y": 1}\n', "d.jsonl"), "line 1: unreadable JSON"),
        (lambda: named(b'{"a": ' + b"[" * 100_000 + b"\n", "d.jsonl"), "line 1"),
        (corrupt_npz, "cannot be read"),
        (npz_bomb, "would unpack to"),
    ],
    ids=[
        "jsonl-nul-key",
        "jsonl-surrogate-key",
        "csv-nul-header",
        "jsonl-huge-number",
        "jsonl-deep",
        "npz-corrupt",
        "npz-bomb",
    ],
)
def test_hostile_dataset_files_are_400(world, dataset, media_root, make, needle):
    response = upload(world, dataset, make())
    assert response.status_code == 400, response.content[:300]
    assert needle in response.json()["detail"]
    assert DatasetVersion.objects.count() == 0 and Blob.objects.count() == 0


def _safetensors(header: bytes, data: bytes) -> io.BytesIO:
    return named(struct.pack("<Q", len(header)) + header + data, "m.safetensors")


@pytest.mark.parametrize(
    ("weights", "spec", "field", "needle"),
    [
        (
            lambda: _safetensors(b'{"w": {"dtype":["F32"],"shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
            MLP_SPEC,
            "weights",
            "unknown dtype",
        ),
        (
            lambda: _safetensors(b'{"w": {"dtype":"F32","shape":[true],"data_offsets":[0,4]}}', b"\0" * 4),
            MLP_SPEC,
            "weights",
            "shape must be",
        ),
        (
            lambda: _safetensors(b'{"w\\u0000": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4),
            MLP_SPEC,
            "weights",
            "NUL character",
        ),
        (
            lambda: _safetensors(
                b'{"__metadata__": {"a": 1}, "w": {"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4
            ),
            MLP_SPEC,
            "weights",
            "__metadata__",
        ),
        (
            safetensors_file,
            '{"architecture": "mlp", "in_features": 4, "hidden": [], "num_outputs": 3, "n": "a\\u0000"}',
            "spec",
            "NUL character",
        ),
        (
            safetensors_file,
            json.dumps({"architecture": "mlp", "in_features": 10**7, "num_outputs": 2}),
            "spec",
            "from 1 to 1000000",
        ),
        (
            safetensors_file,
            json.dumps({"architecture": "mlp", "in_features": 10**6, "hidden": [60000] * 20, "num_outputs": 2}),
            "spec",
            "the limit is",
        ),
    ],
    ids=[
        "dtype-list",
        "bool-shape",
        "nul-tensor-name",
        "bad-metadata",
        "nul-in-spec",
        "huge-dimension",
        "too-many-parameters",
    ],
)
def test_hostile_model_uploads_are_400(world, model, weights, spec, field, needle):
    response = world.client("member").post(
        f"/api/v1/models/{model.pk}/versions/", {"weights": weights(), "spec": spec}, format="multipart"
    )
    assert response.status_code == 400, response.content[:300]
    assert needle in " ".join(response.json()["errors"][field])


def test_nul_in_metric_names_is_400(world, model):
    response = world.client("member").post(
        f"/api/v1/models/{model.pk}/versions/",
        {"weights": safetensors_file(), "spec": MLP_SPEC, "metrics": '{"acc\\u0000": 0.5}'},
        format="multipart",
    )
    assert response.status_code == 400 and "NUL character" in response.json()["detail"]


def test_json_bodies_are_capped_and_deep_nesting_is_400(world, settings):
    client = world.client("member")
    deep = client.post("/api/v1/teams/", data="[" * 100_000, content_type="application/json")
    assert deep.status_code == 400 and "nested too deeply" in deep.json()["detail"]
    settings.ECO_MAX_JSON_BYTES = 1000
    big = client.post("/api/v1/teams/", {"slug": "big", "name": "x" * 2000}, format="json")
    assert big.status_code == 413 and big.json()["code"] == "too_large"


def test_previews_of_odd_values_are_valid_json(world, dataset):
    jsonl = upload(world, dataset, named(b'{"a": NaN, "y": Infinity}\n{"a": 1, "y": 2}\n', "d.jsonl"))
    assert jsonl.status_code == 201, jsonl.content
    rows = world.client("viewer").get(f"/api/v1/dataset-versions/{jsonl.json()['id']}/preview/").json()["rows"]
    assert rows == [[None, "inf"], [1, "2"]]  # the target of a classification data set is text
    npz = upload(world, dataset, npz_file(x=np.array([1 + 2j, 3j]), y=np.array([0.5, np.nan])))
    assert npz.status_code == 201, npz.content
    rows = world.client("viewer").get(f"/api/v1/dataset-versions/{npz.json()['id']}/preview/").json()["rows"]
    assert rows == [["(1+2j)", "0.5"], ["3j", None]]
    csv = upload(world, dataset, csv_file("a,y\n1.5,x\nNA,y\nnan,z\n"))
    rows = world.client("viewer").get(f"/api/v1/dataset-versions/{csv.json()['id']}/preview/").json()["rows"]
    assert rows == [[1.5, "x"], [None, "y"], [None, "z"]]
    assert csv.json()["schema"]["columns"][0]["missing"] == 2


def test_npz_preview_reads_only_the_rows_it_shows(world):
    from datasets_app.services import create_dataset

    ds = create_dataset(actor=world.users["member"], team=world.alpha, name="wide", task="regression")
    x = np.arange(200_000 * 8, dtype=np.float64).reshape(200_000, 8)
    y = np.arange(200_000, dtype=np.dtype(">f8"))  # big-endian: still a numeric regression target
    response = upload(world, ds, npz_file(x=x, y=y))
    assert response.status_code == 201, response.content
    preview = world.client("viewer").get(f"/api/v1/dataset-versions/{response.json()['id']}/preview/?limit=2").json()
    assert preview["rows"] == [[x[0].tolist(), 0.0], [x[1].tolist(), 1.0]]


def _live_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name in ("upload-hasher", "csv-inspector")}


def test_broken_multipart_bodies_leave_no_threads_or_files(world, dataset, settings):
    client = world.client("member")
    url = f"/api/v1/datasets/{dataset.pk}/versions/"
    part = (
        b'--BB\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b"YWJj" * 10 + b"YW" + b"\r\n--BB--\r\n"
    )
    for _ in range(3):
        response = client.generic("POST", url, part, content_type="multipart/form-data; boundary=BB")
        assert response.status_code == 400
    gc.collect()
    deadline = time.monotonic() + 5
    while _live_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live_threads() == set()
    assert os.listdir(settings.FILE_UPLOAD_TEMP_DIR) == []


@pytest.mark.django_db(transaction=True)
def test_collection_waits_for_an_upload_that_is_reusing_the_blob(world, dataset):
    """Two real connections: an upload holds a blob it reuses while a collection of that blob starts."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; SQLite serialises writers instead")
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.db import connections

    from datasets_app import blobs
    from datasets_app.services import create_dataset, create_version_from_builtin

    first = create_version_from_builtin(actor=world.users["member"], dataset=dataset, name="iris")
    sha, size = first.blob_id, first.blob.size_bytes
    DatasetVersion.objects.filter(pk=first.pk).delete()  # the blob is now unreferenced
    other = create_dataset(actor=world.users["member"], team=world.alpha, name="other", task="classification")
    locked, go, outcome = threading.Event(), threading.Event(), {}

    def uploader():
        try:
            with blobs.stored(ContentFile(b"unused"), sha256=sha, size=size) as blob:
                locked.set()
                go.wait(5)
                DatasetVersion.objects.create(
                    dataset=other,
                    version=1,
                    blob=blob,
                    format="csv",
                    target="target",
                    schema=first.schema,
                    num_rows=first.num_rows,
                    source="upload",
                )
        finally:
            connections.close_all()

    def collector():
        try:
            outcome["deleted"] = blobs.collect_garbage({sha})
        finally:
            connections.close_all()

    upload_thread = threading.Thread(target=uploader)
    upload_thread.start()
    assert locked.wait(5)
    collect_thread = threading.Thread(target=collector)
    collect_thread.start()
    time.sleep(0.5)
    assert collect_thread.is_alive(), "the collection must wait for the upload's lock"
    go.set()
    upload_thread.join(10)
    collect_thread.join(10)
    assert outcome["deleted"] == []
    assert default_storage.exists(blobs.blob_path(sha))
    assert DatasetVersion.objects.get(dataset=other).blob_id == sha


def deep(n: int) -> str:
    return '{"a": ' * n + "1" + "}" * n


@pytest.mark.parametrize(
    ("fields", "field", "needle"),
    [
        (
            {"spec": '{"architecture": "mlp", "in_features": 4, "hidden": [], "num_outputs": 3, "x": NaN}'},
            "spec",
            "NaN is not allowed",
        ),
        (
            {"spec": '{"architecture": "mlp", "in_features": 4, "hidden": [], "num_outputs": 3, "x": 1e400}'},
            "spec",
            "out of range",
        ),
        ({"spec": "[" * 100_000}, "spec", "nested too deeply"),
        ({"spec": '{"architecture": "mlp", "x": ' + "9" * 5000 + "}"}, "spec", "Not valid JSON"),
        ({"params": deep(100_000)}, "params", "nested too deeply"),
        ({"params": deep(900)}, "params", "nested deeper than 32"),
        ({"metrics": '{"a": 1e400}'}, "metrics", "out of range"),
    ],
    ids=[
        "spec-nan",
        "spec-overflow",
        "spec-deep",
        "spec-huge-int",
        "params-very-deep",
        "params-deep",
        "metrics-overflow",
    ],
)
def test_hostile_json_fields_are_400(world, model, fields, field, needle):
    payload = {"weights": safetensors_file(), "spec": MLP_SPEC, **fields}
    response = world.client("member").post(f"/api/v1/models/{model.pk}/versions/", payload, format="multipart")
    assert response.status_code == 400, response.content[:300]
    assert needle in " ".join(response.json()["errors"][field])


def truncated_npz() -> io.BytesIO:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, array in (("x", np.arange(1000, dtype=np.int64)), ("y", np.arange(1000, dtype=np.int64))):
            member = io.BytesIO()
            np.save(member, array)
            archive.writestr(f"{name}.npy", member.getvalue()[:-7000] if name == "x" else member.getvalue())
    return named(buf.getvalue(), "cut.npz")


def structured_npz() -> io.BytesIO:
    return npz_file(x=np.zeros(3, dtype=[("a", "f8"), ("b", "i4")]), y=np.arange(3))


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (truncated_npz, "its header promises 8000"),
        (structured_npz, "which Eco does not read"),
        (lambda: npz_file(x=np.zeros(3, dtype=np.longdouble), y=np.arange(3)), "which Eco does not read"),
        (lambda: named(('{"y": 1, "v": ' + deep(900) + "}\n").encode(), "d.jsonl"), "nested deeper than 32"),
    ],
    ids=["npz-truncated", "npz-structured", "npz-longdouble", "jsonl-deep-value"],
)
def test_unreadable_arrays_and_deep_values_are_400(world, dataset, make, needle):
    response = upload(world, dataset, make())
    assert response.status_code == 400, response.content[:300]
    assert needle in response.json()["detail"]


def test_long_csv_fields_preview_cut(world, dataset):
    text = "a,y\n" + "x" * 200_000 + ",1\n"
    response = upload(world, dataset, csv_file(text))
    assert response.status_code == 201, response.content[:300]
    rows = world.client("viewer").get(f"/api/v1/dataset-versions/{response.json()['id']}/preview/").json()["rows"]
    assert len(rows[0][0]) == 10_001 and rows[0][0].endswith("…") and rows[0][1] == "1"


def test_a_storage_failure_during_collection_does_not_fail_the_purge(
    world, dataset, iris_version, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.core.files.storage import default_storage
    from django.utils import timezone

    from datasets_app.services import purge_deleted_datasets

    def broken(name):
        raise OSError("storage is down")

    monkeypatch.setattr(default_storage, "delete", broken)
    assert world.client("maintainer").delete(f"/api/v1/datasets/{dataset.pk}/").status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        assert purge_deleted_datasets(now=timezone.now() + timedelta(days=31)) == [str(dataset.pk)]
    assert Blob.objects.filter(sha256=iris_version.blob_id).exists()  # kept, to be collected another time
