"""The metrics store through the API: idempotent batch ingest, clear 400s, downsampling that keeps spikes."""

import pytest

from jobs_app import metrics
from jobs_app.models import Job, MetricChunk


@pytest.fixture
def job(world):
    """A tracking run of the member's: its points come from the member (tests/jobs/test_metric_owners.py
    covers who else may write)."""
    return Job.objects.create(
        team=world.alpha, kind="tracking", status="running", spec={}, created_by=world.users["member"]
    )


def _post(client, job, points):
    return client.post(f"/api/v1/jobs/{job.pk}/metrics/", {"points": points}, format="json")


def test_ingest_is_idempotent_and_the_last_value_wins(world, job):
    client = world.client("member")
    points = [{"key": "loss", "step": s, "value": 1.0 / (s + 1)} for s in range(100)]
    points += [{"key": "accuracy", "step": s, "value": s / 100} for s in range(0, 100, 10)]
    first = _post(client, job, points)
    assert first.status_code == 200 and first.json()["written"] == 110
    again = _post(client, job, points)
    assert again.status_code == 200
    assert len(metrics.stored_points(job.pk)) == 110
    changed = _post(client, job, [{"key": "loss", "step": 5, "value": 9.0}, {"key": "loss", "step": 5, "value": 7.0}])
    assert changed.json()["written"] == 1  # duplicates inside a batch: the last one counts
    assert [p[2] for p in metrics.stored_points(job.pk, "loss") if p[1] == 5] == [7.0]

    keys = client.get(f"/api/v1/jobs/{job.pk}/metrics/").json()["keys"]
    assert keys == [
        {"key": "accuracy", "count": 10, "first_step": 0, "last_step": 90, "last_value": 0.9},
        {"key": "loss", "count": 100, "first_step": 0, "last_step": 99, "last_value": 0.01},
    ]
    series = client.get(f"/api/v1/jobs/{job.pk}/metrics/?key=loss").json()
    assert series["count"] == 100 and series["downsampled"] is False
    assert series["points"][5] == [5, 7.0] and series["points"][99] == [99, 0.01]


@pytest.mark.parametrize(
    "points, field",
    [
        ("loss", "points"),
        ([{"key": "loss", "step": 1}], "points[0].value"),
        ([{"key": "", "step": 1, "value": 1}], "points[0].key"),
        ([{"key": "x" * 101, "step": 1, "value": 1}], "points[0].key"),
        ([{"key": "loss", "step": -1, "value": 1}], "points[0].step"),
        ([{"key": "loss", "step": 1.5, "value": 1}], "points[0].step"),
        ([{"key": "loss", "step": True, "value": 1}], "points[0].step"),
        ([{"key": "loss", "step": 1, "value": "1"}], "points[0].value"),
        ([{"key": "loss", "step": 1, "value": 10**400}], "points[0].value"),
        ([{"key": "ok", "step": 1, "value": 1}, {"key": "loss", "step": 1, "value": 1, "unit": "s"}], "points[1].unit"),
        ([7], "points[0]"),
    ],
)
def test_malformed_points_are_400_naming_the_point_and_nothing_is_written(world, job, points, field):
    response = _post(world.client("member"), job, points)
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert not MetricChunk.objects.filter(job=job).exists()


def test_nan_in_the_body_is_400(world, job):
    client = world.client("member")
    body = '{"points": [{"key": "loss", "step": 1, "value": NaN}]}'
    response = client.post(f"/api/v1/jobs/{job.pk}/metrics/", body, content_type="application/json")
    assert response.status_code == 400
    assert not MetricChunk.objects.exists()


def test_missing_points_and_roles(world, job):
    assert world.client("member").post(f"/api/v1/jobs/{job.pk}/metrics/", {}, format="json").status_code == 400
    assert _post(world.client("viewer"), job, [{"key": "a", "step": 1, "value": 1}]).status_code == 403
    assert world.client("viewer").get(f"/api/v1/jobs/{job.pk}/metrics/").status_code == 200


