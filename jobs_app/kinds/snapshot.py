"""snapshot: a base dataset version + the labelled predictions of a model -> a new version (source
`feedback`, the base as its parent)."""

from __future__ import annotations

import pyarrow as pa
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts_app.models import Team, User
from datasets_app import blobs
from datasets_app.models import DatasetVersion, Source
from jobs_app import specs
from jobs_app.kinds import SCHEMA_DIALECT
from jobs_app.models import Job
from jobs_app.runners.outputs import complete_with_dataset_version
from jobs_app.runners.reporter import RegistryReporter
from ml import formats
from ml.data import DataError
from models_app import feedback
from models_app.models import RegisteredModel

SNAPSHOT_FORMATS = ("csv", "jsonl", "parquet")  # feedback rows are appended by column name
DESCRIPTION = "A base dataset version plus the labelled predictions of a model; registers it as the base's child."
SPEC_SCHEMA = {
    "$schema": SCHEMA_DIALECT,
    "title": "snapshot job spec",
    "type": "object",
    "required": ["dataset_version", "model"],
    "additionalProperties": False,
    "properties": {
        "dataset_version": {"type": "string", "format": "uuid", "description": "The CSV, JSONL or Parquet base."},
        "model": {"type": "string", "format": "uuid", "description": "The model whose feedback is added."},
        "until": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "Feedback up to this time (ISO 8601); default: now.",
        },
        "description": {"type": ["string", "null"]},
    },
}


def run(job: Job, reporter: RegistryReporter) -> None:
    spec = job.spec
    base = DatasetVersion.objects.select_related("dataset", "blob").get(pk=spec["dataset_version"])
    until = parse_datetime(spec["until"])
    rows = feedback.labelled_rows(model=spec["model"], until=until)
    if not rows:
        raise DataError(f"the model has no labelled predictions up to {spec['until']}; nothing to add")
    try:
        with blobs.local_copy(base.blob) as path:
            table = formats.read_table(path, base.format, base.schema)
    except (pa.ArrowException, OverflowError) as exc:
        raise DataError(f"the base data set cannot be read: {exc}") from None
    merged, skipped = feedback.snapshot_table(table, base.target, rows)
    added = len(rows) - len(skipped)
    reporter.log(f"{table.num_rows} base rows + {added} labelled predictions")
    _report_skipped(reporter, skipped)
    shown = {"skipped": len(skipped), "skipped_reasons": skipped[: feedback.SHOWN_REASONS]}
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
            "feedback_rows": added,
            **shown,
        },
        outputs={"feedback_rows": added, **shown},
    )


LOGGED_REASONS = 20


def _report_skipped(reporter: RegistryReporter, skipped: list[str]) -> None:
    """The count of feedback rows that do not fit the base's schema, then the first reasons, one a line."""
    if not skipped:
        return
    reporter.log(f"{len(skipped)} labelled predictions skipped: they do not fit the data set's schema")
    for reason in skipped[:LOGGED_REASONS]:
        reporter.log(f"  skipped {reason}")
    if len(skipped) > LOGGED_REASONS:
        reporter.log(f"  ... and {len(skipped) - LOGGED_REASONS} more")


# --- the spec ------------------------------------------------------------------------------------------


def check(*, user: User, team: Team, spec: dict) -> dict:
    """Base dataset version + every labelled prediction of `model` up to `until` (default: now)."""
    version = specs.dataset_version(user, team, spec.get("dataset_version"))
    if version.format not in SNAPSHOT_FORMATS:
        raise specs.error(
            "spec.dataset_version",
            f"a snapshot needs a {', '.join(SNAPSHOT_FORMATS)} base (named columns); this one is {version.format}.",
        )
    value = spec.get("model")
    model = (
        RegisteredModel.objects.filter(team=team, pk=specs.as_uuid(value)).first() if isinstance(value, str) else None
    )
    if model is None:
        raise specs.error("spec.model", f"Model {value} does not exist in team '{team.slug}'.")
    if specs.family(model.task) != specs.family(version.dataset.task):
        raise specs.error(
            "spec.model", f"the model is a {model.task} model; the base data set is {version.dataset.task}."
        )
    until = spec.get("until")
    if until is None:
        until = timezone.now().isoformat()
    elif not isinstance(until, str) or specs.parsed_time(until) is None:
        raise specs.error("spec.until", "must be an ISO 8601 time such as 2026-11-29T12:00:00Z.")
    out = {"dataset_version": str(version.pk), "model": str(model.pk), "until": until}
    specs.description(spec, out)
    return out
