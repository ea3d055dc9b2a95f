"""The job kinds: one module per kind, registered here by name. A new kind is one module plus one line in
`REGISTRY` (and the migration `makemigrations jobs_app` writes for the new choice).

A kind's module holds everything about it:

    DESCRIPTION: str           one line for people (served by GET /api/v1/job-kinds/)
    SPEC_SCHEMA: dict          a JSON Schema (draft 2020-12) of the spec a user submits, for forms; its
                               `properties` are the spec's fields (specs.check_spec refuses any other)
    check(user, team, spec)    the spec with defaults filled in and ids as strings; ValidationError or
                               ml.errors.UserError naming the field (`spec.architecture`) otherwise. `spec` is
                               already known to be a dict.
    run(job, reporter)         the runner: does the work on a worker and ends the job through
                               `services.complete`; raises what `runners.execute` maps to the job's end
    RUNS_ON_WORKER: bool       optional, default True. False for a run outside the workers (`tracking`): it is
                               never sent to a broker but running once submitted, its creator ends it
                               (`services.finish_run`), the reaper leaves it alone, it counts in no team's
                               compute, and its metric points come only from its creator (jobs_app.attempts)
    METRIC_DIRECTIONS: dict    optional, {metric key: "min"|"max"}: which way is better for the metrics its jobs
                               log (jobs_app.metrics.direction; undeclared keys go by their name)
    warnings(job) -> [str]     optional: what the submitter should know about a job that is not a reason to
                               refuse it (train: the data overlaps the target model's gate's pinned set); each
                               is logged at submit as `warning: ...` and listed in the submit response

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
    "tracking": "jobs_app.kinds.tracking",
    "finetune": "jobs_app.kinds.finetune",
}
NAMES: tuple[str, ...] = tuple(REGISTRY)
PREEMPTIBLE: tuple[str, ...] = ("train", "finetune")
"""The kinds whose loop saves an on-demand checkpoint when asked (`checkpoint_on_stop`), so that a running job
can be preempted or requeued and resume where it was."""
DISTRIBUTED: tuple[str, ...] = ("train", "finetune")
"""The kinds whose jobs may run as several processes with DistributedDataParallel (`resources.processes` on the
CPU, `resources.gpus` on GPUs: ml/distributed.py)."""
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def get(name: str) -> ModuleType:
    """The module of kind `name` (KeyError for a kind not in REGISTRY)."""
    return import_module(REGISTRY[name])


def runs_on_worker(name: str) -> bool:
    """Whether jobs of kind `name` are sent to a worker (the module's RUNS_ON_WORKER, default True)."""
    return getattr(get(name), "RUNS_ON_WORKER", True)


def outside_workers() -> list[str]:
    """The kinds whose jobs run outside the workers (RUNS_ON_WORKER False), in registry order."""
    return [name for name in REGISTRY if not runs_on_worker(name)]


def describe(name: str) -> dict:
    """`{kind, description, spec_schema, distributed, preemptible}` of one kind, as the API serves it (KeyError
    for an unknown kind)."""
    module = get(name)
    return {
        "kind": name,
        "description": module.DESCRIPTION,
        "spec_schema": module.SPEC_SCHEMA,
        "distributed": name in DISTRIBUTED,
        "preemptible": name in PREEMPTIBLE,
    }


def warnings(job) -> list[str]:
    """The kind's `warnings(job)` for a just-submitted job, none for a kind without it."""
    found = getattr(get(job.kind), "warnings", None)
    return list(found(job)) if found is not None else []
