"""MLflow's tracking REST API (2.0) on Eco's registry: experiments, runs, params, tags, metric histories.

Each route is one operation, `(request, fields) -> dict`, served by `MlflowApi`: it reads the fields from the
query string (GET) or the JSON body, answers 200 with the dict, and turns every error into MLflow's format
(protocol.error_of). Authentication is Eco's (an Eco API token as MLFLOW_TRACKING_TOKEN, sent as a Bearer
token); team isolation and roles are Eco's: an experiment or run of another team answers
RESOURCE_DOES_NOT_EXIST, a role too low PERMISSION_DENIED (accounts_app.permissions.require_role).

Which team: an experiment name `team/name` names its team; a plain name means the caller's only team (a caller
in several teams is asked to name it). Experiment id "0", MLflow's default, is the default experiment of the
caller's only team. Runs are Eco tracking jobs; Eco's own tracking runs (no experiment) belong to their team's
default experiment.
"""

from __future__ import annotations

import uuid

from django.db.models import Q
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts_app.models import Role, Team, User
from accounts_app.permissions import require_role
from accounts_app.selectors import teams_for_user
from config.jsonsafe import unsafe_text
from jobs_app import metrics, selectors
from jobs_app.models import DEFAULT_EXPERIMENT, Experiment, Job, LifecycleStage
from jobs_app.services import experiments as services
from ml import names
from ml.errors import Conflict
from mlflow_app import search
from mlflow_app.protocol import (
    Fields,
    MlflowError,
    error_of,
    experiment_json,
    from_ms,
    integer,
    key_values,
    metric_value,
    not_found,
    run_id,
    run_info,
    run_json,
    wire_value,
)

RUNS_MAX_RESULTS = 50_000
HISTORY_MAX_RESULTS = 25_000
EXPERIMENTS_MAX_RESULTS = 50_000


class MlflowApi(APIView):
    """One MLflow operation (`operation(request, fields) -> dict`) at one path, in MLflow's error format.
    `reads_only` marks a POST that only reads (a search), which a read-scoped token may make."""

    operation = None
    reads_only = False
    schema = None  # MLflow's protocol is documented by MLflow, not in Eco's OpenAPI schema

    def get(self, request, **kwargs):
        data = dict(request.query_params.lists()) if request.method == "GET" else request.data
        if problem := unsafe_text(data):
            raise MlflowError("INVALID_PARAMETER_VALUE", problem)  # a NUL, say, that PostgreSQL cannot hold
        return Response(self.operation(request, Fields(request), **kwargs))  # an instance attribute: not bound

    post = patch = delete = get

    def handle_exception(self, exc):
        found = error_of(exc)
        if found is None:
            return super().handle_exception(exc)
        response = Response({"error_code": found.code, "message": found.message}, status=found.status)
        if found.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response


def route(operation, *methods: str, reads_only: bool = False):
    """The view of `operation` answering `methods` (others: ENDPOINT_NOT_FOUND in MLflow's format)."""
    return MlflowApi.as_view(operation=operation, reads_only=reads_only, http_method_names=[m.lower() for m in methods])


def paged(key: str, queryset, fields: Fields, render, *, default: int, limit: int) -> dict:
    """MLflow's answer of one page of `queryset` (`max_results`, `page_token`): {key: render(rows),
    next_page_token} with the token left out on the last page, as MLflow's server does."""
    found, token = search.page(
        queryset, fields.data.get("max_results"), fields.str("page_token"), default=default, limit=limit
    )
    answer: dict = {key: render(found)}
    if token:
        answer["next_page_token"] = token
    return answer


# --- which experiment ----------------------------------------------------------------------------------


def only_team(user: User, purpose: str) -> Team:
    teams = list(teams_for_user(user)[:2])
    if len(teams) == 1:
        return teams[0]
    if not teams:
        raise MlflowError("PERMISSION_DENIED", "You are in no team: ask a team admin to invite you.")
    raise MlflowError(
        "INVALID_PARAMETER_VALUE",
        f"You are in several teams, so {purpose} must name one: use an experiment name 'team/name' "
        f"(MLFLOW_EXPERIMENT_NAME=team/{DEFAULT_EXPERIMENT} for the team's default experiment).",
    )


