"""Reads of models_app, always scoped to the caller's teams."""

import uuid

import psycopg
from django.apps import apps
from django.contrib.postgres.aggregates import ArrayAgg
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import Count, F, Max, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.shortcuts import get_object_or_404

from accounts_app.models import Membership, User
from accounts_app.selectors import team_ids_for_user
from models_app.models import (
    Evaluation,
    GatePolicy,
    ModelAlias,
    ModelVersion,
    ModelVersionFile,
    PredictionLog,
    RegisteredModel,
)


def models_for_user(*, user: User) -> QuerySet[RegisteredModel]:
    """The caller's teams' models, deleted ones left out (RegisteredModel.objects: datasets_app.retention)."""
    return (
        RegisteredModel.objects.filter(team__in=team_ids_for_user(user))
        .select_related("team", "created_by")
        .annotate(
            num_versions=Count("versions", distinct=True),
            latest_version=Max("versions__version"),
            formats=ArrayAgg("versions__format", distinct=True, filter=Q(versions__isnull=False), default=Value([])),
        )
        .order_by("-created_at", "id")
        .prefetch_related(Prefetch("aliases", queryset=ModelAlias.objects.order_by("alias")))
    )


def model_for_user(*, user: User, pk) -> RegisteredModel:
    return get_object_or_404(models_for_user(user=user), pk=pk)


def _made_by_job(kind: str) -> Subquery:
    """The id of the job that made the row (`job_id`), from jobs_app's provenance table: read by name, since
    the lower apps never import jobs_app."""
    outputs = apps.get_model("jobs_app", "JobOutput").objects.filter(kind=kind, object_id=OuterRef("pk"))
    # typed: SQLite stores UUIDs as bare hex and gives an untyped subquery back as that text
    return Subquery(outputs.values("job_id")[:1], output_field=models.UUIDField())


def versions_for_user(*, user: User) -> QuerySet[ModelVersion]:
    """The caller's teams' model versions, those of deleted models left out."""
    return (
        ModelVersion.objects.filter(model__team__in=team_ids_for_user(user), model__deleted_at__isnull=True)
        .annotate(job_id=_made_by_job("model_version"))
        .select_related("model__team", "blob", "created_by")
        .prefetch_related(
            "dataset_links",
            Prefetch("aliases", queryset=ModelAlias.objects.order_by("alias")),
            Prefetch("files", queryset=ModelVersionFile.objects.select_related("blob").order_by("name")),
        )
    )


def version_for_user(*, user: User, pk) -> ModelVersion:
    return get_object_or_404(versions_for_user(user=user), pk=pk)


def alias_for_user(*, user: User, model_pk, alias: str) -> ModelAlias:
    return get_object_or_404(
        ModelAlias.objects.filter(
            model__team__in=team_ids_for_user(user), model__deleted_at__isnull=True
        ).select_related("model__team"),
        model_id=model_pk,
        alias=alias,
    )


def evaluations_for_user(*, user: User) -> QuerySet[Evaluation]:
    """Evaluations of your teams' model versions, newest first."""
    return (
        Evaluation.objects.filter(
            model_version__model__team__in=team_ids_for_user(user), model_version__model__deleted_at__isnull=True
        )
        .select_related("model_version__model__team", "dataset_version__dataset", "created_by")
        .annotate(job_id=_made_by_job("evaluation"))
    )


def leaderboard(queryset: QuerySet[Evaluation]) -> QuerySet[Evaluation]:
    """Best first by the headline score (accuracy, or R²), ties broken by the older evaluation."""
    return queryset.order_by(F("score").desc(nulls_last=True), "created_at")


def gate_for_user(*, user: User, model_pk) -> GatePolicy:
    return get_object_or_404(
        GatePolicy.objects.filter(
            model__team__in=team_ids_for_user(user), model__deleted_at__isnull=True
        ).select_related("model__team", "dataset_version__dataset", "updated_by"),
        model_id=model_pk,
    )


