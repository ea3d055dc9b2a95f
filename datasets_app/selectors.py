"""Reads of datasets_app, always scoped to the caller's teams."""

from django.db.models import Count, Max, QuerySet
from django.shortcuts import get_object_or_404

from accounts_app.models import User
from accounts_app.selectors import team_ids_for_user
from datasets_app import blobs
from datasets_app.models import Dataset, DatasetVersion
from ml import formats


def datasets_for_user(*, user: User) -> QuerySet[Dataset]:
    return (
        Dataset.objects.filter(team__in=team_ids_for_user(user))
        .select_related("team", "created_by")
        .annotate(num_versions=Count("versions"), latest_version=Max("versions__version"))
        .order_by("-created_at", "id")
    )


def dataset_for_user(*, user: User, pk) -> Dataset:
    return get_object_or_404(datasets_for_user(user=user), pk=pk)


def versions_for_user(*, user: User) -> QuerySet[DatasetVersion]:
    return (
        DatasetVersion.objects.filter(dataset__team__in=team_ids_for_user(user))
        .select_related("dataset__team", "blob", "created_by")
        .prefetch_related("parent_links")
        .defer("stats")  # may be large; only the stats endpoint reads it (services.version_stats)
    )


def version_for_user(*, user: User, pk) -> DatasetVersion:
    return get_object_or_404(versions_for_user(user=user), pk=pk)


def preview(*, version: DatasetVersion, limit: int, offset: int = 0) -> dict:
    """Rows `offset` to `offset + limit` of a version (see ml.formats.preview)."""
    with blobs.open_blob(version.blob) as fh:
        return formats.preview(fh, version.format, version.schema, limit=limit, offset=offset)


def lineage(*, user: User, version: DatasetVersion, max_depth: int = 50) -> dict:
    """Ancestors (breadth first, up to max_depth generations), direct children and the model versions trained
    on it, within the caller's teams."""
    visible = versions_for_user(user=user)
    ancestors, frontier, seen = [], [version.pk], {version.pk}
    for depth in range(1, max_depth + 1):
        parents = list(visible.filter(child_links__child_id__in=frontier).distinct())
        parents = [p for p in parents if p.pk not in seen]
        if not parents:
            break
        for parent in parents:
            seen.add(parent.pk)
            ancestors.append((depth, parent))
        frontier = [p.pk for p in parents]
    children = list(visible.filter(parent_links__parent_id=version.pk).distinct())
    # model versions trained on it (models_app's link table, reached by its reverse name: no import), of the
    # caller's teams only: a model of a team the caller is not in is not theirs to learn about
    links = (
        version.model_links.filter(model_version__model__team__in=team_ids_for_user(user))
        .select_related("model_version__model")
        .order_by("model_version__created_at", "model_version_id")
    )
    models = [
        {
            "id": str(link.model_version_id),
            "model": str(link.model_version.model_id),
            "model_name": link.model_version.model.name,
            "version": link.model_version.version,
        }
        for link in links
    ]
    return {"version": version, "ancestors": ancestors, "children": children, "models": models}
