"""Serving: `predict` answers a request with a model version chosen by alias or version.

Each artefact is loaded once per process and kept in a small least-recently-used cache keyed by the version id
of the file that runs, so a version never changes under its key; the alias is looked up on every request (one indexed
query), which is why an alias move takes effect at once. A version with an ONNX export (a child version
made by an export job) runs on ONNX Runtime, as does a brought ONNX version; any other on torch (or TorchScript
for a TorchScript version).
Every prediction is logged through `prediction_log.writer` without waiting for the database, and every request
of a caller who may see the model (served, refused or failed) as one ServingRequest row through
`prediction_log.request_writer` (`log_request`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.http import Http404
from django.utils import timezone
from rest_framework.exceptions import NotFound

from accounts_app.models import Membership, Role, User
from ml import inference
from models_app import checkpoints, selectors
from models_app.models import ModelVersion, PredictionLog, WeightsFormat, alias_validator
from models_app.prediction_log import request_writer, writer

log = logging.getLogger(__name__)
RUNTIMES = ("auto", "torch", "onnxruntime")
ALIAS = re.compile(alias_validator.regex.pattern.strip("^$"))


@dataclass(frozen=True)
class Served:
    artifact_id: str  # the version whose file runs (the requested one, or its ONNX export)
    spec: dict
    runtime: object  # ml.runtimes.Runtime


class _Cache:
    def __init__(self) -> None:
        self._items: OrderedDict[str, Served] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, artifact_id: str) -> Served:
        served = self._items.get(artifact_id)
        if served is not None:
            with self._lock:  # least recently used goes first
                if artifact_id in self._items:
                    self._items.move_to_end(artifact_id)
            return served
        with self._lock:  # one load at a time; loads are rare and a second caller finds the first's result
            served = self._items.get(artifact_id)
            if served is None:
                served = _load(artifact_id)
                self._items[artifact_id] = served
                while len(self._items) > settings.ECO_SERVING_CACHE_SIZE:
                    self._items.popitem(last=False)
            else:
                self._items.move_to_end(artifact_id)
            return served

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


cache = _Cache()
_threads_set = False


def _load(artifact_id: str) -> Served:
    global _threads_set
    import torch

    if not _threads_set:  # a web process serves many small requests at once: one thread each
        torch.set_num_threads(settings.ECO_SERVING_THREADS)
        _threads_set = True
    artifact = ModelVersion.objects.select_related("blob").get(pk=artifact_id)
    runtime = checkpoints.runtime_of(artifact)
    return Served(artifact_id=str(artifact.pk), spec=artifact.spec, runtime=runtime)


def _artifact(target: dict, runtime: str) -> str:
    version_id, fmt, export = str(target["pk"]), target["format"], target["onnx_export"]
    if fmt == WeightsFormat.MLFLOW:
        raise ValidationError(
            {
                "version": [
                    f"v{target['version']} is an MLflow model Eco stores but never loads (a flavour other than ONNX, "
                    "or an ONNX model without a signature); log it with mlflow.onnx.log_model and a signature."
                ]
            }
        )
    if runtime == "auto":
        return str(export) if export else version_id
    if runtime == "torch":
        if fmt not in (WeightsFormat.SAFETENSORS, WeightsFormat.HF):
            raise ValidationError(
                {"runtime": [f"v{target['version']} is a {fmt} version; torch serves safetensors and hf."]}
            )
        return version_id
    if fmt == WeightsFormat.ONNX:
        return version_id
    if export:
        return str(export)
    raise ValidationError({"runtime": [f"v{target['version']} has no ONNX export; run an export job first."]})


def _request_version(value):
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise ValidationError({"version": [f"a version id or version number, got {value!r}"]})


@dataclass
class RequestFacts:
    """What a predict request turned out to name, filled in by `predict` as it learns it, for its ServingRequest
    row: `model_id` once the model is known to be the caller's, `version_id` once a version answers."""

    alias: str = ""
    rows: int = 0
    model_id: uuid.UUID | None = None
    version_id: uuid.UUID | None = None
    started: float = field(default_factory=time.perf_counter)


def log_request(facts: RequestFacts, *, user: User, model_pk, status_code: int, error: str = "") -> None:
    """One ServingRequest row for a finished predict request. A request that failed before `predict` knew the
    model is logged only when the caller may see the model (one query, on that failure path only): an outsider's
    requests are 404 and never logged against another team's model. Logging never fails the request."""
    latency_ms = (time.perf_counter() - facts.started) * 1000
    model_id = facts.model_id
    if model_id is None:
        model_id = selectors.visible_model_id(user=user, pk=model_pk)
        if model_id is None:
            return
    row = {
        "model_id": model_id,
        "model_version_id": facts.version_id,
        # text columns of PostgreSQL refuse NUL; a request's alias or error message may carry one
        "alias": facts.alias[:50].replace("\x00", "\ufffd"),
        "status_code": status_code,
        "latency_ms": latency_ms,
        "rows": facts.rows,
        "error": error[:300].replace("\x00", "\ufffd"),
        "created_at": timezone.now(),
    }
    if settings.ECO_PREDICTION_LOG != "inline":
        request_writer.add([row])
        return
    try:  # in the request: a savepoint, so a refused row cannot spoil an enclosing transaction
        with transaction.atomic():
            request_writer.add([row])
    except DatabaseError:
        log.warning("could not log a serving request of model %s", model_id, exc_info=True)


