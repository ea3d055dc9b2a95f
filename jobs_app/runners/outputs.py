"""Registering a runner's dataset output: write the table next to the job, hash it, and record it as the
next version of the base's data set in the same transaction that marks the job succeeded."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
from django.conf import settings
from django.core.files import File

from datasets_app import blobs
from datasets_app import services as dataset_services
from datasets_app.models import DatasetVersion
from jobs_app import services
from jobs_app.models import Job, OutputKind
from jobs_app.runners.reporter import RegistryReporter
from ml import formats


def complete_with_dataset_version(
    job: Job,
    reporter: RegistryReporter,
    *,
    base: DatasetVersion,
    table: pa.Table,
    source: str,
    suffix: str,
    detail: dict,
    outputs: dict | None = None,
) -> None:
    """Write `table` as the base's next version and mark the job succeeded with it; the job's outputs are the
    new version's id, number and row count, plus `outputs` (a snapshot's skipped rows, say)."""
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        out = Path(tmp) / f"{suffix}.{base.format}"
        written = formats.write_table(table, out, base.format)
        sha256, size = blobs.hash_path(out)
        reporter.close()

        def register(locked: Job) -> dict:
            with open(out, "rb") as fh:
                child = dataset_services.register_version(
                    actor=locked.created_by,
                    dataset=base.dataset,
                    path=out,
                    content=File(fh, name=out.name),
                    sha256=sha256,
                    size=size,
                    fmt=base.format,
                    target=base.target,
                    source=source,
                    filename=f"{Path(base.filename or 'data').stem}-{suffix}.{base.format}",
                    source_detail={"job": str(locked.pk), **detail},
                    parents=[base],
                    description=job.spec.get("description", ""),
                    na_values=base.schema.get("na_values"),
                    delimiter=written.get("delimiter"),
                )
                services.record_output(job=locked, kind=OutputKind.DATASET_VERSION, object_id=child.pk)
            return {
                "dataset_version": str(child.pk),
                "version": child.version,
                "num_rows": child.num_rows,
                **(outputs or {}),
            }

        services.complete(job_id=job.pk, task_id=reporter.task_id, register=register)
