"""MLflow's wire format: errors, request fields and the JSON shapes of experiments and runs.

The format is MLflow's REST API 2.0 as its Python client 3.x speaks it (mlflow/protos/service.proto; the
client parses answers with protobuf's ParseDict): every id and version is a JSON string, times are epoch
milliseconds, a success is HTTP 200 with a JSON object, an error is `{"error_code", "message"}` with the
status MLflow gives that code. Only 4xx answers for what the caller can fix: the client retries 408, 429 and
5xx for minutes, replaying POSTs.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions

from config.errors import error_text
from ml.errors import AlreadyExists, Forbidden, UserError

# MLflow's error codes and the HTTP status its server answers with each (mlflow/protos/databricks.proto and
# mlflow/server/handlers.py's ERROR_CODE_TO_HTTP_STATUS)
STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "RESOURCE_CONFLICT": 409,
    "REQUEST_LIMIT_EXCEEDED": 429,
}
ARTIFACTS_SCHEME = "mlflow-artifacts:"


class MlflowError(Exception):
    """An answer in MLflow's error format: `code` one of STATUS, `message` for the caller."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    @property
    def status(self) -> int:
        return STATUS[self.code]


def not_found(message: str) -> MlflowError:
    return MlflowError("RESOURCE_DOES_NOT_EXIST", message)


def error_of(exc: Exception) -> MlflowError | None:
    """Eco's and DRF's errors in MLflow's terms (None: not one the caller can fix; Django answers 500)."""
    if isinstance(exc, MlflowError):
        return exc
    if isinstance(exc, AlreadyExists):
        return MlflowError("RESOURCE_ALREADY_EXISTS", str(exc))
    if isinstance(exc, Forbidden):
        return MlflowError("PERMISSION_DENIED", str(exc))
    if isinstance(exc, UserError) and exc.status == 409:
        return MlflowError("RESOURCE_CONFLICT", str(exc))
    if isinstance(exc, UserError):  # 400 and 413 alike: 413 is not an MLflow status
        return MlflowError("INVALID_PARAMETER_VALUE", str(exc))
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return MlflowError("UNAUTHENTICATED", str(exc.detail))
    if isinstance(exc, exceptions.PermissionDenied):
        return MlflowError("PERMISSION_DENIED", str(exc.detail))
    if isinstance(exc, (Http404, exceptions.NotFound)):
        return not_found(str(exc) or "Not found (or not visible to you).")
    if isinstance(exc, exceptions.Throttled):
        return MlflowError("REQUEST_LIMIT_EXCEEDED", str(exc.detail))
    if isinstance(exc, exceptions.ValidationError):
        return MlflowError("INVALID_PARAMETER_VALUE", json.dumps(exc.detail))
    if isinstance(exc, DjangoValidationError):  # a service's 400 naming its field
        return MlflowError("INVALID_PARAMETER_VALUE", error_text(exc))
    if isinstance(exc, exceptions.MethodNotAllowed):
        return MlflowError("ENDPOINT_NOT_FOUND", str(exc.detail))
    if isinstance(exc, exceptions.APIException) and 400 <= exc.status_code < 500:
        return MlflowError("BAD_REQUEST", str(exc.detail))
    return None


class Fields:
    """A request's fields: the query string of a GET (lists as repeated keys), else the JSON body."""

    def __init__(self, request):
        self.get_request = request.method == "GET"
        self.data = request.query_params if self.get_request else request.data
        if not self.get_request and not isinstance(self.data, dict):
            raise MlflowError("INVALID_PARAMETER_VALUE", "the request body must be a JSON object.")

    def str(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise MlflowError("INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{name}'.")
            return default
        if not isinstance(value, str):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Parameter '{name}' must be a string.")
        return value

    def int(self, name: str, *, required: bool = False) -> int | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise MlflowError("INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{name}'.")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Parameter '{name}' must be an integer.")
        try:
            return int(value)
        except ValueError:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Parameter '{name}' must be an integer.") from None

    def list(self, name: str) -> list:
        if self.get_request:
            return self.data.getlist(name)
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Parameter '{name}' must be a list.")
        return value

    def first(self, *names: str, required: bool = True) -> str | None:
        """The first of `names` given (run_id, then MLflow's older run_uuid)."""
        for name in names:
            if (value := self.str(name)) is not None:
                return value
        if required:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"Missing value for required parameter '{names[0]}'.")
        return None


def ms(moment: datetime | None) -> int | None:
    """A datetime as integer epoch milliseconds (None stays None)."""
    return None if moment is None else int(round(moment.timestamp() * 1000))


