"""process: a dataset version through processing steps -> a new DatasetVersion whose parent is the input."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
from django.conf import settings
from django.core.files import File

from datasets_app import blobs, processing
from datasets_app import services as dataset_services
from datasets_app.models import DatasetVersion, Source
from jobs_app import services
from jobs_app.models import Job
from jobs_app.runners.reporter import RegistryReporter
from ml.data import DataError
from ml.train import Stopped


def run(job: Job, reporter: RegistryReporter) -> None:
    spec = job.spec
    version = DatasetVersion.objects.select_related("dataset", "blob").get(pk=spec["dataset_version"])
    try:
        with blobs.local_copy(version.blob) as path:
            table = processing.read_table(path, version.format, version.schema["columns"])
        table, report = processing.apply_steps(table, spec["steps"], should_stop=reporter.should_stop)
    except (pa.ArrowException, OverflowError) as exc:  # data the checks could not foresee
        raise DataError(f"the steps cannot run on this data: {exc}") from None
    if reporter.should_stop():
        raise Stopped("stopped between processing steps")
    for done in report:
        reporter.log(f"{done['op']}: {done['rows_before']} -> {done['rows_after']} rows")
    reporter.set_progress(0.8)
    if table.num_rows == 0:
        raise DataError("the steps left no rows; loosen the filters")
    with tempfile.TemporaryDirectory(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        out = Path(tmp) / f"processed.{version.format}"
        processing.write_table(table, out, version.format)
        sha256, size = blobs.hash_path(out)
        reporter.close()

        def register(locked: Job) -> dict:
            with open(out, "rb") as fh:
                child = dataset_services.register_version(
                    actor=locked.created_by,
                    dataset=version.dataset,
                    path=out,
                    content=File(fh, name=out.name),
                    sha256=sha256,
                    size=size,
                    fmt=version.format,
                    target=version.target,
                    source=Source.PROCESS,
                    filename=f"{Path(version.filename or 'data').stem}-processed.{version.format}",
                    source_detail={"job": str(locked.pk), "steps": report},
                    parents=[version],
                    description=spec.get("description", ""),
                    job=locked,
                )
            return {"dataset_version": str(child.pk), "version": child.version, "num_rows": child.num_rows}

        services.complete(job_id=job.pk, task_id=reporter.task_id, register=register)
