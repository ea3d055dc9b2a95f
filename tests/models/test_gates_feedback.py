"""Promotion gates (set by a maintainer; a failing promotion is 409 listing the checks; a team admin may force
it, audited) and feedback on served predictions (member role; another team's prediction is 404)."""

import pytest

from accounts_app.models import AuditEvent
from models_app.gates import card_sections
from models_app.models import PredictionLog
from models_app.services import record_evaluation
from tests.helpers import register_trained

SETOSA = [5.1, 3.5, 1.4, 0.2]
CARD = "# Flowers\n\n## Intended use\nSorting iris flowers.\n\n## Limitations\n\nThree species only.\n"


def _gate(client, model, **body):
    return client.put(f"/api/v1/models/{model.pk}/gate/", body, format="json")


def _promote(client, model, version, **extra):
    return client.post(
        f"/api/v1/models/{model.pk}/aliases/",
        {"alias": "production", "version": str(version.pk), **extra},
        format="json",
    )


def _evaluate(version, dataset_version, accuracy: float):
    """An evaluation shaped like an evaluate job's: numbers beside a nested per-class table and a matrix."""
    row = {"precision": accuracy, "recall": accuracy, "f1": accuracy, "support": 50}
    record_evaluation(
        actor=None,
        model_version=version,
        dataset_version=dataset_version,
        split="all",
        metrics={
            "accuracy": accuracy,
            "log_loss": 1 - accuracy,
            "per_class": {name: row for name in ("setosa", "versicolor", "virginica")},
            "confusion_matrix": {
                "labels": ["setosa", "versicolor", "virginica"],
                "matrix": [[50, 0, 0], [0, 50, 0], [0, 0, 50]],
            },
        },
        num_rows=150,
    )


@pytest.fixture
def gated(world, model, iris_version, trained):
    """The gate: accuracy on iris (all rows) must beat production's by 0.01; the card needs two sections. The
    versions here are trained on iris itself, so the gate allows that overlap: the leakage check has its own
    tests (test_gate_leakage.py)."""
    response = _gate(
        world.client("maintainer"),
        model,
        dataset_version=str(iris_version.pk),
        min_gain=0.01,
        max_overlap=150,
        required_card_fields=["Intended use", "Limitations"],
    )
    assert response.status_code == 200, response.json()
    _evaluate(trained, iris_version, 0.90)
    return response.json()


@pytest.fixture
def candidate(world, model, iris_version):
    return register_trained(actor=world.users["member"], model=model, dataset_version=iris_version, seed=1)


def test_the_gate_has_sensible_defaults_and_needs_a_maintainer(world, model, iris_version, gated):
    assert gated | {"metric": "accuracy", "direction": "maximize", "split": "all", "aliases": ["production"]} == gated
    assert world.client("member").get(f"/api/v1/models/{model.pk}/gate/").json()["min_gain"] == 0.01
    response = _gate(world.client("member"), model, dataset_version=str(iris_version.pk))
    assert response.status_code == 403
    assert world.client("outsider").get(f"/api/v1/models/{model.pk}/gate/").status_code == 404
    assert AuditEvent.objects.filter(action="gate.set", actor=world.users["maintainer"]).count() == 1
    response = _gate(world.client("maintainer"), model, dataset_version=str(iris_version.pk), metric="log_loss")
    assert response.json()["direction"] == "minimize"  # each metric knows which way is better


@pytest.mark.parametrize(
    "body, field",
    [
        ({"metric": "r2"}, "metric"),
        ({"metric": "per_class"}, "metric"),  # a table, not a number to compare
        ({"direction": "up"}, "direction"),
        ({"split": "dev"}, "split"),
        ({"min_gain": "a lot"}, "min_gain"),
        ({"aliases": ["Prod!"]}, "aliases.0"),
        ({"dataset_version": "00000000-0000-0000-0000-000000000000"}, "dataset_version"),
    ],
)
def test_bad_gates_are_400_naming_the_field(world, model, iris_version, body, field):
    response = _gate(world.client("maintainer"), model, **{"dataset_version": str(iris_version.pk), **body})
    assert response.status_code == 400 and field in response.json()["errors"], response.json()


def test_a_version_without_card_or_evaluation_is_refused_with_every_failed_check(world, model, gated, candidate):
    response = _promote(world.client("member"), model, candidate)
    assert response.status_code == 409
    checks = {c["check"]: c["detail"] for c in response.json()["checks"]}
    assert set(checks) == {"model_card", "evaluation"}
    assert "Intended use, Limitations" in checks["model_card"] and "v2 has no accuracy" in checks["evaluation"]
    assert model.aliases.get(alias="production").version_id != candidate.pk


