"""The job kinds: one module per kind, registered here by name. A new kind is one module plus one line in
`REGISTRY` (and the migration `makemigrations jobs_app` writes for the new choice).

A kind's module holds everything about it:

    DESCRIPTION: str           one line for people (served by GET /api/v1/job-kinds/)
    SPEC_SCHEMA: dict          a JSON Schema (draft 2020-12) of the spec a user submits, for forms
    check(user, team, spec)    the spec with defaults filled in and ids as strings; ValidationError naming the
                               field (`spec.architecture`) otherwise. `spec` is already known to be a dict.
    run(job, reporter)         the runner: does the work on a worker and ends the job through
                               `services.complete`; raises what `runners.execute` maps to the job's end

The list of kinds (`JobKind`, the API's choices and filters) and the task's dispatch are read from
`REGISTRY`. Modules are imported on first use, so this package imports no model and `jobs_app.models` can
read the names.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

REGISTRY: dict[str, str] = {
    "train": "jobs_app.kinds.train",
    "evaluate": "jobs_app.kinds.evaluate",
    "process": "jobs_app.kinds.process",
    "export": "jobs_app.kinds.export",
    "quantize": "jobs_app.kinds.quantize",
    "snapshot": "jobs_app.kinds.snapshot",
}
NAMES: tuple[str, ...] = tuple(REGISTRY)
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def get(name: str) -> ModuleType:
    """The module of kind `name` (KeyError for a kind not in REGISTRY)."""
    return import_module(REGISTRY[name])


def describe(name: str) -> dict:
    """`{kind, description, spec_schema}` of one kind, as the API serves it (KeyError for an unknown kind)."""
    module = get(name)
    return {"kind": name, "description": module.DESCRIPTION, "spec_schema": module.SPEC_SCHEMA}
