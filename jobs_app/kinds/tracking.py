"""tracking: a run outside Eco's workers (what the tracking client's `eco.start_run` opens).

It never reaches a broker (`RUNS_ON_WORKER = False`): submission marks it running the moment it is
submitted, its creator ends it (`services.finish_run`, `POST /api/v1/jobs/{id}/finish/`) or a member cancels
it, and the reaper leaves it alone (it has no heartbeat). It lists and reads like any job. Its metric points
come only from its creator, also after it ended, so a run spooled offline can be sent later (the rule is
jobs_app.attempts.check_writer).
"""

from __future__ import annotations

import json

from accounts_app.models import Team, User
from jobs_app import specs
from jobs_app.kinds import SCHEMA_DIALECT
from jobs_app.models import Job
from ml.errors import UserError

DESCRIPTION = "A run outside Eco's workers (the tracking client): running once submitted, ended by its creator."
RUNS_ON_WORKER = False
PARAMS_MAX_BYTES = 64 * 1024
SPEC_SCHEMA = {
    "$schema": SCHEMA_DIALECT,
    "title": "tracking job spec",
    "type": "object",
    "required": [],
    "additionalProperties": False,
    "properties": {
        "model": {
            "type": ["string", "null"],
            "minLength": 1,
            "maxLength": specs.MODEL_NAME_MAX,
            "description": "A model's id or a model name of the team (an unknown name is kept as `model_name`).",
        },
        "dataset_version": {
            "type": ["string", "null"],
            "format": "uuid",
            "description": "The run's data (its lineage): one of the team's dataset versions.",
        },
        "params": {
            "type": ["object", "null"],
            "description": f'The run\'s parameters, such as {{"lr": 0.001}}; at most {PARAMS_MAX_BYTES} bytes of JSON.',
        },
        "description": {"type": ["string", "null"]},
        "environment": {
            "type": ["object", "null"],
            "description": "Where the run ran, as the tracking client records it: `{git: {commit, dirty, "
            "branch}, python, platform, host, command, packages: {name: version}}`; at most "
            f"{PARAMS_MAX_BYTES} bytes of JSON.",
        },
    },
}


def run(job: Job, reporter) -> None:
    """Never called: a tracking run is not sent to a broker (RUNS_ON_WORKER is False)."""
    raise RuntimeError(f"job {job.pk} is a tracking run: it runs outside the workers")


# --- the spec ------------------------------------------------------------------------------------------


def check(*, user: User, team: Team, spec: dict) -> dict:
    """The spec of a tracking run, `{model?, dataset_version?, params?, description?, environment?}`, ids as strings.

    `model` is an existing model's id or a model name of the team (an unknown name is kept as `model_name`:
    the run may register a version under it later); `dataset_version` must be one of the team's versions
    (the run's lineage). Raises UserError naming the field (`spec.model`, ...); an id of another team reads
    as not found."""
    out: dict = {}
    version = None
    if spec.get("dataset_version") not in (None, ""):
        version = specs.dataset_version(user, team, spec["dataset_version"])
        out["dataset_version"] = str(version.pk)
    if spec.get("model") not in (None, ""):
        out.update(specs.model_field(team, spec["model"], version.dataset.task if version else None))
    for name, example in (("params", '{"lr": 0.001, "epochs": 10}'), ("environment", '{"git": {"commit": "..."}}')):
        value = spec.get(name)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise UserError(f"must be an object such as {example}.", field=f"spec.{name}")
        if len(json.dumps(value)) > PARAMS_MAX_BYTES:
            raise UserError(f"must be at most {PARAMS_MAX_BYTES} bytes of JSON.", field=f"spec.{name}")
        out[name] = value
    specs.description(spec, out)
    return out
