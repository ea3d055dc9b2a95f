"""The gate's leakage check: a candidate trained on rows of the gate's pinned set is refused, whatever copy of
them it was trained on (the pinned version itself, a re-upload, shuffled rows, reordered columns, other
labels), counted in distinct rows by their typed feature values; `max_overlap` allows some; a train job on such
data is warned at submit; a team admin may still force the move."""

import csv
import io
import json
import random
from unittest import mock

import pytest

from accounts_app.models import AuditEvent
from datasets_app import blobs
from datasets_app.models import DatasetVersion
from jobs_app.models import JobLog
from models_app import leakage
from models_app.models import ModelVersion, RowHashes
from models_app.services import record_evaluation, set_alias
from tests.helpers import MLP_SPEC, csv_file, register_trained, safetensors_file


def _rows(version) -> tuple[list[str], list[list[str]]]:
    with blobs.open_blob(version.blob) as fh:
        reader = csv.reader(io.TextIOWrapper(fh, encoding="utf-8"))
        header, *rows = list(reader)
    return header, rows


def _text(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _upload(world, name: str, text: str, target: str = "target", filename: str = "data.csv") -> DatasetVersion:
    client = world.client("member")
    response = client.post("/api/v1/datasets/", {"team": "alpha", "name": name, "task": "classification"})
    assert response.status_code == 201, response.json()
    response = client.post(
        f"/api/v1/datasets/{response.json()['id']}/versions/",
        {"file": csv_file(text, filename), "target": target},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return DatasetVersion.objects.select_related("dataset", "blob").get(pk=response.json()["id"])


def _shifted(rows, by: float = 100.0) -> list[list[str]]:
    """Rows no pinned row equals: every feature moved by `by`."""
    return [[str(float(v) + by) for v in row[:-1]] + [row[-1]] for row in rows]


def _version_on(world, model, *dataset_versions) -> ModelVersion:
    """A model version (uploaded weights) recorded as trained on `dataset_versions`."""
    response = world.client("member").post(
        f"/api/v1/models/{model.pk}/versions/",
        {
            "weights": safetensors_file(),
            "spec": MLP_SPEC,
            "dataset_versions": [str(dv.pk) for dv in dataset_versions],
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return ModelVersion.objects.get(pk=response.json()["id"])


def _gate(world, model, pinned, **body):
    response = world.client("maintainer").put(
        f"/api/v1/models/{model.pk}/gate/", {"dataset_version": str(pinned.pk), **body}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()


def _dry_run(world, model, version) -> dict:
    response = world.client("member").post(
        f"/api/v1/models/{model.pk}/gate/check/", {"alias": "production", "version": str(version.pk)}, format="json"
    )
    assert response.status_code == 200, response.json()
    return next(c for c in response.json()["checks"] if c["name"] == "leakage")


def _leakage(model, version) -> dict:
    from models_app import gates

    report = gates.report(model=model, version=version, alias="production")
    return next(c for c in report["checks"] if c["name"] == "leakage")


@pytest.fixture
def pinned(iris_version):
    """The gate's pinned set: iris (150 rows, 149 distinct: rows 102 and 143 are the same flower)."""
    return iris_version


@pytest.fixture
def gated(world, model, pinned):
    return _gate(world, model, pinned)


# --- what counts as the pinned set's rows --------------------------------------------------------------------


def test_the_pinned_version_itself_as_training_data_is_refused_through_the_api(world, model, pinned, gated):
    version = _version_on(world, model, pinned)
    record_evaluation(
        actor=None, model_version=version, dataset_version=pinned, split="all", metrics={"accuracy": 1.0}, num_rows=150
    )
    response = world.client("member").post(
        f"/api/v1/models/{model.pk}/aliases/", {"alias": "production", "version": str(version.pk)}, format="json"
    )
    assert response.status_code == 409, response.json()
    [check] = response.json()["checks"]  # evaluated and carded: the leakage is what stops it
    assert check | {"name": "leakage", "passed": False, "overlap": 149, "max_overlap": 0, "pinned_rows": 149} == check
    assert check["detail"].startswith("149 of the pinned set's 149 distinct rows are in the training data")
    assert "(allowed: 0)" in check["detail"] and "flowers v1" in check["detail"]
    assert "149 of the pinned set's 149 distinct rows" in response.json()["detail"]
    assert not model.aliases.filter(alias="production").exists()


@pytest.mark.parametrize(
    "variant",
    ["byte-identical", "shuffled rows", "reordered columns", "other labels", "extra id column", "dropped column"],
)
def test_a_copy_of_the_pinned_rows_is_caught_by_content(world, model, pinned, gated, variant):
    header, rows = _rows(pinned)
    rng = random.Random(7)
    if variant == "shuffled rows":
        rows = rng.sample(rows, len(rows))
    elif variant == "reordered columns":
        order = [4, 2, 0, 3, 1]
        header, rows = [header[i] for i in order], [[row[i] for i in order] for row in rows]
    elif variant == "other labels":
        rows = [[*row[:-1], rng.choice(["a", "b", "c"])] for row in rows]
    elif variant == "extra id column":
        header, rows = ["id", *header], [[str(i), *row] for i, row in enumerate(rows)]
    elif variant == "dropped column":  # a model trained on 3 of the 4 features still saw these flowers
        header, rows = header[1:], [row[1:] for row in rows]
    copy = _upload(world, "copy", _text(header, rows))
    if variant == "byte-identical":
        assert copy.blob_id == pinned.blob_id and copy.pk != pinned.pk
    check = _dry_run(world, model, _version_on(world, model, copy))
    assert not check["passed"]
    expected = 143 if variant == "dropped column" else 149  # without sepal length, six more flowers repeat
    assert (check["overlap"], check["pinned_rows"]) == (expected, expected), check


def test_disjoint_data_passes_and_reads_well(world, model, pinned, gated):
    header, rows = _rows(pinned)
    other = _upload(world, "other", _text(header, _shifted(rows)))
    check = _dry_run(world, model, _version_on(world, model, other))
    assert check | {"passed": True, "overlap": 0, "max_overlap": 0, "pinned_rows": 149} == check
    assert check["detail"] == (
        "none of the pinned set's 149 distinct rows are in the training data (other v1) (allowed: 0)"
    )


def test_max_overlap_allows_that_many_rows_and_no_more(world, model, pinned, gated):
    header, rows = _rows(pinned)
    mixed = _upload(world, "mixed", _text(header, _shifted(rows[12:]) + rows[:12]))  # 12 distinct pinned rows
    version = _version_on(world, model, mixed)
    assert _dry_run(world, model, version) | {"passed": False, "overlap": 12} == _dry_run(world, model, version)
    assert _gate(world, model, pinned, max_overlap=11)["max_overlap"] == 11
    assert not _dry_run(world, model, version)["passed"]
    _gate(world, model, pinned, max_overlap=12)
    check = _dry_run(world, model, version)
    assert check["passed"] and check["detail"].startswith("12 of the pinned set's 149 distinct rows")
    assert "(allowed: 12)" in check["detail"]


def test_rows_are_counted_once_however_often_they_repeat(world, model):
    pinned = _upload(world, "pinned", "x,y,target\n1,2,a\n1,2,b\n3,4,a\n5,6,a\n")  # 3 distinct rows
    _gate(world, model, pinned)
    training = _upload(world, "train", "x,y,target\n1,2,a\n1,2,a\n1,2,c\n3,4,b\n3,4,b\n9,9,a\n")
    check = _dry_run(world, model, _version_on(world, model, training))
    assert (check["overlap"], check["pinned_rows"]) == (2, 3), check


def test_values_are_compared_as_typed_values_not_as_text(world, model):
    # "1" in an int column and "1.0" / "1e0" in a float column are the same number; missing is missing
    # however it is written (empty, NA); text is compared as written
    pinned = _upload(world, "pinned", "x,w,s,target\n1.0,NA,ab,a\n2.5,3,cd,b\n1e0,,AB,c\n")
    _gate(world, model, pinned)
    training = _upload(world, "train", "target,s,w,x\nq,ab,,1\nq,cd,3.0,2.5\nq,ab,NA,1.0\n")
    check = _dry_run(world, model, _version_on(world, model, training))
    assert (check["overlap"], check["pinned_rows"]) == (2, 3), check  # the row with "AB" is another row


def test_the_same_rows_in_another_format_are_caught(world, model, pinned, gated):
    header, rows = _rows(pinned)
    lines = [
        json.dumps({h: (float(v) if h != "target" else v) for h, v in zip(header, row, strict=True)}) for row in rows
    ]
    copy = _upload(world, "as-jsonl", "\n".join(lines) + "\n", filename="data.jsonl")
    assert _dry_run(world, model, _version_on(world, model, copy))["overlap"] == 149


def test_training_data_is_the_versions_own_and_its_ancestors(world, model, pinned, gated):
    trained = _version_on(world, model, pinned)
    derived = _version_on(world, model)  # an export or quantization records no data of its own
    ModelVersion.objects.filter(pk=derived.pk).update(parent=trained)
    derived.refresh_from_db()
    assert leakage.training_data(derived) == [pinned]
    assert _dry_run(world, model, derived)["overlap"] == 149


def test_a_version_that_records_no_training_data_passes_with_the_overlap_unknown(world, model, pinned, gated):
    check = _dry_run(world, model, _version_on(world, model))
    assert check | {"passed": True, "overlap": None, "pinned_rows": None} == check
    assert "does not record the data it was trained on" in check["detail"]


def test_data_sets_sharing_no_column_set_are_not_compared(world, model, pinned, gated):
    other = _upload(world, "other", "a,b,target\n1,2,x\n")
    check = _dry_run(world, model, _version_on(world, model, other))
    assert check["passed"] and check["overlap"] == 0
    assert "not compared, no shared columns: other v1" in check["detail"]


# --- cache, settings, force --------------------------------------------------------------------------------


def test_row_hashes_are_computed_once_per_dataset_version_and_kept(world, model, pinned, gated):
    version = _version_on(world, model, pinned)
    _dry_run(world, model, version)
    assert RowHashes.objects.filter(dataset_version=pinned).count() == 1
    stored = RowHashes.objects.get(dataset_version=pinned)
    assert (stored.num_rows, stored.distinct_rows, len(bytes(stored.hashes))) == (150, 149, 149 * 8)
    assert stored.columns == ["petal_length_cm", "petal_width_cm", "sepal_length_cm", "sepal_width_cm"]
    with mock.patch("ml.rowhash.row_hashes", side_effect=AssertionError("read again")):
        assert _dry_run(world, model, version)["overlap"] == 149


def test_a_refused_move_keeps_the_hashes_it_computed(world, model, pinned, gated):
    version = _version_on(world, model, pinned)
    response = world.client("member").post(
        f"/api/v1/models/{model.pk}/aliases/", {"alias": "production", "version": str(version.pk)}, format="json"
    )
    assert response.status_code == 409
    assert RowHashes.objects.filter(dataset_version=pinned).exists()


def test_max_overlap_is_a_gate_setting(world, model, pinned):
    assert _gate(world, model, pinned)["max_overlap"] == 0
    assert _gate(world, model, pinned, max_overlap=5)["max_overlap"] == 5
    assert world.client("viewer").get(f"/api/v1/models/{model.pk}/gate/").json()["max_overlap"] == 5
    for bad in (-1, "many", 1.5):
        response = world.client("maintainer").put(
            f"/api/v1/models/{model.pk}/gate/", {"dataset_version": str(pinned.pk), "max_overlap": bad}, format="json"
        )
        assert response.status_code == 400 and "max_overlap" in response.json()["errors"], response.json()
    event = AuditEvent.objects.filter(action="gate.set").order_by("-created_at").first()
    assert event.data["max_overlap"] == 5


def test_an_unreadable_file_fails_the_check(world, model, pinned, gated):
    version = _version_on(world, model, pinned)
    with mock.patch("ml.rowhash.row_hashes", side_effect=OSError("disk gone")):
        check = _leakage(model, version)
    assert not check["passed"] and "could not read flowers v1" in check["detail"] and check["overlap"] is None


def test_an_admin_may_force_past_a_leak_and_it_is_audited(world, model, pinned, gated):
    version = _version_on(world, model, pinned)
    body = {"alias": "production", "version": str(version.pk), "force": True, "reason": "known overlap, see ticket"}
    assert (
        world.client("maintainer").post(f"/api/v1/models/{model.pk}/aliases/", body, format="json").status_code == 403
    )
    response = world.client("admin").post(f"/api/v1/models/{model.pk}/aliases/", body, format="json")
    assert response.status_code == 200, response.json()
    event = AuditEvent.objects.get(action="alias.force")
    leak = next(c for c in event.data["failed_checks"] if c["name"] == "leakage")
    assert leak["overlap"] == 149


def test_the_admin_may_change_max_overlap_and_only_that(world, model, pinned, gated, admin_client):
    from models_app.models import GatePolicy

    gate = GatePolicy.objects.get(model=model)
    url = f"/admin/models_app/gatepolicy/{gate.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200 and b'name="max_overlap"' in page.content and b'name="min_gain"' not in page.content
    response = admin_client.post(url, {"max_overlap": "7"})
    assert response.status_code == 302, response.content[:2000]
    gate.refresh_from_db()
    assert gate.max_overlap == 7 and gate.dataset_version_id == pinned.pk
    assert AuditEvent.objects.filter(action="gate.set", data__max_overlap=7).exists()


# --- a warning when a train job is submitted on such data ----------------------------------------------------


def _submit_train(world, model, dataset_version):
    spec = {"dataset_version": str(dataset_version.pk), "model": str(model.pk), "architecture": "mlp"}
    response = world.client("member").post(
        "/api/v1/jobs/", {"team": "alpha", "kind": "train", "spec": spec}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_training_on_the_pinned_rows_is_warned_at_submit_not_refused(world, model, pinned, gated):
    header, rows = _rows(pinned)
    copy = _upload(world, "copy", _text(header, random.Random(1).sample(rows, len(rows))))
    job = _submit_train(world, model, copy)
    [warning] = job["warnings"]
    assert warning.startswith("149 of the 149 distinct rows of the gate's pinned set (flowers v1) are in copy v1")
    assert "the gate will refuse to move production" in warning
    assert JobLog.objects.filter(job_id=job["id"], line=f"warning: {warning}").exists()


def test_no_warning_for_disjoint_data_or_a_model_without_a_gate(world, model, pinned):
    header, rows = _rows(pinned)
    other = _upload(world, "other", _text(header, _shifted(rows)))
    assert _submit_train(world, model, pinned)["warnings"] == []  # no gate yet
    _gate(world, model, pinned)
    assert _submit_train(world, model, other)["warnings"] == []
    _gate(world, model, pinned, max_overlap=500)
    assert "within what the gate allows" in _submit_train(world, model, pinned)["warnings"][0]


# --- end to end: a real trained model ------------------------------------------------------------------------


def test_a_model_really_trained_on_the_pinned_set_cannot_take_production(world, model, pinned):
    header, rows = _rows(pinned)
    holdout = _upload(world, "holdout", _text(header, rows[::5]))  # 30 flowers
    # the gate pins the hold-out; v1 is trained on all of iris (which holds the hold-out) and takes production
    # before the gate exists
    first = register_trained(actor=world.users["member"], model=model, dataset_version=pinned)
    set_alias(actor=world.users["member"], model=model, alias="production", version=first)
    _gate(world, model, holdout)
    for version, score in ((first, 0.9), (None, 1.0)):
        if version is None:  # a candidate trained (by the real pipeline) on the hold-out's rows too
            version = register_trained(actor=world.users["member"], model=model, dataset_version=pinned, seed=3)
        record_evaluation(
            actor=None,
            model_version=version,
            dataset_version=holdout,
            split="all",
            metrics={"accuracy": score},
            num_rows=30,
        )
    response = world.client("member").post(
        f"/api/v1/models/{model.pk}/aliases/", {"alias": "production", "version": str(version.pk)}, format="json"
    )
    assert response.status_code == 409
    assert [c["name"] for c in response.json()["checks"]] == ["leakage"]
    assert response.json()["checks"][0]["overlap"] == 30
    assert model.aliases.get(alias="production").version_id == first.pk


def test_training_on_the_pinned_version_is_no_leak_when_the_gate_scores_a_split_training_held_out(
    world, model, pinned
):
    """A gate that scores the `test` split of a version, and a model trained on that version (whose training holds
    the test split out, by the same seeded split): the rows are told apart by the split, not by content."""
    _gate(world, model, pinned, split="test")
    version = _version_on(world, model, pinned)
    check = _leakage(model, version)
    assert check["passed"] is True and check["overlap"] == 0
    assert "itself was trained on with its test split held out" in check["detail"]
    # a re-uploaded copy of the same file is still compared by content
    from datasets_app.services import create_version_from_builtin

    copy = create_version_from_builtin(actor=world.users["member"], dataset=pinned.dataset, name="iris")
    copied = _version_on(world, model, copy)
    assert _leakage(model, copied)["passed"] is False
