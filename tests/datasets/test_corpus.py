"""The problem corpus: every file of tests/data/corpus/ read on every path (upload inspection, preview, a
process job, training data preparation) must give what its manifest says, so the paths agree with each other
and are right.

tests/data/corpus/manifest.json is {"cases": [case, ...]}; a case has
    id              the test's name
    file            the file, under tests/data/corpus/ (shared/ holds the shared problem cases as given)
    target, task    the upload's target and its data set's task
    kind            the kind of problem the file stands for
    options         optional upload options: na_values (a list, sent as JSON text), delimiter, format
and either
    refused         {"field", "where", "says"}: the upload answers 400 and errors[field] holds both `where`
                    (line / column, array, the column list; null where the problem has no place) and `says`
or
    expect          {"rows", "columns": [[name, dtype, missing], ...], "classes", "first_row"}: "classes" (for
                    classification tasks) are the labels of the rows whose target is not missing; "first_row"
                    (optional) is the first row as the preview shows it.
The NPZ and Parquet files are written by tests/data/corpus/make_binary.py (run once; its output is committed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from datasets_app import blobs
from datasets_app.models import Blob, DatasetVersion
from datasets_app.services import create_dataset
from jobs_app import runners, services
from ml import formats
from ml.data import DataError, encode_targets
from ml.formats import csv as csv_reader
from tests.datasets.test_versions import assert_rejected, files_under, upload
from tests.helpers import csv_file

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
CASES = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))["cases"]
REFUSED = [c for c in CASES if "refused" in c]
ACCEPTED = [c for c in CASES if "expect" in c]
NEUTRAL = [{"op": "sample", "fraction": 1.0}]  # every row, in order: the output must read as the input
PREVIEW_ALL = 1000  # the preview's largest page; corpus files are smaller


def _ids(cases) -> list[str]:
    return [c["id"] for c in cases]


def _dataset(world, task: str):
    return create_dataset(actor=world.users["member"], team=world.alpha, name="corpus", task=task)


def _upload_case(world, case: dict, fh=None, dataset=None):
    dataset = dataset or _dataset(world, case["task"])
    fields = {"target": case["target"]}
    for key, value in case.get("options", {}).items():
        fields[key] = json.dumps(value) if key == "na_values" else value
    if fh is not None:
        return upload(world.client("member"), dataset, fh, **fields)
    with open(CORPUS / case["file"], "rb") as opened:
        return upload(world.client("member"), dataset, opened, **fields)


def _schema(columns: list[dict]) -> list[list]:
    return [[c["name"], c["dtype"], c["missing"]] for c in columns]


def _preview(world, version_id, *, limit: int = PREVIEW_ALL, offset: int = 0) -> dict:
    response = world.client("viewer").get(
        f"/api/v1/dataset-versions/{version_id}/preview/", {"limit": limit, "offset": offset}
    )
    assert response.status_code == 200, response.content
    return response.json()


def _process(world, version: DatasetVersion) -> DatasetVersion:
    """A process job with a neutral step, run in this process the way a worker runs it (runners.execute)."""
    job = services.submit_job(
        actor=world.users["member"],
        team=world.alpha,
        kind="process",
        spec={"dataset_version": str(version.pk), "steps": NEUTRAL},
    )
    status = runners.execute(job_id=job.pk, task_id=job.task_id, worker="corpus")
    job.refresh_from_db()
    assert status == "succeeded", job.error
    return DatasetVersion.objects.get(pk=job.outputs["dataset_version"])


def _training_columns(version: DatasetVersion) -> dict[str, np.ndarray]:
    with blobs.local_copy(version.blob) as path:
        return formats.arrays(path, version.format, version.schema)


def _plain(value):
    """A preview or training value as one comparable Python value: numbers (and booleans) as floats,
    NaN as None, samples as nested lists."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _missing(array: np.ndarray) -> int:
    """Rows with a missing value, as training sees them: None in text, NaN anywhere in a row of numbers."""
    if array.dtype == object:
        return sum(v is None for v in array)
    if array.dtype.kind == "f":
        return int(np.isnan(array.reshape(len(array), -1)).any(axis=1).sum())
    return 0


