"""Reads of models_app, always scoped to the caller's teams."""

from django.db.models import Count, F, Max, OuterRef, Prefetch, QuerySet, Subquery
from django.shortcuts import get_object_or_404

from accounts_app.models import User
from accounts_app.selectors import team_ids_for_user
from models_app.models import (
    Evaluation,
    GatePolicy,
    ModelAlias,
    ModelVersion,
    PredictionLog,
    RegisteredModel,
    VersionStatus,
    WeightsFormat,
)


def models_for_user(*, user: User) -> QuerySet[RegisteredModel]:
    return (
        RegisteredModel.objects.filter(team__in=team_ids_for_user(user))
        .select_related("team", "created_by")
        .annotate(num_versions=Count("versions", distinct=True), latest_version=Max("versions__version"))
        .order_by("-created_at", "id")
        .prefetch_related(Prefetch("aliases", queryset=ModelAlias.objects.order_by("alias")))
    )


def model_for_user(*, user: User, pk) -> RegisteredModel:
    return get_object_or_404(models_for_user(user=user), pk=pk)


def versions_for_user(*, user: User) -> QuerySet[ModelVersion]:
    return (
        ModelVersion.objects.filter(model__team__in=team_ids_for_user(user))
        .select_related("model__team", "blob", "created_by")
        .prefetch_related("dataset_links", Prefetch("aliases", queryset=ModelAlias.objects.order_by("alias")))
    )


def version_for_user(*, user: User, pk) -> ModelVersion:
    return get_object_or_404(versions_for_user(user=user), pk=pk)


def alias_for_user(*, user: User, model_pk, alias: str) -> ModelAlias:
    return get_object_or_404(
        ModelAlias.objects.filter(model__team__in=team_ids_for_user(user)).select_related("model__team"),
        model_id=model_pk,
        alias=alias,
    )


def evaluations_for_user(*, user: User) -> QuerySet[Evaluation]:
    """Evaluations of your teams' model versions, newest first."""
    return Evaluation.objects.filter(model_version__model__team__in=team_ids_for_user(user)).select_related(
        "model_version__model__team", "dataset_version__dataset", "created_by"
    )


def leaderboard(queryset: QuerySet[Evaluation]) -> QuerySet[Evaluation]:
    """Best first by the headline score (accuracy, or R²), ties broken by the older evaluation."""
    return queryset.order_by(F("score").desc(nulls_last=True), "created_at")


def gate_for_user(*, user: User, model_pk) -> GatePolicy:
    return get_object_or_404(
        GatePolicy.objects.filter(model__team__in=team_ids_for_user(user)).select_related(
            "model__team", "dataset_version__dataset", "updated_by"
        ),
        model_id=model_pk,
    )


def onnx_export_of(version_ref) -> QuerySet:
    """The newest ONNX export (fp32, made by an export job) of a version, as a one-row subquery of its id."""
    return (
        ModelVersion.objects.filter(
            parent=version_ref, format=WeightsFormat.ONNX, params__optimization="export", status=VersionStatus.READY
        )
        .order_by("-version")
        .values("pk")[:1]
    )


def serving_target(*, user: User, model_pk, alias: str | None = None, version=None) -> dict | None:
    """One query: the version a predict request names (by alias, number or id) among the caller's models,
    with its ONNX export if it has one. None when there is no such version."""
    qs = ModelVersion.objects.filter(model_id=model_pk, model__team__in=team_ids_for_user(user))
    if alias is not None:
        qs = qs.filter(aliases__alias=alias)
    elif isinstance(version, int):
        qs = qs.filter(version=version)
    else:
        qs = qs.filter(pk=version)
    return (
        qs.annotate(onnx_export=Subquery(onnx_export_of(OuterRef("pk"))))
        .values("pk", "version", "format", "onnx_export", "model__team_id")
        .first()
    )


def predictions_for_user(*, user: User) -> QuerySet[PredictionLog]:
    """Predictions served by your teams' models, newest first."""
    return (
        PredictionLog.objects.filter(team__in=team_ids_for_user(user))
        .select_related("model_version", "created_by", "feedback_by")
        .order_by("-created_at")
    )


def prediction_for_user(*, user: User, pk) -> PredictionLog:
    return get_object_or_404(predictions_for_user(user=user).select_related("model__team"), pk=pk)
