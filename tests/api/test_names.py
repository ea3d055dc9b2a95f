"""Names (datasets, models, teams, aliases, metric keys) are printable, stored in NFC and unique per team without
regard to case; the migration's function renames existing case twins before the constraint is added."""

import json
import unicodedata

import pytest
from django.db import connection

from accounts_app.models import Team
from accounts_app.names import rename_case_twins
from datasets_app.models import Dataset
from jobs_app.metrics import PointError, check_points
from ml import names
from ml.errors import UserError
from models_app.models import RegisteredModel

# one representative of every refused class, inside an otherwise ordinary name
BAD = {
    "control": "ab\x07c",
    "newline": "ab\nc",
    "bidi-override": "ab\u202ec",
    "bidi-isolate": "ab\u2066c",
    "zero-width-space": "ab\u200bc",
    "zero-width-joiner": "ab\u200dc",
    "word-joiner": "ab\u2060c",
    "bom": "ab\ufeffc",
    "private-use": "ab\ue000c",
    "unassigned": "ab\u0378c",
    "line-separator": "ab\u2028c",
    "no-break-space": "ab\u00a0c",
    "lone-surrogate": "ab\ud800c",
}
DECOMPOSED = "Cafe\u0301"  # "Café" as e + combining acute accent
COMPOSED = "Caf\u00e9"


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_the_rule_refuses_each_class_and_says_which_character(bad):
    found = names.problem(bad)
    assert found is not None and f"U+{ord(bad[2]):04X} at position 2" in found
    with pytest.raises(UserError) as caught:
        names.clean_name(bad, field="spec.model")
    assert caught.value.field == "spec.model"


def test_the_rule_keeps_ordinary_names_and_stores_nfc():
    for ok in ("digits", "Digits v2", "données-été", "模型", "ρ-model", "a_b.c"):
        assert names.clean_name(ok) == unicodedata.normalize("NFC", ok)
    assert names.clean_name(DECOMPOSED) == COMPOSED
    with pytest.raises(UserError, match="blank"):
        names.clean_name("   ")
    with pytest.raises(UserError, match="at most 3"):
        names.clean_name("abcd", max_length=3)


def _create(client, what, name):
    """JSON with \\u escapes (as json.dumps writes it), so that a lone surrogate can travel."""
    if what == "team":
        body, url = {"slug": "gamma", "name": name}, "/api/v1/teams/"
    else:
        body, url = {"team": "alpha", "name": name, "task": "classification"}, f"/api/v1/{what}/"
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.mark.parametrize("what", ["datasets", "models", "team"])
@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_create_refuses_an_unprintable_name_naming_the_field(world, what, bad):
    response = _create(world.client("member"), what, bad)
    assert response.status_code == 400, response.json()
    assert "U+" in " ".join(response.json()["errors"]["name"])
    assert not Dataset.objects.exists() and not RegisteredModel.objects.exists()
    assert not Team.objects.filter(slug="gamma").exists()


@pytest.mark.parametrize("what", ["datasets", "models"])
@pytest.mark.parametrize("bad", ["ab\u202ec", "ab\u200bc", "ab\x1bc"], ids=["bidi", "zero-width", "escape"])
def test_patch_refuses_an_unprintable_name(world, dataset, model, what, bad):
    obj = dataset if what == "datasets" else model
    response = world.client("maintainer").patch(f"/api/v1/{what}/{obj.pk}/", {"name": bad}, format="json")
    assert response.status_code == 400, response.json()
    assert "name" in response.json()["errors"]
    obj.refresh_from_db()
    assert obj.name in ("flowers", "flower-clf")


@pytest.mark.parametrize("what", ["datasets", "models", "team"])
def test_names_are_stored_in_nfc(world, what):
    response = _create(world.client("member"), what, DECOMPOSED)
    assert response.status_code == 201, response.json()
    assert response.json()["name"] == COMPOSED
    stored = {"datasets": Dataset, "models": RegisteredModel, "team": Team}[what].objects.get(name=COMPOSED)
    assert len(stored.name) == 4


@pytest.mark.parametrize("what", ["datasets", "models"])
def test_a_case_twin_is_refused_on_create_and_rename(world, what):
    client = world.client("member")
    first = _create(client, what, "Digits")
    assert first.status_code == 201
    twin = _create(client, what, "dIGITS")
    assert twin.status_code == 400, twin.json()
    assert "already has a" in " ".join(twin.json()["errors"]["name"])
    other = _create(client, what, "letters")
    renamed = world.client("maintainer").patch(
        f"/api/v1/{what}/{other.json()['id']}/", {"name": "DIGITS"}, format="json"
    )
    assert renamed.status_code == 400 and "name" in renamed.json()["errors"]
    # the same name in another team is fine
    body = {"team": "beta", "name": "digits", "task": "classification"}
    assert world.client("outsider").post(f"/api/v1/{what}/", body, format="json").status_code == 201