def serving_target(*, user: User, model_pk, alias: str | None = None, version=None) -> dict | None:
    """One query: the version a predict request names (by alias, number or id) among the caller's models,
    with its ONNX export if it has one. None when there is no such version. Plain SQL: the predict path
    is hot and building this through the ORM costs more than running it."""
    uuid_field = ModelVersion._meta.pk
    try:
        model_key = uuid_field.get_db_prep_value(model_pk, connection)
    except (ValueError, TypeError, AttributeError):
        return None
    if connection.vendor == "postgresql":
        optimization = "e.params ->> 'optimization'"
    else:
        optimization = "json_extract(e.params, '$.optimization')"
    versions, models = ModelVersion._meta.db_table, RegisteredModel._meta.db_table
    params: list = []
    join = ""
    if alias is not None:
        join = f"JOIN {ModelAlias._meta.db_table} a ON a.version_id = v.id AND a.model_id = v.model_id AND a.alias = %s"
        params.append(alias)
    params += [model_key, user.pk]
    if alias is not None:
        which = ""
    elif isinstance(version, int):
        which, params = "AND v.version = %s", [*params, version]
    else:
        try:
            which, params = "AND v.id = %s", [*params, uuid_field.get_db_prep_value(version, connection)]
        except (ValueError, TypeError, AttributeError):
            return None
    sql = f"""
        SELECT v.id, v.version, v.format, m.id, m.team_id,
            (SELECT e.id FROM {versions} e
             WHERE e.parent_id = v.id AND e.format = 'onnx' AND e.status = 'ready' AND {optimization} = 'export'
             ORDER BY e.version DESC LIMIT 1)
        FROM {versions} v JOIN {models} m ON m.id = v.model_id {join}
        WHERE v.model_id = %s AND m.deleted_at IS NULL
          AND m.team_id IN (SELECT team_id FROM {Membership._meta.db_table} WHERE user_id = %s) {which}
        LIMIT 1"""
    if connection.vendor == "postgresql":  # a prepared statement: planned once per connection, not per request
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            row = cursor.fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        return None
    keys = ("pk", "version", "format", "model_id", "team_id", "onnx_export")
    out = dict(zip(keys, row, strict=True))
    for key in ("pk", "model_id", "onnx_export"):  # SQLite gives UUIDs as hex text
        if out[key] is not None and not isinstance(out[key], uuid.UUID):
            out[key] = uuid.UUID(str(out[key]))
    return out


def visible_model_id(*, user: User, pk) -> uuid.UUID | None:
    """The id of the model `pk` when it is one of the caller's teams' models, else None (also for a bad id)."""
    try:
        return (
            RegisteredModel.objects.filter(pk=pk, team__in=team_ids_for_user(user)).values_list("pk", flat=True).first()
        )
    except (ValueError, TypeError, ValidationError):
        return None


def predictions_for_user(*, user: User) -> QuerySet[PredictionLog]:
    """Predictions served by your teams' models, newest first."""
    return (
        PredictionLog.objects.filter(team__in=team_ids_for_user(user), model__deleted_at__isnull=True)
        .select_related("model_version", "created_by", "feedback_by")
        .order_by("-created_at")
    )


def prediction_for_user(*, user: User, pk) -> PredictionLog:
    return get_object_or_404(predictions_for_user(user=user).select_related("model__team"), pk=pk)


def version_of_model(
    *, user: User, model: RegisteredModel, ref: int | uuid.UUID, field: str = "version"
) -> ModelVersion:
    """One version of `model` (already checked to be the caller's) by number (int) or id (UUID); a version the
    model does not have is a 400 naming `field` (the version is input, the model is the URL)."""
    versions = versions_for_user(user=user).filter(model=model)
    found = versions.filter(version=ref).first() if isinstance(ref, int) else versions.filter(pk=ref).first()
    if found is None:
        raise ValidationError({field: [f"Model '{model.name}' has no version {ref}."]})
    return found


def lacks_architecture_spec(*, model) -> bool:
    """Whether every version of `model` is a brought ONNX graph (none with an Eco architecture spec): such a
    model cannot be retrained by Eco. A model with no versions yet can be (its first train job makes one)."""
    versions = ModelVersion.objects.filter(model=model)
    return versions.exists() and not versions.filter(spec__has_key="architecture").exists()
