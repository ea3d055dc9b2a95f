"""A restricted data set's rows are for maintainers and admins; every download is audited; the download is the
stored bytes; the safe CSV export neutralises spreadsheet formulas in text cells and streams."""

import csv
import hashlib
import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.http import StreamingHttpResponse

from accounts_app.models import AuditEvent
from tests.helpers import csv_file, npz_file

ROWS = ("preview", "stats", "download", "export")

# formulas in text cells, negative numbers in a number column, '-' text, a tab and a carriage return
RISKY = (
    "note,amount,y\n"
    '=HYPERLINK("http://evil"),-3.5,a\n'
    "-rm -rf,2,b\n"
    "+1+1,-0.25,a\n"
    "@SUM(A1),7,b\n"
    '"\tcmd",1,a\n'
    '"\rcmd",-2,b\n'
    "plain,3,a\n"
    "a=b,4,b\n"
)


def upload(world, dataset, fh, target="y"):
    response = world.client("member").post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": fh, "target": target}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def restrict(dataset):
    from datasets_app.services import update_dataset

    update_dataset(actor=dataset.created_by, dataset=dataset, sensitivity="restricted")


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def exported(world, version_id, who="member") -> list[list[str]]:
    response = world.client(who).get(f"/api/v1/dataset-versions/{version_id}/export/")
    assert response.status_code == 200, response.content[:300]
    return list(csv.reader(io.StringIO(body(response).decode(), newline="")))


@pytest.mark.parametrize("what", ROWS)
def test_a_restricted_data_sets_rows_are_refused_to_viewers_and_members(world, dataset, iris_version, what):
    restrict(dataset)
    for role in ("viewer", "member"):
        response = world.client(role).get(f"/api/v1/dataset-versions/{iris_version.pk}/{what}/")
        assert response.status_code == 403, (role, response.content[:200])
        detail = response.json()["detail"]
        assert "restricted" in detail and "'maintainer' role" in detail and f"you are '{role}'" in detail
    assert world.client("outsider").get(f"/api/v1/dataset-versions/{iris_version.pk}/{what}/").status_code == 404
    for role in ("maintainer", "admin"):
        assert world.client(role).get(f"/api/v1/dataset-versions/{iris_version.pk}/{what}/").status_code == 200
    assert not AuditEvent.objects.filter(action="dataset_version.download", actor__username__in=["alpha-member"])


def test_a_restricted_data_set_and_its_versions_stay_listed_to_every_role(world, dataset, iris_version):
    restrict(dataset)
    viewer = world.client("viewer")
    assert viewer.get(f"/api/v1/datasets/{dataset.pk}/").status_code == 200
    assert viewer.get(f"/api/v1/dataset-versions/{iris_version.pk}/").json()["schema"]["columns"]
    assert viewer.get(f"/api/v1/dataset-versions/{iris_version.pk}/lineage/").status_code == 200


def test_internal_and_public_rows_stay_open_to_every_role(world, dataset, iris_version):
    for sensitivity in ("internal", "public"):
        dataset.sensitivity = sensitivity
        dataset.save(update_fields=["sensitivity"])
        for what in ROWS:
            assert world.client("viewer").get(f"/api/v1/dataset-versions/{iris_version.pk}/{what}/").status_code == 200


def test_every_download_is_audited_whatever_the_sensitivity(world, dataset, iris_version):
    assert world.client("viewer").get(f"/api/v1/dataset-versions/{iris_version.pk}/download/").status_code == 200
    event = AuditEvent.objects.get(action="dataset_version.download")
    assert event.actor == world.users["viewer"] and event.team == world.alpha
    assert (event.target_type, event.target_id) == ("datasetversion", str(iris_version.pk))
    assert event.data == {
        "dataset": str(dataset.pk),
        "name": "flowers",
        "version": 1,
        "sensitivity": "internal",
        "format": "original",
        "sha256": iris_version.blob_id,
    }

    restrict(dataset)
    maintainer = world.client("maintainer")
    assert maintainer.get(f"/api/v1/dataset-versions/{iris_version.pk}/download/").status_code == 200
    assert maintainer.get(f"/api/v1/dataset-versions/{iris_version.pk}/export/").status_code == 200
    events = AuditEvent.objects.filter(action="dataset_version.download", actor=world.users["maintainer"])
    assert sorted((e.data["format"], e.data["sensitivity"]) for e in events) == [
        ("original", "restricted"),
        ("safe-csv", "restricted"),
    ]
    # a refused one is not a download; a HEAD transfers nothing
    assert world.client("member").get(f"/api/v1/dataset-versions/{iris_version.pk}/download/").status_code == 403
    assert maintainer.head(f"/api/v1/dataset-versions/{iris_version.pk}/download/").status_code == 200
    assert AuditEvent.objects.filter(action="dataset_version.download").count() == 3


def test_the_download_is_the_stored_bytes_formulas_and_all(world, dataset):
    raw = RISKY.encode()
    version = upload(world, dataset, csv_file(raw))
    response = world.client("viewer").get(f"/api/v1/dataset-versions/{version['id']}/download/")
    assert isinstance(response, StreamingHttpResponse)
    data = body(response)
    assert data == raw
    assert hashlib.sha256(data).hexdigest() == version["sha256"] and response["ETag"] == f'"{version["sha256"]}"'