def test_downsampling_keeps_spikes_and_the_step_order(world, job):
    values = [float(s % 10) for s in range(10_000)]
    values[4321] = 1000.0  # a spike
    values[8765] = -1000.0  # and a dip
    metrics.ingest(job.pk, [("loss", s, v) for s, v in enumerate(values)])
    client = world.client("viewer")
    body = client.get(f"/api/v1/jobs/{job.pk}/metrics/?key=loss&max_points=200").json()
    assert body["count"] == 10_000 and body["downsampled"] is True
    points = body["points"]
    assert len(points) <= 200
    steps = [p[0] for p in points]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    assert [4321, 1000.0] in points and [8765, -1000.0] in points
    assert max(p[1] for p in points) == 1000.0 and min(p[1] for p in points) == -1000.0
    raw = client.get(f"/api/v1/jobs/{job.pk}/metrics/?key=loss&max_points=0").json()
    assert len(raw["points"]) == 10_000 and raw["downsampled"] is False
    for bad in ("1", "-5", "lots", "100001"):
        response = client.get(f"/api/v1/jobs/{job.pk}/metrics/?key=loss&max_points={bad}")
        assert response.status_code == 400 and "max_points" in response.json()["errors"]
    empty = client.get(f"/api/v1/jobs/{job.pk}/metrics/?key=nothing").json()
    assert empty["count"] == 0 and empty["points"] == []


def test_the_binary_read_matches_the_orm(job):
    """The PostgreSQL read decodes COPY's binary rows itself; it must agree with a plain ORM read."""
    import random

    rng = random.Random(4)
    points = [("m", s * 3, rng.uniform(-1e300, 1e300)) for s in range(3000)] + [("m", 2**62, -0.0)]
    metrics.ingest(job.pk, points)
    steps, values = metrics.fetch(job.pk, "m")
    expected = [(s, v) for _, s, v, _ in metrics.stored_points(job.pk, "m")]
    assert list(zip(steps.tolist(), values.tolist(), strict=True)) == expected
    assert metrics.fetch(job.pk, "nothing")[0].tolist() == []


def test_downsampling_keeps_each_buckets_extremes():
    import numpy as np

    steps = np.arange(0, 1000, dtype=np.int64)
    values = np.sin(steps / 10.0)
    values[500] = 5.0
    kept_steps, kept_values = metrics.downsample(steps, values, 10)
    assert len(kept_steps) <= 20 and list(kept_steps) == sorted(kept_steps)
    assert 500 in kept_steps.tolist()
    for bucket in range(10):
        part = values[bucket * 100 : (bucket + 1) * 100]
        inside = kept_values[(kept_steps >= bucket * 100) & (kept_steps < (bucket + 1) * 100)]
        assert sorted(inside.tolist()) == sorted({part.min(), part.max()})


def test_a_body_over_the_limit_is_413_json(world, job, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.ECO_MAX_JSON_BYTES = 1000
    points = [{"key": "loss", "step": s, "value": 0.5} for s in range(100)]
    response = _post(world.client("member"), job, points)
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert not MetricChunk.objects.exists()


def test_chunk_extremes_follow_replaced_values(world, job):
    """A downsampled read of a long series comes from the chunks' extremes; replacing a point must not leave
    its old extreme behind, and the answer must match downsampling every point."""
    import numpy as np

    metrics.ingest(job.pk, [("loss", s, float(s % 50)) for s in range(20_000)])
    metrics.ingest(job.pk, [("loss", 7_777, 999.0)])
    client = world.client("viewer")
    url = f"/api/v1/jobs/{job.pk}/metrics/?key=loss&max_points=100"
    assert [7_777, 999.0] in client.get(url).json()["points"]
    metrics.ingest(job.pk, [("loss", 7_777, 1.0)])  # the spike was a mistake
    body = client.get(url).json()
    assert body["count"] == 20_000 and max(v for _, v in body["points"]) == 49.0
    steps, values = metrics.fetch(job.pk, "loss")
    exact_steps, exact_values = metrics.downsample(steps, values, 50)
    got = np.array(body["points"])
    # the same extremes per bucket (a chunk may name another step holding the same value)
    assert sorted(got[:, 1].tolist()) == sorted(exact_values.tolist())


def test_steps_at_the_end_of_the_range_are_stored(world, job):
    top = 2**63 - 1
    points = [{"key": "loss", "step": s, "value": 1.0} for s in (top - 70, top - 1, top)]
    assert _post(world.client("member"), job, points).status_code == 200
    assert metrics.fetch(job.pk, "loss")[0].tolist() == [top - 70, top - 1, top]


def test_nul_in_a_query_parameter_is_400(world, job):
    client = world.client("viewer")
    for url in (
        f"/api/v1/jobs/{job.pk}/metrics/?key=a%00b",
        "/api/v1/jobs/?team=%00",
        "/api/v1/evaluations/?split=%00",
    ):
        response = client.get(url)
        assert response.status_code == 400 and "NUL" in response.json()["detail"], url
