"""Helpers for tests that drive jobs through the API and a real worker."""

from __future__ import annotations

import time

from jobs_app.models import Job

FINISHED = {"succeeded", "failed", "cancelled"}


def builtin_version(client, *, name: str, builtin: str, task: str = "classification") -> str:
    """A dataset holding one of the bundled data sets, created through the API; returns the version id."""
    response = client.post("/api/v1/datasets/", {"team": "alpha", "name": name, "task": task}, format="json")
    assert response.status_code == 201, response.json()
    dataset_id = response.json()["id"]
    response = client.post(f"/api/v1/datasets/{dataset_id}/versions/", {"builtin": builtin}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def submit(client, kind: str, spec: dict, **extra) -> dict:
    response = client.post("/api/v1/jobs/", {"team": "alpha", "kind": kind, "spec": spec, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def wait_for(job_id, predicate, *, timeout: float = 90, what: str = "the job") -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = Job.objects.get(pk=job_id)
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            lines = "\n".join(job.log_lines.order_by("id").values_list("line", flat=True))
            raise AssertionError(f"timed out waiting for {what}: status={job.status} error={job.error}\n{lines}")
        time.sleep(0.1)


def wait_finished(job_id, timeout: float = 90) -> Job:
    return wait_for(job_id, lambda j: j.status in FINISHED, timeout=timeout, what="the job to finish")