def from_ms(value, name: str) -> datetime:
    """Epoch milliseconds (an int or a numeric string) as a datetime. Raises MlflowError."""
    try:
        return datetime.fromtimestamp(integer(value, name) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"Parameter '{name}' must be epoch milliseconds.") from None


NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def metric_value(value, where: str) -> float:
    """A metric value as the client sends it: a number, or one of the strings NaN, Infinity, -Infinity (protobuf's
    JSON for a double that is not finite: a diverging loss), all kept. Raises MlflowError for anything else."""
    if isinstance(value, str) and value in NONFINITE:
        return NONFINITE[value]
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    except OverflowError:  # an integer beyond any float
        number = None
    if number is None or math.isnan(number):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"{where}: must be a number (or NaN, Infinity, -Infinity).")
    return number


def wire_value(value: float) -> float | str:
    """A stored value in MLflow's JSON: a NaN or an infinity as protobuf's strings, which MLflow's client parses."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def integer(value, where: str, *, default: int | None = None) -> int:
    """An int64 field as the client sends it (a JSON integer, or a string of digits); None or absent gives
    `default`. A fraction, a bool or anything else is refused. Raises MlflowError."""
    if value is None and default is not None:
        return default
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"{where}: must be an integer.")
    return value


def key_values(items, where: str) -> dict[str, str]:
    """[{key, value}] as {key: value}, both strings (MLflow's params and tags). Raises MlflowError."""
    if not isinstance(items, list):
        raise MlflowError("INVALID_PARAMETER_VALUE", f"{where} must be a list of {{key, value}} objects.")
    out = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"{where}[{i}] must be an object {{key, value}}.")
        value = item.get("value", "")
        out[item["key"]] = value if isinstance(value, str) else json.dumps(value)
    return out


def pairs(mapping: dict) -> list[dict]:
    """{key: value} as MLflow's [{key, value}] with string values."""
    return [{"key": k, "value": v if isinstance(v, str) else json.dumps(v)} for k, v in mapping.items()]


# --- shapes ----------------------------------------------------------------------------------------------

RUN_STATUS = {
    "queued": "SCHEDULED",
    "running": "RUNNING",
    "succeeded": "FINISHED",
    "failed": "FAILED",
    "cancelled": "KILLED",
}


def experiment_json(experiment) -> dict:
    """An experiment as MLflow's Experiment: its name is `team/name`, so a client in several teams sees which."""
    return {
        "experiment_id": str(experiment.pk),
        "name": f"{experiment.team.slug}/{experiment.name}",
        "artifact_location": f"{ARTIFACTS_SCHEME}/{experiment.pk}",
        "lifecycle_stage": experiment.lifecycle_stage,
        "creation_time": ms(experiment.created_at),
        "last_update_time": ms(experiment.updated_at),
        "tags": pairs(experiment.tags),
    }


def run_id(job) -> str:
    return job.pk.hex


def run_info(job, experiment_id: str) -> dict:
    """A job as MLflow's RunInfo (run_id and the older run_uuid both, as the client reads either)."""
    info = {
        "run_id": run_id(job),
        "run_uuid": run_id(job),
        "run_name": job.name or f"{job.kind}-{job.pk.hex[:8]}",
        "experiment_id": experiment_id,
        "user_id": job.created_by.username if job.created_by_id else "",
        "status": RUN_STATUS[job.status],
        "start_time": ms(job.started_at or job.created_at),
        "artifact_uri": f"{ARTIFACTS_SCHEME}/{experiment_id}/{run_id(job)}/artifacts",
        "lifecycle_stage": "deleted" if job.deleted_at else "active",
    }
    if job.finished_at is not None:
        info["end_time"] = ms(job.finished_at)
    return info


def run_json(job, experiment_id: str, latest: list[tuple]) -> dict:
    """A job as MLflow's Run: info, data (each metric's latest point, params, tags) and inputs."""
    inputs = [
        {
            "tags": pairs(record.get("tags") or {}),
            "dataset": {
                k: record[k] for k in ("name", "digest", "source_type", "source", "schema", "profile") if k in record
            },
        }
        for record in job.spec.get("inputs") or []
    ]
    return {
        "info": run_info(job, experiment_id),
        "data": {
            "metrics": [
                {"key": key, "value": wire_value(value), "timestamp": int(round(at * 1000)), "step": step}
                for key, step, value, at in latest
            ],
            "params": pairs(job.spec.get("params") or {}),
            "tags": pairs(job.tags),
        },
        "inputs": {"dataset_inputs": inputs},
        "outputs": {},
    }