def test_too_small_a_gain_is_refused_and_enough_gain_passes(world, model, iris_version, gated, candidate):
    member = world.client("member")
    assert member.patch(f"/api/v1/models/{model.pk}/", {"card": CARD}, format="json").status_code == 200
    _evaluate(candidate, iris_version, 0.905)  # +0.005 < +0.01
    response = _promote(member, model, candidate)
    assert response.status_code == 409
    assert [c["check"] for c in response.json()["checks"]] == ["min_gain"]
    assert "+0.0050, below the required +0.0100" in response.json()["detail"]

    _evaluate(candidate, iris_version, 0.95)  # the latest evaluation counts
    response = _promote(member, model, candidate)
    assert response.status_code == 200, response.json()
    assert model.aliases.get(alias="production").version_id == candidate.pk
    assert AuditEvent.objects.filter(action="alias.set", data__version=str(candidate.pk)).exists()


def test_an_admin_may_force_a_failing_promotion_and_a_member_may_not(world, model, gated, candidate):
    response = _promote(world.client("member"), model, candidate, force=True)
    assert response.status_code == 403 and "admin" in response.json()["detail"]
    response = _promote(world.client("maintainer"), model, candidate, force=True)
    assert response.status_code == 403
    response = _promote(world.client("admin"), model, candidate, force=True, reason="hotfix for a bad release")
    assert response.status_code == 200, response.json()
    assert model.aliases.get(alias="production").version_id == candidate.pk
    event = AuditEvent.objects.get(action="alias.force")
    assert event.actor == world.users["admin"] and event.data["reason"] == "hotfix for a bad release"
    assert {c["check"] for c in event.data["failed_checks"]} == {"model_card", "evaluation"}


def test_an_alias_the_gate_does_not_protect_moves_freely(world, model, gated, candidate):
    response = world.client("member").post(
        f"/api/v1/models/{model.pk}/aliases/", {"alias": "staging", "version": str(candidate.pk)}, format="json"
    )
    assert response.status_code == 200, response.json()


# --- the dry run: POST /models/{id}/gate/check/ -----------------------------------------------------------


def _check(client, model, version, alias="production"):
    return client.post(f"/api/v1/models/{model.pk}/gate/check/", {"alias": alias, "version": version}, format="json")


def _writes(queries) -> list[str]:
    """Statements that changed rows, but a token's last-use stamp (any authenticated request may move it) and
    the leakage check's row-hash cache (computed by whichever check needs it first)."""
    sqls = [q["sql"].lstrip() for q in queries]
    return [
        s
        for s in sqls
        if s.upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "last_used_at" not in s
        and "models_app_rowhashes" not in s
    ]


def test_the_dry_run_runs_the_moves_checks_and_writes_nothing(world, model, iris_version, gated, trained, candidate):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    member = world.client("member")
    member.get("/api/v1/me/")  # the token's first use stamps it
    with CaptureQueriesContext(connection) as queries:
        response = _check(member, model, str(candidate.pk))
    assert response.status_code == 200, response.json()
    assert _writes(queries.captured_queries) == []
    body = response.json()
    assert body["alias"] == "production" and body["gated"] is True and body["passed"] is False
    assert body["version"] == {"id": str(candidate.pk), "version": 2}
    assert body["current"] == {"id": str(trained.pk), "version": 1}
    assert body["pinned_dataset_version"] == str(iris_version.pk)
    checks = {c["name"]: c for c in body["checks"]}
    # no gain to compute without the candidate's value
    assert list(checks) == ["model_card", "evaluation", "leakage", "baseline"]
    assert checks["leakage"] | {"passed": True, "overlap": 149, "max_overlap": 150} == checks["leakage"]
    assert checks["model_card"]["missing"] == ["Intended use", "Limitations"] and not checks["model_card"]["passed"]
    assert checks["evaluation"] | {"passed": False, "candidate": None, "metric": "accuracy"} == checks["evaluation"]
    assert checks["baseline"]["passed"] and checks["baseline"]["incumbent"] == 0.9

    # the real move refuses with the same failed checks, in the same shape
    refused = _promote(member, model, candidate)
    assert refused.status_code == 409
    assert refused.json()["checks"] == [c for c in body["checks"] if not c["passed"]]