def predict(
    *,
    user: User,
    model_pk,
    alias=None,
    version=None,
    inputs=None,
    runtime: str = "auto",
    facts: RequestFacts | None = None,
) -> dict:
    """Answer a predict request (see PredictApi). `facts`, when given, is filled in for the request's log."""
    facts = facts if facts is not None else RequestFacts()
    facts.alias = alias if isinstance(alias, str) else ""
    facts.rows = len(inputs) if isinstance(inputs, list) else 0
    if (alias is None) == (version is None):
        raise ValidationError({"alias": ["Give exactly one of 'alias' or 'version'."]})
    if alias is not None and (not isinstance(alias, str) or not ALIAS.fullmatch(alias)):
        raise ValidationError({"alias": ["must be an alias name such as 'production'."]})
    if runtime not in RUNTIMES:
        raise ValidationError({"runtime": [f"use one of {', '.join(RUNTIMES)}."]})
    if not isinstance(inputs, list) or not inputs:
        raise ValidationError({"inputs": ["must be a non-empty list."]})
    if len(inputs) > settings.ECO_MAX_PREDICT_BATCH:
        raise ValidationError(
            {"inputs": [f"{len(inputs)} inputs; one request takes at most {settings.ECO_MAX_PREDICT_BATCH}."]}
        )
    number = _request_version(version)
    target = selectors.serving_target(user=user, model_pk=model_pk, alias=alias, version=number)
    if target is None:
        model = selectors.model_for_user(user=user, pk=model_pk)  # 404 when not one of the caller's models
        facts.model_id = model.pk
        if alias is not None:
            raise NotFound(f"Model '{model.name}' has no alias '{alias}'.")
        raise NotFound(f"Model '{model.name}' has no version {version}.")
    facts.model_id, facts.version_id = target["model_id"], target["pk"]
    served = cache.get(_artifact(target, runtime))

    if "preprocessing" not in served.spec or "task" not in served.spec:
        raise ValidationError(
            {
                "version": [
                    f"v{target['version']} was uploaded, not trained by an Eco job: Eco does not know how to "
                    "encode raw inputs for it. Serve a version trained by a train job, or one whose spec has "
                    "task and preprocessing (README: Models you bring)."
                ]
            }
        )
    started = time.perf_counter()
    try:
        array, logged = inference.encode(served.spec, inputs)
        outputs = served.runtime.run(array)
        predictions = inference.decode(served.spec, outputs)
    except inference.InputError:
        raise  # names its input (inputs[3]); the clause below is for specs that do not fit their network
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # a spec whose preprocessing does not fit its network
        raise ValidationError(
            {"version": [f"v{target['version']}'s spec cannot encode inputs for its network: {exc}"]}
        ) from None
    latency_ms = (time.perf_counter() - started) * 1000

    ids = [uuid.uuid4() for _ in predictions]
    now = timezone.now()
    writer.add(
        [
            {
                "id": pid,
                "team_id": target["team_id"],
                "model_id": target["model_id"],
                "model_version_id": target["pk"],
                "alias": alias or "",
                "runtime": served.runtime.name,
                "input": row,
                "output": prediction,
                "latency_ms": latency_ms,
                "batch_size": len(predictions),
                "created_by_id": user.pk,
                "created_at": now,
            }
            for pid, row, prediction in zip(ids, logged, predictions, strict=True)
        ]
    )
    return {
        "model": str(target["model_id"]),
        "model_version": str(target["pk"]),
        "version": target["version"],
        "alias": alias,
        "runtime": served.runtime.name,
        "latency_ms": round(latency_ms, 3),
        "predictions": [{"id": str(pid), **p} for pid, p in zip(ids, predictions, strict=True)],
    }


def logged_prediction(*, user: User, pk) -> PredictionLog:
    """A prediction of the caller's teams for feedback, including one answered a moment ago whose log row is
    still pending: this process's writer is flushed, and a user who may label waits briefly for another web
    process's writer. Still missing after that: 404."""
    found = selectors.predictions_for_user(user=user).select_related("model__team").filter(pk=pk).first
    if (prediction := found()) is not None:
        return prediction
    writer.flush()
    if (prediction := found()) is not None:
        return prediction
    may_label = Membership.objects.filter(user=user, role__in=[Role.MEMBER, Role.MAINTAINER, Role.ADMIN]).exists()
    if settings.ECO_PREDICTION_LOG == "background" and may_label:
        deadline = time.monotonic() + min(3 * settings.ECO_PREDICTION_LOG_FLUSH_S, 1.0)
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if (prediction := found()) is not None:
                return prediction
    raise Http404("No such prediction.")