def test_the_database_refuses_a_case_twin_that_skips_the_service(world, dataset):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Dataset.objects.create(team=world.alpha, name="FLOWERS", task="classification")


def test_a_train_job_names_an_existing_model_without_regard_to_case(world, iris_version, model):
    client = world.client("member")
    spec = {"dataset_version": str(iris_version.pk), "model": "FLOWER-CLF", "hyperparameters": {"epochs": 1}}
    response = client.post("/api/v1/jobs/", {"team": "alpha", "kind": "train", "spec": spec}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["spec"]["model"] == str(model.pk)
    spec["model"] = "new\u202emodel"
    response = client.post("/api/v1/jobs/", {"team": "alpha", "kind": "train", "spec": spec}, format="json")
    assert response.status_code == 400 and "spec.model" in response.json()["errors"]


def test_an_alias_must_be_printable(world, model, model_version):
    response = world.client("maintainer").post(
        f"/api/v1/models/{model.pk}/aliases/", {"alias": "prod\u200b", "version": str(model_version.pk)}, format="json"
    )
    assert response.status_code == 400 and "alias" in response.json()["errors"]


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_metric_keys_follow_the_same_rule(bad):
    with pytest.raises(PointError) as caught:
        check_points([{"key": "loss", "step": 1, "value": 1.0}, {"key": bad, "step": 1, "value": 1.0}])
    assert caught.value.field == "points[1].key"


def test_metric_keys_are_stored_in_nfc():
    assert check_points([{"key": DECOMPOSED, "step": 0, "value": 1}]) == [(COMPOSED, 0, 1.0)]


def _without_constraint(model, name):
    """Case twins can only exist from before the constraint: drop it inside the test's transaction."""
    constraint = next(c for c in model._meta.constraints if c.name == name)
    with connection.schema_editor() as editor:
        editor.remove_constraint(model, constraint)
    return constraint


@pytest.mark.parametrize(
    "model, constraint, extra",
    [
        (Dataset, "dataset_unique_team_lower_name", {"task": "classification"}),
        (RegisteredModel, "model_unique_team_lower_name", {"task": "classification"}),
    ],
)
def test_the_migration_renames_case_twins_and_reports_them(world, model, constraint, extra):
    from datetime import timedelta

    from django.utils import timezone

    dropped = _without_constraint(model, constraint)
    now = timezone.now()
    make = lambda team, name, age: model.objects.create(  # noqa: E731
        team=team, name=name, created_at=now - timedelta(minutes=age), **extra
    )
    oldest = make(world.alpha, "Digits", 30)
    lower = make(world.alpha, "digits", 20)
    upper = make(world.alpha, "DIGITS", 10)
    taken = make(world.alpha, "digits-2", 40)  # the first suffix is taken: the twin gets -3
    other_team = make(world.beta, "digits", 5)
    hidden = make(world.alpha, "iris\u200b", 3)  # a zero-width space: cleaned to "iris", twin of "Iris"
    iris = make(world.alpha, "Iris", 50)
    decomposed = make(world.alpha, DECOMPOSED, 1)

    lines = []
    renamed = rename_case_twins(model, report=lines.append)

    def name(obj):
        obj.refresh_from_db()
        return obj.name

    assert name(oldest) == "Digits" and name(taken) == "digits-2" and name(other_team) == "digits"
    assert (name(lower), name(upper)) == ("digits-3", "DIGITS-4")
    assert name(iris) == "Iris" and name(hidden) == "iris-2"
    assert name(decomposed) == COMPOSED
    assert {pk for pk, _, _ in renamed} == {str(o.pk) for o in (lower, upper, hidden, decomposed)}
    assert len(lines) == 5  # the hidden one was cleaned, then renamed as a twin
    assert any("'digits' -> 'digits-3'" in line for line in lines)
    # the constraint can now be added, and holds
    with connection.cursor() as cursor:  # the rows made above leave deferred foreign-key checks pending
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with connection.schema_editor() as editor:
        editor.add_constraint(model, dropped)
    assert rename_case_twins(model, report=lines.append) == []