def test_the_dry_run_measures_the_gain_and_passes_when_the_move_would(world, model, iris_version, gated, candidate):
    member = world.client("member")
    member.patch(f"/api/v1/models/{model.pk}/", {"card": CARD}, format="json")
    _evaluate(candidate, iris_version, 0.905)
    body = _check(member, model, 2).json()  # by number
    gain = body["checks"][-1]
    assert body["passed"] is False and gain["name"] == "min_gain" and gain["passed"] is False
    assert gain["candidate"] == 0.905 and gain["incumbent"] == 0.9 and gain["threshold"] == 0.01
    assert gain["direction"] == "maximize" and abs(gain["gain"] - 0.005) < 1e-9

    _evaluate(candidate, iris_version, 0.95)
    body = _check(member, model, "2").json()
    assert body["passed"] is True and all(c["passed"] for c in body["checks"])
    assert _promote(member, model, candidate).status_code == 200  # and the move agrees


def test_an_alias_the_gate_does_not_protect_passes_the_dry_run_with_no_checks(world, model, gated, candidate):
    body = _check(world.client("member"), model, str(candidate.pk), alias="staging").json()
    assert body | {"gated": False, "passed": True, "checks": [], "current": None} == body
    assert body["pinned_dataset_version"] is None


def test_the_dry_run_of_a_model_without_gate_is_ungated(world, model, trained):
    body = _check(world.client("member"), model, 1).json()
    assert body["gated"] is False and body["passed"] is True and body["current"]["version"] == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"alias": "production", "version": 7}, "version"),  # no such number
        ({"alias": "production", "version": "00000000-0000-0000-0000-000000000000"}, "version"),
        ({"alias": "production", "version": "seven"}, "version"),
        ({"alias": "production", "version": 0}, "version"),
        ({"alias": "production", "version": True}, "version"),
        ({"alias": "production"}, "version"),
        ({"alias": "Prod!", "version": 1}, "alias"),
        ({"version": 1}, "alias"),
    ],
)
def test_bad_dry_runs_are_400_naming_the_field(world, model, model_version, body, field):
    response = world.client("member").post(f"/api/v1/models/{model.pk}/gate/check/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()


def test_another_models_version_is_not_a_candidate(world, model, gated, iris_version):
    from models_app.services import create_model

    other = create_model(actor=world.users["member"], team=world.alpha, name="other", task="classification")
    foreign = register_trained(actor=world.users["member"], model=other, dataset_version=iris_version, epochs=1)
    response = _check(world.client("member"), model, str(foreign.pk))
    assert response.status_code == 400 and "version" in response.json()["errors"]


def test_the_dry_run_takes_a_member_and_hides_the_model_from_outsiders(world, model, gated, trained):
    assert _check(world.client("viewer"), model, 1).status_code == 403
    assert _check(world.client("outsider"), model, 1).status_code == 404
    assert _check(world.client("maintainer"), model, 1).status_code == 200


def test_a_forced_move_needs_a_reason(world, model, gated, candidate):
    for extra in ({"force": True}, {"force": True, "reason": ""}, {"force": True, "reason": "   "}):
        response = _promote(world.client("admin"), model, candidate, **extra)
        assert response.status_code == 400 and "reason" in response.json()["errors"], response.json()
    assert model.aliases.get(alias="production").version_id != candidate.pk
    assert not AuditEvent.objects.filter(action="alias.force").exists()


def test_card_sections_read_markdown_headings():
    sections = card_sections(CARD + "### Empty\n\n#### Trailing ##\ntext\n")
    assert sections["intended use"] == "Sorting iris flowers." and sections["limitations"] == "Three species only."
    assert sections["empty"] == "" and sections["trailing"] == "text"


# --- feedback ------------------------------------------------------------------------------------------


@pytest.fixture
def prediction(world, model, trained):
    response = world.client("viewer").post(
        f"/api/v1/models/{model.pk}/predict/", {"alias": "production", "inputs": [SETOSA]}, format="json"
    )
    return PredictionLog.objects.get(pk=response.json()["predictions"][0]["id"])


def test_feedback_records_the_true_label_and_replaces_an_earlier_one(world, prediction):
    member = world.client("member")
    response = member.post(f"/api/v1/predictions/{prediction.pk}/feedback/", {"label": "versicolor"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["feedback"] == "versicolor" and response.json()["feedback_by"] == "alpha-member"
    member.post(f"/api/v1/predictions/{prediction.pk}/feedback/", {"label": "setosa"}, format="json")
    prediction.refresh_from_db()
    assert prediction.feedback == "setosa" and prediction.feedback_at is not None
    listed = member.get("/api/v1/predictions/?has_feedback=true").json()
    assert [p["id"] for p in listed["results"]] == [str(prediction.pk)]
    assert member.get("/api/v1/predictions/?has_feedback=false").json()["count"] == 0


@pytest.mark.parametrize(
    "label, words", [("daisy", "not one of the model's classes"), (None, "null"), ([1], "one of the model's classes")]
)
def test_a_label_the_model_cannot_have_is_400(world, prediction, label, words):
    response = world.client("member").post(
        f"/api/v1/predictions/{prediction.pk}/feedback/", {"label": label}, format="json"
    )
    assert response.status_code == 400 and "label" in response.json()["errors"], response.json()
    assert words in response.json()["detail"]
    prediction.refresh_from_db()
    assert prediction.feedback is None


def test_feedback_on_another_teams_prediction_is_404_and_viewers_cannot_give_it(world, prediction):
    outsider = world.client("outsider")
    response = outsider.post(f"/api/v1/predictions/{prediction.pk}/feedback/", {"label": "setosa"}, format="json")
    assert response.status_code == 404
    assert outsider.get(f"/api/v1/predictions/{prediction.pk}/").status_code == 404
    assert outsider.get("/api/v1/predictions/").json()["count"] == 0
    viewer = world.client("viewer")
    response = viewer.post(f"/api/v1/predictions/{prediction.pk}/feedback/", {"label": "setosa"}, format="json")
    assert response.status_code == 403
    prediction.refresh_from_db()
    assert prediction.feedback is None


def test_removing_a_protected_alias_takes_an_admin(world, model, gated):
    member = world.client("member")
    response = member.delete(f"/api/v1/models/{model.pk}/aliases/production/")
    assert response.status_code == 403 and "admin" in response.json()["detail"]
    assert model.aliases.filter(alias="production").exists()
    assert world.client("admin").delete(f"/api/v1/models/{model.pk}/aliases/production/").status_code == 204
    assert AuditEvent.objects.filter(action="alias.delete", actor=world.users["admin"]).exists()


def test_feedback_rows_are_screened_against_the_base_schema():
    """Each value in its column's type; the jsonb round trip turns large floats into integers (1e20 -> 10**20)."""
    import pyarrow as pa

    from models_app.feedback import Labelled, screen_rows, snapshot_table

    base = pa.table(
        {
            "x": pa.array([1.5], pa.float64()),
            "n": pa.array([2], pa.int64()),
            "on": pa.array([True]),
            "y": pa.array([0], pa.int64()),
        }
    )
    rows = [
        Labelled({"x": 10**20, "n": 3, "on": 1.0}, "4", "a"),  # fits: 1e20 is a float32, "4" a class of an int target
        Labelled({"x": float("nan"), "n": 3, "on": True}, "1", "b"),
        Labelled({"x": 10**400, "n": 3, "on": True}, "1", "c"),
        Labelled({"x": 1.0, "n": 3, "on": 2}, "1", "d"),
        Labelled({"x": 1.0, "n": 3, "on": True}, "cat", "e"),
        Labelled({"x": 1.0, "n": 3, "on": True}, "2.5", "f"),
        Labelled({"x": 1.0, "n": 3, "on": True, "y": 9}, 1, "g"),  # the target column in the input: the label wins
        ([1.0, 3, True], "1"),  # a bare pair, as older callers pass
    ]
    screened = screen_rows(base.schema, "y", rows)
    assert screened.rows == [{"x": 1e20, "n": 3, "on": True, "y": 4}, {"x": 1.0, "n": 3, "on": True, "y": 1}]
    assert screened.skipped == [
        "prediction b: 'x' is nan, not a finite number",
        "prediction c: 'x' is an integer too large for a float, outside the float32 range (±3.4e38)",
        "prediction d: 'on' is 2, not true / false",
        "prediction e: the label is 'cat', not a number (the target 'y' is int64)",
        "prediction f: the label is 2.5, not a whole number within int64 (the target 'y' is int64)",
        "labelled prediction 8: its input is list, not an object of columns",
    ]

    merged, skipped = snapshot_table(base, "y", [Labelled({"x": 1.0, "n": 2.5, "on": False}, "7")])
    assert skipped == [] and merged.column("n").type == pa.float64()  # fractions widen an integer feature
    assert merged.column("n").to_pylist() == [2.0, 2.5] and merged.column("y").to_pylist() == [0, 7]