def test_the_safe_export_prefixes_formulas_in_text_cells_only(world, dataset):
    version = upload(world, dataset, csv_file(RISKY))
    rows = exported(world, version["id"], "viewer")
    assert rows[0] == ["note", "amount", "y"]
    assert rows[1:] == [
        ['\'=HYPERLINK("http://evil")', "-3.5", "a"],
        ["'-rm -rf", "2", "b"],
        ["'+1+1", "-0.25", "a"],
        ["'@SUM(A1)", "7", "b"],
        ["'\tcmd", "1", "a"],
        ["'\rcmd", "-2", "b"],
        ["plain", "3", "a"],
        ["a=b", "4", "b"],
    ]


def test_the_safe_export_answers_csv_as_an_attachment(world, dataset):
    version = upload(world, dataset, csv_file(RISKY))
    response = world.client("viewer").get(f"/api/v1/dataset-versions/{version['id']}/export/")
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="flowers-v1.safe.csv"'
    assert not response.has_header("Content-Length")


def test_a_text_column_is_text_whatever_its_cells_look_like(world, dataset):
    """The classification target is text as written: its `-1` is a text cell (prefixed); the feature column's
    `-1` is a number (as it is); missing values are empty cells."""
    version = upload(world, dataset, csv_file("x,y,=name\n-1,-1,ok\n,+1,NA\n2.5,-1,\n"))
    rows = exported(world, version["id"])
    assert rows == [["x", "y", "'=name"], ["-1", "'-1", "ok"], ["", "'+1", ""], ["2.5", "'-1", ""]]


def test_the_safe_export_reads_jsonl_parquet_and_npz(world, dataset):
    from datasets_app.services import create_dataset

    records = [
        {"text": "=1+1", "n": -3.5, "y": "a"},
        {"text": "-x", "n": 2, "y": "b"},
        {"text": None, "n": 1, "y": "a"},
    ]
    jsonl = io.BytesIO("\n".join(json.dumps(r) for r in records).encode())
    jsonl.name = "data.jsonl"
    assert exported(world, upload(world, dataset, jsonl)["id"]) == [
        ["text", "n", "y"],
        ["'=1+1", "-3.5", "a"],
        ["'-x", "2", "b"],
        ["", "1", "a"],
    ]

    table = pa.table({"text": ["@cmd", "ok"], "n": [-1, 2], "flag": [True, False], "y": ["a", "b"]})
    parquet = io.BytesIO()
    pq.write_table(table, parquet)
    parquet.seek(0)
    parquet.name = "data.parquet"
    assert exported(world, upload(world, dataset, parquet)["id"]) == [
        ["text", "n", "flag", "y"],
        ["'@cmd", "-1", "true", "a"],
        ["ok", "2", "false", "b"],
    ]

    flat = npz_file(x=np.array([-1.5, 2.0]), label=np.array(["=a", "b"]), y=np.array(["a", "b"]))
    assert exported(world, upload(world, dataset, flat)["id"]) == [
        ["x", "label", "y"],
        ["-1.5", "'=a", "a"],
        ["2", "b", "b"],
    ]

    images = create_dataset(actor=world.users["member"], team=world.alpha, name="pix", task="image-classification")
    pixels = npz_file(x=np.zeros((4, 8, 8), dtype=np.float32), y=np.array(["a", "b", "a", "b"]))
    version = upload(world, images, pixels)
    response = world.client("member").get(f"/api/v1/dataset-versions/{version['id']}/export/")
    assert response.status_code == 409 and "images" in response.json()["detail"]
    assert "download the original" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="dataset_version.download", target_id=version["id"]).exists()


def test_the_safe_export_streams_a_large_file_piece_by_piece(world, dataset, monkeypatch):
    """Read batch by batch (never as one table) and sent in pieces: the answer is a stream with no
    Content-Length, in several pieces, none near the whole."""
    from ml import formats
    from ml.formats import safecsv

    def whole(*args, **kwargs):
        raise AssertionError("the export read the whole file as one table")

    monkeypatch.setattr(formats, "read_table", whole)
    monkeypatch.setattr(safecsv, "CHUNK_BYTES", 64 * 1024)
    lines = ["note,amount,y"] + [f"=row{i}*2,{-i}.5,{'ab'[i % 2]}" for i in range(200_000)]
    text = "\n".join(lines) + "\n"  # about 5 MB: several of the CSV reader's 1 MiB blocks
    version = upload(world, dataset, csv_file(text))
    response = world.client("member").get(f"/api/v1/dataset-versions/{version['id']}/export/")
    assert isinstance(response, StreamingHttpResponse) and response.streaming
    assert not response.has_header("Content-Length")
    sizes, first, last = [], None, None
    for piece in response.streaming_content:
        sizes.append(len(piece))
        first = first or piece
        last = piece
    assert sum(sizes) > len(text)  # every text cell got its apostrophe (and quotes)
    assert len(sizes) >= 4 and max(sizes) < sum(sizes) / 3, sizes
    assert first.startswith(b'"note","amount","y"\n"\'=row0*2",0.5,"a"\n')
    assert last.endswith(b'"\'=row199999*2",-199999.5,"b"\n')