def experiment_by_id(user: User, value) -> Experiment:
    """The experiment of id `value` among the caller's teams' ("0": the default experiment of the caller's only
    team). Raises RESOURCE_DOES_NOT_EXIST."""
    text = str(value)
    if text == "0":
        return services.default_experiment(team=only_team(user, "the default experiment (id 0)"))
    if not search.EXPERIMENT_ID.fullmatch(text):
        raise not_found(f"No experiment with id={text}.")
    found = selectors.experiments_for_user(user=user).filter(pk=int(text)).first()
    if found is None:
        raise not_found(f"No experiment with id={text}.")
    return found


def split_name(user: User, name: str, noun: str = "experiment") -> tuple[Team | None, str]:
    """(the team a name `team/name` names, the plain name); (None, name) for a plain name. Raises
    RESOURCE_DOES_NOT_EXIST for a team that is not one of the caller's (the same answer whether it exists)."""
    if "/" in name:
        slug, plain = name.split("/", 1)
        team = teams_for_user(user).filter(slug=slug).first()
        if team is None:
            raise not_found(f"No {noun} named {name!r}: '{slug}' is not one of your teams.")
        return team, plain
    return None, name


def experiment_by_name(user: User, name: str) -> Experiment:
    """The experiment named `name` ('team/name', or a plain name found in exactly one of the caller's teams;
    the default experiment is made when first asked for). Raises RESOURCE_DOES_NOT_EXIST, or
    INVALID_PARAMETER_VALUE for a plain name in several teams."""
    team, plain = split_name(user, name)
    if team is not None:
        if plain == DEFAULT_EXPERIMENT:
            return services.default_experiment(team=team)
        found = selectors.experiments_for_user(user=user).filter(team=team, name=plain).first()
        if found is None:
            raise not_found(f"Could not find experiment with name '{name}'.")
        return found
    matches = list(selectors.experiments_for_user(user=user).filter(name=plain)[:2])
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise MlflowError(
            "INVALID_PARAMETER_VALUE",
            f"Several of your teams have an experiment named '{plain}': name it 'team/{plain}'.",
        )
    if plain == DEFAULT_EXPERIMENT:
        return services.default_experiment(team=only_team(user, "the default experiment"))
    raise not_found(f"Could not find experiment with name '{name}'.")


def run_for(user: User, value, *, include_deleted: bool = True) -> Job:
    """The run (job) of id `value` (32 hex digits or a dashed uuid) among the caller's teams' jobs, deleted
    runs included unless asked. Raises RESOURCE_DOES_NOT_EXIST."""
    try:
        key = uuid.UUID(str(value))
    except ValueError:
        raise not_found(f"Run with id={value} not found.") from None
    found = selectors.jobs_for_user(user=user, include_deleted=include_deleted).filter(pk=key).first()
    if found is None:
        raise not_found(f"Run with id={value} not found.")
    return found


def experiment_id_of(job: Job) -> str:
    """The MLflow experiment id of a run: its experiment's, else its team's default experiment's."""
    if job.experiment_id is not None:
        return str(job.experiment_id)
    return str(services.default_experiment(team=job.team).pk)


def _runs_json(jobs: list[Job]) -> list[dict]:
    """Runs in MLflow's shape: their latest points in one query, a team's default experiment looked up once."""
    latest = metrics.latest_points([job.pk for job in jobs])
    defaults: dict = {}  # team id -> its default experiment's id, for runs without an experiment
    for job in jobs:
        if job.experiment_id is None and job.team_id not in defaults:
            defaults[job.team_id] = experiment_id_of(job)
    return [
        run_json(job, str(job.experiment_id) if job.experiment_id else defaults[job.team_id], latest.get(job.pk, []))
        for job in jobs
    ]


# --- experiments ---------------------------------------------------------------------------------------


