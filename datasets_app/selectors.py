"""Reads of datasets_app, always scoped to the caller's teams."""

from collections.abc import Iterator

from django.db.models import Count, Max, QuerySet
from django.shortcuts import get_object_or_404

from accounts_app.models import ROLE_RANK, Role, User
from accounts_app.selectors import role_of, team_ids_for_user
from config.errors import Forbidden
from datasets_app import blobs
from datasets_app.models import Dataset, DatasetVersion, Sensitivity
from ml import formats
from ml.formats import safecsv

# The least team role that reads a data set's rows (preview, statistics, download, export), by sensitivity;
# any team role for the others. A state rule (it depends on the data set), listed in accounts_app.permissions.
ROWS_MIN_ROLE = {Sensitivity.RESTRICTED: Role.MAINTAINER}


def datasets_for_user(*, user: User) -> QuerySet[Dataset]:
    """The caller's teams' datasets, deleted ones left out (Dataset.objects: see datasets_app.retention)."""
    return (
        Dataset.objects.filter(team__in=team_ids_for_user(user))
        .select_related("team", "created_by")
        .annotate(num_versions=Count("versions"), latest_version=Max("versions__version"))
        .order_by("-created_at", "id")
    )


def dataset_for_user(*, user: User, pk) -> Dataset:
    return get_object_or_404(datasets_for_user(user=user), pk=pk)


def versions_for_user(*, user: User) -> QuerySet[DatasetVersion]:
    """The caller's teams' dataset versions, those of deleted datasets left out."""
    return (
        DatasetVersion.objects.filter(dataset__team__in=team_ids_for_user(user), dataset__deleted_at__isnull=True)
        .select_related("dataset__team", "blob", "created_by")
        .prefetch_related("parent_links")
        .defer("stats")  # may be large; only the stats endpoint reads it (services.version_stats)
    )


def version_for_user(*, user: User, pk) -> DatasetVersion:
    return get_object_or_404(versions_for_user(user=user), pk=pk)


def readable_version_for_user(*, user: User, pk) -> DatasetVersion:
    """A version whose rows the caller may read: 404 as `version_for_user`, then 403 (naming the sensitivity and
    the role it takes) for a data set whose sensitivity asks more than the caller's role (ROWS_MIN_ROLE:
    a restricted data set's rows are for maintainers and admins)."""
    version = version_for_user(user=user, pk=pk)
    check_rows_readable(user=user, dataset=version.dataset)
    return version


def check_rows_readable(*, user: User, dataset: Dataset) -> None:
    """Forbidden (403) when `dataset`'s sensitivity needs a higher team role than the caller's to read rows."""
    minimum = ROWS_MIN_ROLE.get(dataset.sensitivity)
    if minimum is None:
        return
    role = role_of(user=user, team=dataset.team)
    if role is None or ROLE_RANK[Role(role)] < ROLE_RANK[minimum]:
        raise Forbidden(
            f"Data set '{dataset.name}' is {dataset.sensitivity}: its rows (preview, statistics, download, export) "
            f"need the '{minimum}' role in team '{dataset.team.slug}'; you are '{role}'."
        )


def preview(*, version: DatasetVersion, limit: int, offset: int = 0) -> dict:
    """Rows `offset` to `offset + limit` of a version (see ml.formats.preview)."""
    with blobs.open_blob(version.blob) as fh:
        return formats.preview(fh, version.format, version.schema, limit=limit, offset=offset)


def safe_csv(*, version: DatasetVersion) -> Iterator[bytes]:
    """The version as spreadsheet-safe CSV, piece by piece (ml.formats.safecsv), for a streamed answer: the
    blob is opened when the first piece is asked for and closed after the last."""
    with blobs.open_blob(version.blob) as fh:
        yield from safecsv.chunks(fh, version.format, version.schema)


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
        version.model_links.filter(
            model_version__model__team__in=team_ids_for_user(user), model_version__model__deleted_at__isnull=True
        )
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


def _team_blobs(team):
    """The blobs a team's data sets, models and run artifacts hold (the upper apps' models by app label:
    datasets_app imports no app above it)."""
    from django.apps import apps
    from django.db.models import Q

    from datasets_app.models import Blob, DatasetVersion

    ModelVersion = apps.get_model("models_app", "ModelVersion")
    JobArtifact = apps.get_model("jobs_app", "JobArtifact")
    return Blob.objects.filter(
        Q(pk__in=DatasetVersion._base_manager.filter(dataset__team=team).values("blob_id"))
        | Q(pk__in=ModelVersion._base_manager.filter(model__team=team).values("blob_id"))
        | Q(pk__in=JobArtifact.objects.filter(job__team=team).values("blob_id"))
    )


def team_storage_bytes(*, team) -> int:
    """Bytes of the distinct blobs a team's data sets and models hold (soft-deleted ones too, until purged)."""
    from django.db.models import Sum

    return _team_blobs(team).aggregate(total=Sum("size_bytes"))["total"] or 0


def team_holds_blob(*, team, sha256: str) -> bool:
    return _team_blobs(team).filter(pk=sha256).exists()


def storage_quota_bytes(*, team) -> int | None:
    """The team's storage quota: the smallest `storage_bytes` among its pool quotas (jobs_app.TeamQuota); None
    when no quota sets one."""
    from django.apps import apps

    TeamQuota = apps.get_model("jobs_app", "TeamQuota")
    limits = TeamQuota.objects.filter(team=team, storage_bytes__isnull=False).values_list("storage_bytes", flat=True)
    return min(limits, default=None)
