"""The serving request log (one ServingRequest per predict request, whatever its outcome, never for an outsider)
and the serving statistics built on it (GET /models/{id}/serving/)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from models_app import serving
from models_app.models import PredictionLog, ServingRequest
from tests.helpers import client_for

SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [7.7, 3.0, 6.1, 2.3]


def _predict(client, model, body):
    return client.post(f"/api/v1/models/{model.pk}/predict/", body, format="json")


def test_every_request_is_logged_served_or_refused(world, model, trained):
    viewer = world.client("viewer")
    cases = [
        ({"alias": "production", "inputs": [SETOSA, VIRGINICA]}, 200),
        ({"alias": "canary", "inputs": [SETOSA]}, 404),  # no such alias
        ({"version": 9, "inputs": [SETOSA]}, 404),  # no such version
        ({"alias": "production", "inputs": "all of them"}, 400),
        ({"alias": "production", "inputs": [[1, 2]]}, 400),  # the wrong number of features
        ({"alias": "production", "inputs": [SETOSA], "extra": 1}, 400),
        ({"alias": "Prod!", "inputs": [SETOSA]}, 400),
    ]
    for body, expected in cases:
        assert _predict(viewer, model, body).status_code == expected, body
    assert viewer.post(f"/api/v1/models/{model.pk}/predict/", "[1]", content_type="application/json").status_code == 400

    logged = list(ServingRequest.objects.order_by("id"))
    assert [r.status_code for r in logged] == [expected for _, expected in cases] + [400]
    assert all(r.model_id == model.pk and r.latency_ms > 0 for r in logged)
    served, no_alias, no_version, not_a_list, short_row = logged[:5]
    assert served.model_version_id == trained.pk and served.rows == 2 and served.alias == "production"
    assert served.error == ""
    assert no_alias.model_version_id is None and no_alias.alias == "canary" and "no alias 'canary'" in no_alias.error
    assert no_version.model_version_id is None and "no version 9" in no_version.error
    assert not_a_list.rows == 0 and "inputs" in not_a_list.error
    assert short_row.model_version_id == trained.pk and short_row.rows == 1 and short_row.error


def test_an_outsiders_and_an_anonymous_requests_are_never_logged(world, model, trained, anon):
    outsider = world.client("outsider")
    assert _predict(outsider, model, {"alias": "production", "inputs": [SETOSA]}).status_code == 404
    assert _predict(outsider, model, {"alias": "production", "inputs": "x"}).status_code == 400  # bad input
    assert _predict(outsider, model, {"alias": "production", "inputs": [SETOSA], "x": 1}).status_code == 400
    assert _predict(anon, model, {"alias": "production", "inputs": [SETOSA]}).status_code == 401
    missing = "00000000-0000-0000-0000-000000000000"
    response = world.client("admin").post(f"/api/v1/models/{missing}/predict/", {"alias": "production"}, format="json")
    assert response.status_code == 400  # no inputs: refused before any lookup, and of no model to log it against
    assert ServingRequest.objects.count() == 0


def test_a_failure_is_logged_as_a_5xx(world, model, trained, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the runtime crashed")

    monkeypatch.setattr(serving.inference, "decode", broken)
    client = client_for(world.users["member"])
    client.raise_request_exception = False
    response = _predict(client, model, {"alias": "production", "inputs": [SETOSA]})
    assert response.status_code == 500
    (row,) = ServingRequest.objects.all()
    assert row.status_code == 500 and row.model_version_id == trained.pk and row.error == "RuntimeError"
    assert PredictionLog.objects.count() == 0


def test_logging_a_served_request_costs_one_insert(world, model, trained, monkeypatch):
    def no_lookup(**kwargs):
        raise AssertionError("a served request knows its model: no visibility lookup")

    monkeypatch.setattr(serving.selectors, "visible_model_id", no_lookup)
    viewer = world.client("viewer")
    _predict(viewer, model, {"alias": "production", "inputs": [SETOSA]})  # loads the version, stamps the token
    with CaptureQueriesContext(connection) as queries:
        assert _predict(viewer, model, {"alias": "production", "inputs": [SETOSA]}).status_code == 200
    table = ServingRequest._meta.db_table
    touching = [q["sql"] for q in queries.captured_queries if table in q["sql"]]
    assert len(touching) == 1 and touching[0].lstrip().upper().startswith(("INSERT", "COPY")), touching


# --- statistics ------------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _request(model, version, seconds: float, status: int, latency: float):
    return ServingRequest(
        model=model,
        model_version=version,
        status_code=status,
        latency_ms=latency,
        rows=1,
        created_at=T0 + timedelta(seconds=seconds),
    )


def _prediction(world, model, version, seconds: float, label: str, feedback: str | None):
    return PredictionLog(
        team=world.alpha,
        model=model,
        model_version=version,
        runtime="torch",
        input={},
        output={"label": label, "scores": {}},
        latency_ms=1,
        created_at=T0 + timedelta(seconds=seconds),
        feedback=feedback,
    )


@pytest.fixture
def history(world, model, model_version):
    """Minute 0: five served requests (latencies 10..50 ms), a refusal and a failure; minute 2: two served.
    Feedback on three predictions of minute 0 (two right) and one of minute 2 (wrong); one unlabelled."""
    latencies = [10.0, 20.0, 30.0, 40.0, 50.0]
    rows = [_request(model, model_version, 5 + i, 200, ms) for i, ms in enumerate(latencies)]
    rows += [_request(model, None, 6, 404, 1.0), _request(model, model_version, 7, 500, 900.0)]
    rows += [_request(model, model_version, 130, 200, 5.0), _request(model, model_version, 140, 200, 7.0)]
    rows += [_request(model, model_version, -1, 200, 1.0), _request(model, model_version, 300, 200, 1.0)]  # outside
    ServingRequest.objects.bulk_create(rows)
    PredictionLog.objects.bulk_create(
        [
            _prediction(world, model, model_version, 5, "setosa", "setosa"),
            _prediction(world, model, model_version, 6, "setosa", "setosa"),
            _prediction(world, model, model_version, 7, "setosa", "virginica"),
            _prediction(world, model, model_version, 8, "setosa", None),
            _prediction(world, model, model_version, 131, "virginica", "setosa"),
        ]
    )
    return latencies


def _stats(client, model, **params):
    return client.get(f"/api/v1/models/{model.pk}/serving/", params)


def test_statistics_per_bucket(world, model, model_version, history, django_assert_max_num_queries):
    viewer = world.client("viewer")  # any team role reads them
    viewer.get("/api/v1/me/")
    params = {"since": T0.isoformat(), "until": (T0 + timedelta(minutes=3)).isoformat(), "bucket": 60}
    with django_assert_max_num_queries(12):
        response = _stats(viewer, model, **params)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["bucket_s"] == 60 and len(body["buckets"]) == 3
    assert body["versions"] == [{"id": str(model_version.pk), "version": 1}]
    first, empty, third = body["buckets"]
    assert datetime.fromisoformat(first["start"]) == T0
    assert datetime.fromisoformat(empty["start"]) == T0 + timedelta(minutes=1)
    assert first | {"requests": 7, "ok": 5, "refused": 1, "failed": 1, "feedback": 3, "correct": 2} == first
    assert first["latency_p50_ms"] == pytest.approx(np.percentile(history, 50))
    assert first["latency_p95_ms"] == pytest.approx(np.percentile(history, 95))  # over the served requests only
    assert first["accuracy"] == pytest.approx(2 / 3)
    assert empty | {"requests": 0, "feedback": 0, "latency_p50_ms": None, "accuracy": None} == empty
    assert third | {"requests": 2, "ok": 2, "feedback": 1, "correct": 0, "accuracy": 0.0} == third
    assert third["latency_p50_ms"] == pytest.approx(6.0)


def test_statistics_of_one_version(world, model, model_version, history):
    from models_app.models import ModelVersion

    other = ModelVersion.objects.create(model=model, version=2, blob=model_version.blob, spec=model_version.spec)
    ServingRequest.objects.create(model=model, model_version=other, status_code=200, latency_ms=3, created_at=T0)
    params = {"since": T0.isoformat(), "until": (T0 + timedelta(minutes=1)).isoformat()}
    body = _stats(world.client("viewer"), model, **params).json()
    assert [v["version"] for v in body["versions"]] == [1, 2] and body["buckets"][0]["requests"] == 8
    body = _stats(world.client("viewer"), model, version=2, **params).json()
    assert body["versions"] == [{"id": str(other.pk), "version": 2}]
    assert body["buckets"][0] | {"requests": 1, "ok": 1, "feedback": 0} == body["buckets"][0]
    assert (
        _stats(world.client("viewer"), model, version=str(model_version.pk), **params).json()["buckets"][0]["requests"]
        == 6  # the refusal named no version
    )


def test_statistics_default_to_the_last_day_in_at_most_200_buckets(world, model, model_version):
    ServingRequest.objects.create(model=model, model_version=model_version, status_code=200, latency_ms=3)
    body = _stats(world.client("viewer"), model).json()
    since, until = datetime.fromisoformat(body["since"]), datetime.fromisoformat(body["until"])
    assert until - since == timedelta(hours=24) and body["bucket_s"] == 480 and len(body["buckets"]) == 180
    assert sum(b["requests"] for b in body["buckets"]) == 1
    week = {"since": (T0 - timedelta(days=7)).isoformat(), "until": T0.isoformat()}
    body = _stats(world.client("viewer"), model, **week).json()
    assert body["bucket_s"] % 60 == 0 and len(body["buckets"]) <= 200


@pytest.mark.parametrize(
    "params, field",
    [
        ({"bucket": 59}, "bucket"),
        ({"bucket": "wide"}, "bucket"),
        ({"bucket": 60, "since": "2026-03-01T00:00:00Z", "until": "2026-03-03T00:00:00Z"}, "bucket"),  # 2880
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "since"),
        ({"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),  # over 400 days
        ({"version": 9}, "version"),
        ({"version": "latest"}, "version"),
        ({"version": "00000000-0000-0000-0000-000000000000"}, "version"),
    ],
)
def test_bad_statistics_queries_are_400_naming_the_field(world, model, model_version, params, field):
    response = _stats(world.client("viewer"), model, **params)
    assert response.status_code == 400 and field in response.json()["errors"], response.json()


def test_statistics_of_another_teams_model_are_404(world, model, model_version, history):
    response = _stats(world.client("outsider"), model)
    assert response.status_code == 404 and str(model.pk) not in response.content.decode()