def experiments_create(request, fields: Fields) -> dict:
    name = fields.str("name", required=True)
    team, plain = split_name(request.user, name)
    if team is None:
        team = only_team(request.user, "a new experiment")
    require_role(user=request.user, team=team, minimum=Role.MEMBER)
    tags = key_values(fields.list("tags"), "tags")
    experiment = services.create_experiment(actor=request.user, team=team, name=plain, tags=tags)
    return {"experiment_id": str(experiment.pk)}


def experiments_get(request, fields: Fields) -> dict:
    return {"experiment": experiment_json(experiment_by_id(request.user, fields.str("experiment_id", required=True)))}


def experiments_get_by_name(request, fields: Fields) -> dict:
    return {
        "experiment": experiment_json(experiment_by_name(request.user, fields.str("experiment_name", required=True)))
    }


VIEW_TYPES = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3, "1": 1, "2": 2, "3": 3}


def _view_type(value) -> int:
    if value in (None, ""):
        return 1
    if str(value) not in VIEW_TYPES:
        raise MlflowError("INVALID_PARAMETER_VALUE", "view_type must be ACTIVE_ONLY, DELETED_ONLY or ALL.")
    return VIEW_TYPES[str(value)]


def experiments_search(request, fields: Fields) -> dict:
    experiments = search.with_full_name(selectors.experiments_for_user(user=request.user))
    view = _view_type(fields.data.get("view_type"))
    if view == 1:
        experiments = experiments.filter(lifecycle_stage=LifecycleStage.ACTIVE)
    elif view == 2:
        experiments = experiments.filter(lifecycle_stage=LifecycleStage.DELETED)
    experiments = search.order_experiments(
        search.filter_experiments(experiments, fields.data.get("filter")), fields.list("order_by")
    )
    return paged(
        "experiments",
        experiments,
        fields,
        lambda rows: [experiment_json(e) for e in rows],
        default=1000,
        limit=EXPERIMENTS_MAX_RESULTS,
    )


def _writable_experiment(request, fields: Fields, minimum: str = Role.MEMBER) -> Experiment:
    experiment = experiment_by_id(request.user, fields.str("experiment_id", required=True))
    require_role(user=request.user, team=experiment.team, minimum=minimum)
    return experiment


def experiments_update(request, fields: Fields) -> dict:
    experiment = _writable_experiment(request, fields)
    new_name = fields.str("new_name")
    if new_name is not None:
        team, plain = split_name(request.user, new_name)
        if team is not None and team.pk != experiment.team_id:
            raise MlflowError("INVALID_PARAMETER_VALUE", "An experiment stays in its team: rename it within it.")
        services.update_experiment(actor=request.user, experiment=experiment, name=plain)
    return {}


def experiments_delete(request, fields: Fields) -> dict:
    experiment = _writable_experiment(request, fields, Role.MAINTAINER)
    services.set_experiment_stage(actor=request.user, experiment=experiment, stage=LifecycleStage.DELETED)
    return {}


def experiments_restore(request, fields: Fields) -> dict:
    experiment = _writable_experiment(request, fields, Role.MAINTAINER)
    services.set_experiment_stage(actor=request.user, experiment=experiment, stage=LifecycleStage.ACTIVE)
    return {}


def experiments_set_tag(request, fields: Fields) -> dict:
    experiment = _writable_experiment(request, fields)
    key, value = fields.str("key", required=True), fields.data.get("value")
    services.update_experiment(actor=request.user, experiment=experiment, tags={key: "" if value is None else value})
    return {}


def experiments_delete_tag(request, fields: Fields) -> dict:
    experiment = _writable_experiment(request, fields)
    services.update_experiment(actor=request.user, experiment=experiment, delete_tag=fields.str("key", required=True))
    return {}


# --- runs ----------------------------------------------------------------------------------------------


