"""The heartbeat thread of a running job, against the real database (it uses its own connection)."""

import time

import pytest
from django.utils import timezone

from jobs_app import metrics, services
from jobs_app.models import Job, JobStatus
from jobs_app.runners.reporter import RegistryReporter

pytestmark = pytest.mark.django_db(transaction=True)


def _running(world, settings):
    settings.ECO_HEARTBEAT_INTERVAL_S = 0.05
    job = Job.objects.create(team=world.alpha, kind="train", spec={}, task_id="t1")
    return services.begin_attempt(job_id=job.pk, task_id="t1", worker="w")


def test_a_cancel_is_seen_even_while_metric_writes_fail(world, settings, monkeypatch):
    job = _running(world, settings)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(metrics, "ingest", broken)
    reporter = RegistryReporter(job, "t1").start()
    try:
        reporter.log_metrics(1, {"loss": 0.5})
        Job.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now())
        deadline = time.monotonic() + 5
        while not reporter.should_stop() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reporter.should_stop() and reporter.stop_reason == "cancel"
    finally:
        reporter.close()


def test_buffered_lines_and_points_reach_the_registry(world, settings):
    job = _running(world, settings)
    reporter = RegistryReporter(job, "t1").start()
    reporter.log("hello")
    reporter.log_metrics(3, {"loss": 0.25, "nan": float("nan")})
    reporter.set_progress(0.4)
    time.sleep(0.3)
    job.refresh_from_db()
    assert job.progress == 0.4 and job.status == JobStatus.RUNNING
    reporter.close()
    assert "hello" in job.log_lines.values_list("line", flat=True)
    assert [p[:3] for p in metrics.stored_points(job.pk)] == [("loss", 3, 0.25)]  # NaN is dropped


def test_a_worker_job_samples_system_metrics_by_the_second_of_the_job(world, settings):
    settings.ECO_SYSTEM_METRICS_INTERVAL_S = 0.1
    job = _running(world, settings)
    reporter = RegistryReporter(job, "t1").start()
    time.sleep(1.3)
    reporter.close()
    keys = {k["key"]: k for k in metrics.keys(job.pk)}
    for key in ("system/cpu_utilization_percentage", "system/memory_usage_megabytes", "system/process_rss_megabytes"):
        assert key in keys, sorted(keys)
    assert keys["system/memory_usage_megabytes"]["last_value"] > 0
    assert {0, 1} <= {p[0] for p in metrics.series(job.pk, "system/memory_usage_megabytes")["points"]}


def test_system_metrics_are_off_at_zero(world, settings):
    settings.ECO_SYSTEM_METRICS_INTERVAL_S = 0
    job = _running(world, settings)
    reporter = RegistryReporter(job, "t1").start()
    time.sleep(0.3)
    reporter.close()
    assert not [k for k in metrics.keys(job.pk) if k["key"].startswith("system/")]
