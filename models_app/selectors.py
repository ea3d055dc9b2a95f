"""Reads of models_app, always scoped to the caller's teams."""

from django.db.models import Count, Max, Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from accounts_app.models import User
from accounts_app.selectors import team_ids_for_user
from models_app.models import ModelAlias, ModelVersion, RegisteredModel


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