def runs_create(request, fields: Fields) -> dict:
    experiment = experiment_by_id(request.user, fields.str("experiment_id") or "0")
    require_role(user=request.user, team=experiment.team, minimum=Role.MEMBER)
    tags = key_values(fields.list("tags"), "tags")
    name = fields.str("run_name") or tags.get("mlflow.runName")
    start = fields.data.get("start_time")
    job = services.start_run(
        actor=request.user,
        experiment=experiment,
        name=name,
        tags=tags,
        start_time=None if start in (None, "") else from_ms(start, "start_time"),
    )
    return {"run": run_json(job, str(experiment.pk), [])}


def runs_get(request, fields: Fields) -> dict:
    job = run_for(request.user, fields.first("run_id", "run_uuid"))
    return {"run": _runs_json([job])[0]}


def _member_run(request, fields: Fields) -> Job:
    """The run the fields name (deleted runs too), after the member role in its team."""
    job = run_for(request.user, fields.first("run_id", "run_uuid"))
    require_role(user=request.user, team=job.team, minimum=Role.MEMBER)
    return job


def runs_update(request, fields: Fields) -> dict:
    job = _member_run(request, fields)
    end = fields.data.get("end_time")
    job = services.update_run(
        actor=request.user,
        job=job,
        status=fields.str("status"),
        end_time=None if end in (None, "") else from_ms(end, "end_time"),
        name=fields.str("run_name"),
    )
    return {"run_info": run_info(job, experiment_id_of(job))}


def runs_delete(request, fields: Fields) -> dict:
    services.set_run_deleted(actor=request.user, job=_member_run(request, fields), deleted=True)
    return {}


def runs_restore(request, fields: Fields) -> dict:
    services.set_run_deleted(actor=request.user, job=_member_run(request, fields), deleted=False)
    return {}


def _points(items, where: str) -> list[tuple]:
    """MLflow metrics [{key, value, timestamp, step}] as (key, step, value, time seconds) points, checked by
    the metrics store's rules (metrics.check_points, which names the first bad point). Raises MlflowError."""
    if not isinstance(items, list):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"{where} must be a list of metrics.")
    points = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", f"{where}[{i}] must be an object {{key, value, timestamp, step}}."
            )
        value = metric_value(item.get("value"), f"{where}[{i}].value")
        timestamp = integer(item.get("timestamp"), f"{where}[{i}].timestamp")
        step = integer(item.get("step"), f"{where}[{i}].step", default=0)
        points.append({"key": item.get("key"), "step": step, "value": value, "time": timestamp / 1000})
    try:
        metrics.check_points(points, nonfinite=True)  # the store's rules (NaN kept); a history keeps every point
    except metrics.PointError as exc:
        raise MlflowError("INVALID_PARAMETER_VALUE", str(exc).replace("points", where, 1)) from None
    return [(names.nfc(p["key"]), p["step"], p["value"], p["time"]) for p in points]


def _log_batch(request, job: Job, points: list[tuple], params: dict, tags: dict) -> dict:
    try:
        services.log_batch(actor=request.user, job=job, points=points, params=params, tags=tags)
    except Conflict as exc:  # MLflow answers a parameter logged again with another value as a bad value
        if (exc.field or "").startswith("params."):
            raise MlflowError("INVALID_PARAMETER_VALUE", str(exc)) from None
        raise
    return {}


def runs_log_batch(request, fields: Fields) -> dict:
    job = _member_run(request, fields)
    points = _points(fields.list("metrics"), "metrics")
    params = key_values(fields.list("params"), "params")
    tags = key_values(fields.list("tags"), "tags")
    return _log_batch(request, job, points, params, tags)


def runs_log_metric(request, fields: Fields) -> dict:
    job = _member_run(request, fields)
    item = {k: fields.data.get(k) for k in ("key", "value", "timestamp", "step")}
    return _log_batch(request, job, _points([item], "metric"), {}, {})


def runs_log_parameter(request, fields: Fields) -> dict:
    job = _member_run(request, fields)
    key = fields.str("key", required=True)
    value = fields.data.get("value")
    return _log_batch(request, job, [], {key: "" if value is None else str(value)}, {})


