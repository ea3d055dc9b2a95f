"""Reads of models_app, always scoped to the caller's teams."""

from django.db.models import Count, F, Max, Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from accounts_app.models import User
from accounts_app.selectors import team_ids_for_user
from models_app.models import Evaluation, ModelAlias, ModelVersion, RegisteredModel


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
