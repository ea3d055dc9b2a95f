"""Chart reads of one series: windows, incremental reads after a step, each point's time, and the counts."""

import datetime as dt

import numpy as np
import pytest

from jobs_app import metrics
from jobs_app.models import Job


@pytest.fixture
def job(world):
    return Job.objects.create(
        team=world.alpha, kind="tracking", status="running", spec={}, created_by=world.users["member"]
    )


def _get(client, job, **params):
    return client.get(f"/api/v1/jobs/{job.pk}/metrics/", {"key": "loss", **params})


def _exact(job, lo, hi):
    return [[s, v] for _, s, v, _ in metrics.stored_points(job.pk, "loss") if lo <= s <= hi]


def test_a_window_that_fits_comes_back_exact_with_times(world, job):
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    metrics.ingest(job.pk, [("loss", s, float(s % 7)) for s in range(0, 3000, 3)], at=at)
    client = world.client("viewer")
    body = _get(client, job, start_step=100, end_step=400, max_points=200).json()
    assert body["points"] == _exact(job, 100, 400)
    assert body["count"] == 100 and body["total"] == 1000 and body["downsampled"] is False
    assert body["times"] == [at.timestamp()] * 100
    # either end alone; a window with nothing in it
    assert _get(client, job, start_step=2990, max_points=0).json()["points"] == _exact(job, 2990, 10**9)
    assert _get(client, job, end_step=5).json()["points"] == [[0, 0.0], [3, 3.0]]
    empty = _get(client, job, start_step=10_000, end_step=20_000).json()
    assert empty["points"] == [] and empty["times"] == [] and empty["count"] == 0 and empty["total"] == 1000


@pytest.mark.parametrize(("lo", "hi"), [(0, 19_999), (1000, 1999), (1001, 1062), (70, 130), (5, 60), (12_345, 19_000)])
def test_a_long_window_keeps_each_buckets_extremes_and_nothing_outside(world, job, lo, hi):
    rng = np.random.default_rng(1)
    values = rng.normal(size=20_000)
    values[1500], values[1030], values[12_400] = 50.0, -50.0, 40.0  # spikes inside some windows
    values[lo - 1 if lo else 0] = 1e6  # a spike just outside the window must not show
    values[min(hi + 1, 19_999)] = -1e6
    metrics.ingest(job.pk, [("loss", s, float(v)) for s, v in enumerate(values)])
    body = _get(world.client("viewer"), job, start_step=lo, end_step=hi, max_points=20).json()
    steps = [p[0] for p in body["points"]]
    assert body["count"] == hi - lo + 1 and body["total"] == 20_000
    assert body["downsampled"] is True and len(steps) <= 20 and len(body["times"]) == len(steps)
    assert steps == sorted(set(steps)) and lo <= steps[0] and steps[-1] <= hi
    inside = values[lo : hi + 1]
    got = [v for _, v in body["points"]]
    assert max(got) == inside.max() and min(got) == inside.min()
    for step, value in body["points"]:
        assert values[step] == value  # every point is a real one


def test_after_step_reads_on_exactly(world, job):
    metrics.ingest(job.pk, [("loss", s, s / 10) for s in range(0, 500, 5)])
    client = world.client("viewer")
    first = _get(client, job, after_step=-1, max_points=30).json()
    assert first["points"] == _exact(job, 0, 145) and first["truncated"] is True
    assert first["count"] == 100 and first["total"] == 100 and first["downsampled"] is False
    last = first["points"][-1][0]
    more = _get(client, job, after_step=last, max_points=1000).json()
    assert more["points"] == _exact(job, last + 1, 10**9) and more["count"] == 70 and more["truncated"] is False
    assert len(more["times"]) == 70
    metrics.ingest(job.pk, [("loss", 500, 1.0), ("loss", 501, 2.0)])
    newer = _get(client, job, after_step=495).json()
    assert newer["points"] == [[500, 1.0], [501, 2.0]] and newer["total"] == 102
    assert _get(client, job, after_step=metrics.STEP_MAX).json()["points"] == []


def test_counts_and_windows_over_many_points_use_the_chunks(world, job, django_assert_max_num_queries):
    metrics.ingest(job.pk, [("loss", s, float(s % 1000)) for s in range(200_000)])
    client = world.client("viewer")
    client.get("/api/v1/me/")
    with django_assert_max_num_queries(12):
        body = _get(client, job, start_step=1234, end_step=150_000, max_points=400).json()
    assert body["count"] == 150_000 - 1234 + 1 and body["total"] == 200_000 and len(body["points"]) <= 400
    assert max(v for _, v in body["points"]) == 999.0
    whole = _get(client, job, max_points=400).json()
    assert whole["count"] == whole["total"] == 200_000 and len(whole["times"]) == len(whole["points"])
    tail = _get(client, job, after_step=199_990).json()
    assert tail["count"] == 9 and tail["total"] == 200_000


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_step": "5", "end_step": "4"}, "start_step"),
        ({"start_step": "x"}, "start_step"),
        ({"end_step": "1.5"}, "end_step"),
        ({"start_step": "-1"}, "start_step"),
        ({"after_step": "ten"}, "after_step"),
        ({"after_step": "-2"}, "after_step"),
        ({"after_step": "3", "start_step": "1"}, "after_step"),
        ({"after_step": "3", "end_step": "9"}, "after_step"),
        ({"end_step": str(2**63)}, "end_step"),
    ],
)
def test_bad_parameters_are_400_naming_them(world, job, params, field):
    response = _get(world.client("viewer"), job, **params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_another_teams_job_is_404(world, job):
    assert _get(world.client("outsider"), job, after_step=0).status_code == 404
