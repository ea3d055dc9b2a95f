"""snapshot: a base dataset version + the labelled predictions of a model -> a new version (source
`feedback`, the base as its parent)."""

from __future__ import annotations

import pyarrow as pa
from django.utils.dateparse import parse_datetime

from datasets_app import blobs, processing
from datasets_app.models import DatasetVersion, Source
from jobs_app.models import Job
from jobs_app.runners.outputs import complete_with_dataset_version
from jobs_app.runners.reporter import RegistryReporter
from ml.data import DataError
from models_app import feedback


def run(job: Job, reporter: RegistryReporter) -> None:
    spec = job.spec
    base = DatasetVersion.objects.select_related("dataset", "blob").get(pk=spec["dataset_version"])
    until = parse_datetime(spec["until"])
    rows = feedback.labelled_rows(model=spec["model"], until=until)
    if not rows:
        raise DataError(f"the model has no labelled predictions up to {spec['until']}; nothing to add")
    try:
        with blobs.local_copy(base.blob) as path:
            table = processing.read_table(path, base.format, base.schema["columns"])
    except (pa.ArrowException, OverflowError) as exc:
        raise DataError(f"the base data set cannot be read: {exc}") from None
    merged, skipped = feedback.snapshot_table(table, base.target, rows)
    reporter.log(
        f"{table.num_rows} base rows + {len(rows) - skipped} labelled predictions"
        + (f" ({skipped} skipped: their inputs lack the base's columns)" if skipped else "")
    )
    reporter.set_progress(0.8)
    complete_with_dataset_version(
        job,
        reporter,
        base=base,
        table=merged,
        source=Source.FEEDBACK,
        suffix="feedback",
        detail={
            "model": spec["model"],
            "until": spec["until"],
            "base_rows": table.num_rows,
            "feedback_rows": len(rows) - skipped,
            "skipped": skipped,
        },
    )