def runs_set_tag(request, fields: Fields) -> dict:
    job = _member_run(request, fields)
    value = fields.data.get("value")
    services.set_run_tags(
        actor=request.user, job=job, tags={fields.str("key", required=True): "" if value is None else str(value)}
    )
    return {}


def runs_delete_tag(request, fields: Fields) -> dict:
    services.set_run_tags(actor=request.user, job=_member_run(request, fields), delete=fields.str("key", required=True))
    return {}


def runs_log_inputs(request, fields: Fields) -> dict:
    job = _member_run(request, fields)
    datasets = []
    for i, entry in enumerate(fields.list("datasets")):
        if not isinstance(entry, dict):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"datasets[{i}] must be an object {{dataset, tags}}.")
        datasets.append({**entry, "tags": key_values(entry.get("tags") or [], f"datasets[{i}].tags")})
    services.log_inputs(actor=request.user, job=job, datasets=datasets)
    return {}


# a run is deleted when it is, or when its experiment is (MLflow hides a deleted experiment's runs from active searches)
_LIVE = Q(deleted_at__isnull=True) & (Q(experiment__isnull=True) | Q(experiment__lifecycle_stage=LifecycleStage.ACTIVE))
RUN_VIEW = {1: _LIVE, 2: ~_LIVE, 3: Q()}


def runs_search(request, fields: Fields) -> dict:
    experiments = [experiment_by_id(request.user, value) for value in fields.list("experiment_ids")]
    scope = selectors.runs_of(experiments)
    view = _view_type(fields.data.get("run_view_type"))
    runs = selectors.jobs_for_user(user=request.user, include_deleted=True).filter(scope, RUN_VIEW[view])
    runs = search.order_runs(search.filter_runs(runs, fields.data.get("filter")), fields.list("order_by"))
    return paged("runs", runs, fields, _runs_json, default=1000, limit=RUNS_MAX_RESULTS)


# --- metric histories ----------------------------------------------------------------------------------


def metrics_get_history(request, fields: Fields) -> dict:
    job = run_for(request.user, fields.first("run_id", "run_uuid"))
    key = fields.str("metric_key", required=True)
    size = fields.int("max_results") or HISTORY_MAX_RESULTS
    if not 1 <= size <= HISTORY_MAX_RESULTS:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"max_results must be from 1 to {HISTORY_MAX_RESULTS}.")
    offset = search.token_offset(fields.str("page_token"))
    steps, values, times, total = metrics.history_page(job.pk, key, offset, size)
    answer: dict = {
        "metrics": [
            {"key": key, "value": wire_value(value), "timestamp": int(round(at * 1000)), "step": step}
            for step, value, at in zip(steps.tolist(), values.tolist(), times.tolist(), strict=True)
        ]
    }
    if offset + size < total:
        answer["next_page_token"] = search.offset_token(offset + size)
    return answer


def metrics_get_history_bulk_interval(request, fields: Fields) -> dict:
    ids = fields.list("run_ids")
    if not ids:
        raise MlflowError("INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_ids'.")
    if len(ids) > 100:
        raise MlflowError("INVALID_PARAMETER_VALUE", "run_ids takes at most 100 runs.")
    key = fields.str("metric_key", required=True)
    start, end = fields.int("start_step"), fields.int("end_step")
    size = fields.int("max_results") or 320
    if not 1 <= size <= metrics.MAX_POINTS_LIMIT:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"max_results must be from 1 to {metrics.MAX_POINTS_LIMIT}.")
    answer = []
    for value in ids:
        job = run_for(request.user, value)
        found = metrics.series(job.pk, key, max_points=size, start_step=start, end_step=end, raw=True)
        for (step, point), at in zip(found["points"], found["times"], strict=True):
            answer.append(
                {
                    "key": key,
                    "value": wire_value(point),
                    "timestamp": int(round(at * 1000)),
                    "step": step,
                    "run_id": run_id(job),
                }
            )
    return {"metrics": answer}


def endpoint_not_found(request, fields) -> dict:
    raise MlflowError(
        "ENDPOINT_NOT_FOUND", f"{request.method} {request.path}: Eco does not serve this MLflow endpoint."
    )