def _check_training(columns: dict[str, np.ndarray], case: dict, preview: dict) -> None:
    """(d) ml.formats.arrays + ml.data.encode_targets: the manifest's missing counts and classes, and the
    preview's values."""
    expect = case["expect"]
    assert list(columns) == [name for name, _, _ in expect["columns"]]
    assert {n: _missing(a) for n, a in columns.items()} == {n: m for n, _, m in expect["columns"]}
    for j, (name, array) in enumerate(columns.items()):
        assert len(array) == expect["rows"]
        shown = [_plain(row[j]) for row in preview["rows"]]
        assert shown == [_plain(v) for v in array.tolist()], name
    target = columns[case["target"]]
    present = np.array([v is not None and not (isinstance(v, float) and math.isnan(v)) for v in target.tolist()])
    if not present.all():
        with pytest.raises(DataError, match="missing"):
            encode_targets(target, case["task"])
    encoded, info = encode_targets(target[present], case["task"])
    assert len(encoded) == present.sum()
    if case["task"] == "regression":
        assert "classes" not in expect and info == {}
    else:
        assert sorted(info["classes"]) == sorted(expect["classes"])


def test_every_corpus_file_has_a_case_and_every_case_a_file():
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file()}
    on_disk -= {"manifest.json", "make_binary.py"}
    assert on_disk == {c["file"] for c in CASES}
    assert len({c["id"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", REFUSED, ids=_ids(REFUSED))
def test_refused_files_answer_400_naming_where_and_store_nothing(world, media_root, settings, case):
    refused = case["refused"]
    needles = [n for n in (refused["where"], refused["says"]) if n]
    assert_rejected(_upload_case(world, case), refused["field"], *needles)
    assert DatasetVersion.objects.count() == 0
    assert Blob.objects.count() == 0
    assert files_under(media_root) == []
    assert files_under(settings.FILE_UPLOAD_TEMP_DIR) == []


@pytest.mark.parametrize("case", ACCEPTED, ids=_ids(ACCEPTED))
def test_accepted_files_read_the_same_on_every_path(world, case):
    expect = case["expect"]
    names = [name for name, _, _ in expect["columns"]]

    # (a) upload inspection
    response = _upload_case(world, case)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["num_rows"] == expect["rows"]
    assert _schema(body["schema"]["columns"]) == expect["columns"]
    version = DatasetVersion.objects.get(pk=body["id"])

    # (b) preview
    preview = _preview(world, version.pk)
    assert preview["columns"] == names
    assert len(preview["rows"]) == expect["rows"]
    if "first_row" in expect:
        assert preview["rows"][0] == expect["first_row"]

    # (c) a process job with a neutral step: the output reads as the input did
    output = _process(world, version)
    assert output.num_rows == expect["rows"]
    assert _schema(output.schema["columns"]) == expect["columns"]
    assert _preview(world, output.pk)["rows"] == preview["rows"]

    # (d) training data preparation, of the upload and of the processed output
    _check_training(_training_columns(version), case, preview)
    _check_training(_training_columns(output), case, preview)


def _generated(rows: int, at: int, odd: str) -> str:
    """A CSV of `rows` rows (several of the reader's 1 MB blocks) whose column x holds integers except `odd`
    at row `at`."""
    lines = ["x,y,t,label\n"]
    lines.extend(f"{odd if i == at else i},{i % 7}.25,row {i},{'ab'[i % 2]}\n" for i in range(rows))
    return "".join(lines)


@pytest.mark.parametrize(
    ("odd", "dtype", "missing", "shown"),
    [("2.5", "float64", 0, 2.5), ("oops", "string", 0, "oops"), ("NA", "int64", 1, None)],
    ids=["fraction", "text", "missing-token"],
)
def test_an_odd_value_types_its_column_the_same_wherever_it_sits(world, odd, dtype, missing, shown):
    rows = 100_000
    case = {"target": "label", "task": "classification"}
    dataset = _dataset(world, case["task"])
    for at in (0, rows // 2, rows - 1):
        text = _generated(rows, at, odd)
        assert len(text.encode()) > 2 * csv_reader.BLOCK_BYTES
        response = _upload_case(world, case, csv_file(text, name=f"odd-at-{at}.csv"), dataset)
        assert response.status_code == 201, response.json()
        expected = [["x", dtype, missing], ["y", "float64", 0], ["t", "string", 0], ["label", "string", 0]]
        assert _schema(response.json()["schema"]["columns"]) == expected, f"odd value at row {at}"
        version = DatasetVersion.objects.get(pk=response.json()["id"])
        window = _preview(world, version.pk, limit=2, offset=max(at - 1, 0))["rows"]
        assert shown in [row[0] for row in window]
        x = _training_columns(version)["x"]
        assert _plain(x[at]) == _plain(shown) and _missing(x) == missing
        neighbour = at - 1 if at else at + 1
        assert _plain(x[neighbour]) == (str(neighbour) if dtype == "string" else float(neighbour))
        output = _process(world, version)
        assert _schema(output.schema["columns"]) == expected, f"processed, odd value at row {at}"
