"""Idempotent metric batches: a `batch_id` is recorded with the points it brought, so a client that sends a
batch again (a retry after a lost answer) writes nothing the second time, whatever that body holds."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection, transaction

from accounts_app.services import issue_token
from jobs_app import attempts, metrics
from jobs_app.models import Job, MetricBatch, MetricChunk


@pytest.fixture
def job(world):
    return Job.objects.create(
        team=world.alpha, kind="tracking", status="running", spec={}, created_by=world.users["member"]
    )


def _post(client, job, body):
    return client.post(f"/api/v1/jobs/{job.pk}/metrics/", body, format="json")


def _points(n, value=1.0):
    return [{"key": "loss", "step": s, "value": value} for s in range(n)]


def test_a_batch_sent_again_writes_nothing_even_with_another_body(world, job):
    client = world.client("member")
    first = _post(client, job, {"points": _points(5), "batch_id": "7f3c9e1a2b4d4c6e8f00112233445566"})
    assert first.status_code == 200
    assert first.json() == {"job": str(job.pk), "received": 5, "written": 5, "duplicate": False}

    again = _post(client, job, {"points": _points(8, value=9.0), "batch_id": "7f3c9e1a2b4d4c6e8f00112233445566"})
    assert again.status_code == 200
    assert again.json() == {"job": str(job.pk), "received": 8, "written": 0, "duplicate": True}
    assert len(metrics.stored_points(job.pk)) == 5
    assert {p[2] for p in metrics.stored_points(job.pk)} == {1.0}

    plain = _post(client, job, {"points": _points(8, value=2.0)})  # no batch_id: as before, every time
    assert plain.json()["duplicate"] is False and plain.json()["written"] == 8
    assert _post(client, job, {"points": _points(8, value=2.0)}).json()["written"] == 8


def test_a_batch_id_counts_per_job_and_goes_with_its_job(world, job):
    other = Job.objects.create(
        team=world.alpha, kind="tracking", status="running", spec={}, created_by=world.users["member"]
    )
    client = world.client("member")
    assert _post(client, job, {"points": _points(2), "batch_id": "run-1:0001"}).json()["duplicate"] is False
    assert _post(client, other, {"points": _points(2), "batch_id": "run-1:0001"}).json()["duplicate"] is False
    assert MetricBatch.objects.filter(batch_id="run-1:0001").count() == 2
    job.delete()
    assert list(MetricBatch.objects.values_list("job_id", flat=True)) == [other.pk]


@pytest.mark.parametrize("batch_id", ["", "x" * 65, "has space", "slash/no", "é", 12, True, ["a"], {"a": 1}, "line\n"])
def test_a_bad_batch_id_is_400_naming_it_and_nothing_is_written(world, job, batch_id):
    response = _post(world.client("member"), job, {"points": _points(3), "batch_id": batch_id})
    assert response.status_code == 400
    assert "batch_id" in response.json()["errors"], response.json()
    assert not MetricChunk.objects.filter(job=job).exists()
    assert not MetricBatch.objects.exists()


def test_the_longest_batch_id_and_every_allowed_character_pass(world, job):
    client = world.client("member")
    for batch_id in ["a" * 64, "AZaz09._:-"]:
        assert _post(client, job, {"points": _points(1), "batch_id": batch_id}).json()["duplicate"] is False
    assert set(MetricBatch.objects.values_list("batch_id", flat=True)) == {"a" * 64, "AZaz09._:-"}


def test_a_refused_batch_is_not_recorded(world, job):
    """A batch answered 400 (a bad point) or 403 (not the run's writer) leaves no record behind: the same
    batch_id sent right afterwards by the run's creator writes its points."""
    member = world.client("member")
    bad = _post(member, job, {"points": [*_points(2), {"key": "loss", "step": -1, "value": 1}], "batch_id": "b1"})
    assert bad.status_code == 400 and "points[2].step" in bad.json()["errors"]
    refused = _post(world.client("admin"), job, {"points": _points(2), "batch_id": "b1"})
    assert refused.status_code == 403
    assert not MetricBatch.objects.exists() and not MetricChunk.objects.exists()
    ok = _post(member, job, {"points": _points(2), "batch_id": "b1"})
    assert ok.json() == {"job": str(job.pk), "received": 2, "written": 2, "duplicate": False}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
def test_a_second_writer_of_the_same_batch_waits_for_the_first_and_writes_nothing(world, job):
    """The first writer holds its transaction open after recording the batch; the second, started then, waits
    on the batch's unique key and, once the first commits, finds it recorded."""
    user = world.users["member"]
    recorded = threading.Event()

    def write(points, *, hold: bool):
        try:
            with transaction.atomic():
                done = attempts.receive_points(
                    user=user, job_id=job.pk, points=points, token=None, batch_id="same", minimum_role="member"
                )
                if hold:
                    recorded.set()
                    time.sleep(0.5)  # the second writer's insert of the same batch waits on this transaction
                return done
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(write, [("loss", s, 1.0) for s in range(10)], hold=True)
        assert recorded.wait(10)
        second = pool.submit(write, [("loss", s, 2.0) for s in range(20)], hold=False)
        assert (first.result(timeout=30), second.result(timeout=30)) == ((10, False), (0, True))
    assert [(s, v) for _, s, v, _ in metrics.stored_points(job.pk)] == [(s, 1.0) for s in range(10)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_batch_id_write_once(world, job, live_server):
    """Eight requests with the same batch_id at once over HTTP: exactly one writes, the others answer
    duplicate, and the points are there once."""
    _, raw = issue_token(user=world.users["member"])
    url = f"{live_server.url}/api/v1/jobs/{job.pk}/metrics/"
    body = {"points": _points(50), "batch_id": "burst-0001"}
    barrier = threading.Barrier(8)

    def send():
        with httpx.Client(headers={"Authorization": f"Bearer {raw}"}, timeout=60) as client:
            barrier.wait(10)
            return client.post(url, json=body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [f.result(timeout=60) for f in [pool.submit(send) for _ in range(8)]]
    assert [a.status_code for a in answers] == [200] * 8
    bodies = sorted((a.json()["duplicate"], a.json()["written"]) for a in answers)
    assert bodies == [(False, 50)] + [(True, 0)] * 7
    assert len(metrics.stored_points(job.pk)) == 50
    assert MetricBatch.objects.filter(job=job).count() == 1


def test_record_batch_says_whether_the_id_is_new(job):
    with transaction.atomic():
        assert metrics.record_batch(job.pk, "x-1") is True
        assert metrics.record_batch(job.pk, "x-1") is False
        assert metrics.record_batch(job.pk, "x-2") is True
