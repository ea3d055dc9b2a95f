"""process: a dataset version through processing steps -> a new DatasetVersion whose parent is the input."""

from __future__ import annotations

import pyarrow as pa

from datasets_app import blobs, processing
from datasets_app.models import DatasetVersion, Source
from jobs_app.models import Job
from jobs_app.runners.outputs import complete_with_dataset_version
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
    complete_with_dataset_version(
        job, reporter, base=version, table=table, source=Source.PROCESS, suffix="processed", detail={"steps": report}
    )
