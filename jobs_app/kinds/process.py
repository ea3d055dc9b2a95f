"""process: a dataset version through processing steps -> a new DatasetVersion whose parent is the input."""

from __future__ import annotations

import pyarrow as pa

from accounts_app.models import Team, User
from datasets_app import blobs, processing
from datasets_app.models import DatasetVersion, Source
from jobs_app import specs
from jobs_app.kinds import SCHEMA_DIALECT
from jobs_app.models import Job
from jobs_app.runners.outputs import complete_with_dataset_version
from jobs_app.runners.reporter import RegistryReporter
from ml import formats
from ml.data import DataError
from ml.train import Stopped

DESCRIPTION = "Run processing steps over a dataset version; registers the result (same format) as its child."
_COLUMNS = {"type": ["array", "null"], "items": {"type": "string"}, "minItems": 1}
_STEPS = {
    "dropna": {"columns": _COLUMNS},
    "dedupe": {"columns": _COLUMNS},
    "standardize": {"columns": _COLUMNS},
    "filter": {
        "column": {"type": "string"},
        "operator": {"enum": list(processing.COMPARISONS)},
        "value": {"description": "A value of the column's type; a list for in / not_in; none for is_null."},
    },
    "map_labels": {
        "column": {"type": "string", "description": "Default: the target."},
        "mapping": {"type": "object", "minProperties": 1, "additionalProperties": {"type": ["string", "integer"]}},
    },
    "sample": {
        "n": {"type": ["integer", "null"], "minimum": 1},
        "fraction": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1, "default": 0},
        "complement": {"type": "boolean", "default": False},
    },
    "fillna": {
        "columns": {**_COLUMNS, "description": "Default: the feature columns the value or strategy fits."},
        "value": {
            "type": ["number", "string", "boolean", "null"],
            "description": "The fill, of each column's type; give this or strategy.",
        },
        "strategy": {
            "enum": [*processing.FILL_STRATEGIES, None],
            "description": "Computed over the whole table (most_frequent: the smallest among ties).",
        },
    },
    "cast": {
        "columns": {**_COLUMNS, "type": "array"},
        "to": {"enum": list(processing.CAST_TYPES)},
        "decimal": {
            "enum": list(processing.DECIMALS),
            "default": ".",
            "description": "The decimal mark of text numbers; thousands separators (, . space _ ') are read.",
        },
    },
}
SPEC_SCHEMA = {
    "$schema": SCHEMA_DIALECT,
    "title": "process job spec",
    "type": "object",
    "required": ["dataset_version", "steps"],
    "additionalProperties": False,
    "properties": {
        "dataset_version": {"type": "string", "format": "uuid", "description": "The input version."},
        "steps": {
            "type": "array",
            "minItems": 1,
            "maxItems": processing.MAX_STEPS,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["op", "columns", "to"] if op == "cast" else ["op"],
                        "additionalProperties": False,
                        "properties": {"op": {"const": op}, **fields},
                    }
                    for op, fields in _STEPS.items()
                ]
            },
        },
        "description": {"type": ["string", "null"]},
    },
}


def run(job: Job, reporter: RegistryReporter) -> None:
    spec = job.spec
    version = DatasetVersion.objects.select_related("dataset", "blob").get(pk=spec["dataset_version"])
    try:
        with blobs.local_copy(version.blob) as path:
            table = formats.read_table(path, version.format, version.schema)
        table, report = processing.apply_steps(table, spec["steps"], should_stop=reporter.should_stop)
    except (pa.ArrowException, OverflowError) as exc:  # data the checks could not foresee
        raise DataError(f"the steps cannot run on this data: {exc}") from None
    if reporter.should_stop():
        raise Stopped("stopped between processing steps")
    for done in report:
        reporter.log(f"{done['op']}: {done['rows_before']} -> {done['rows_after']} rows" + _detail(done))
    reporter.set_progress(0.8)
    if table.num_rows == 0:
        raise DataError("the steps left no rows; loosen the filters")
    complete_with_dataset_version(
        job, reporter, base=version, table=table, source=Source.PROCESS, suffix="processed", detail={"steps": report}
    )


def _detail(done: dict) -> str:
    """What a fillna or cast step did per column, for the log (the full report is in the version's source)."""
    if "filled" in done:
        parts = [f"{k}: {v['count']} with {v['value']!r}" for k, v in done["filled"].items()]
    elif "cast" in done:
        parts = [f"{k}: {v['uncastable']} uncastable" for k, v in done["cast"].items() if v["uncastable"]]
    else:
        return ""
    return ("; " + ", ".join(parts[:10]) + (" ..." if len(parts) > 10 else "")) if parts else ""


# --- the spec ------------------------------------------------------------------------------------------


def check(*, user: User, team: Team, spec: dict) -> dict:
    """The process spec with each step checked against the columns (ValidationError naming the field)."""
    version = specs.dataset_version(user, team, spec.get("dataset_version"))
    if version.format not in processing.PROCESSABLE_FORMATS:
        raise specs.error(
            "spec.dataset_version",
            f"{version.format} versions cannot be processed; use {' or '.join(processing.PROCESSABLE_FORMATS)}.",
        )
    try:
        steps = processing.check_steps(spec.get("steps"), columns=version.schema["columns"], target=version.target)
    except processing.StepError as exc:
        raise exc.prefixed("spec") from None
    out = {"dataset_version": str(version.pk), "steps": steps}
    specs.description(spec, out)
    return out
