"""Every write of models_app: registered models, versions (uploaded or produced by jobs) and aliases."""

from collections.abc import Iterable
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError, RestrictedError
from django.http import Http404
from django.utils import timezone

from accounts_app.models import Team, User
from accounts_app.services import record_audit
from config.errors import Conflict
from config.jsonsafe import unsafe_text
from datasets_app import blobs
from datasets_app.models import DatasetVersion
from ml.artifacts import ArtifactError, check_weights_fit_spec, inspect_safetensors, validate_spec
from models_app.models import Evaluation, ModelAlias, ModelVersion, ModelVersionDataset, RegisteredModel

EDITABLE_FIELDS = {"name", "description", "card"}


def _duplicate_name(team: Team, name: str) -> ValidationError:
    return ValidationError({"name": [f"Team '{team.slug}' already has a model named '{name}'."]})


@transaction.atomic
def create_model(
    *, actor: User, team: Team, name: str, task: str, description: str = "", card: str = ""
) -> RegisteredModel:
    if RegisteredModel.objects.filter(team=team, name=name).exists():
        raise _duplicate_name(team, name)
    model = RegisteredModel(team=team, name=name, task=task, description=description, card=card, created_by=actor)
    model.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            model.save()
    except IntegrityError as exc:
        raise _duplicate_name(team, name) from exc
    record_audit(actor=actor, action="model.create", team=team, target=model, data={"name": name})
    return model


@transaction.atomic
def update_model(*, actor: User, model: RegisteredModel, **changes) -> RegisteredModel:
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError({field: ["This field cannot be changed."] for field in unknown})
    model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
    if (
        "name" in changes
        and RegisteredModel.objects.filter(team_id=model.team_id, name=changes["name"]).exclude(pk=model.pk).exists()
    ):
        raise _duplicate_name(model.team, changes["name"])
    for field, value in changes.items():
        setattr(model, field, value)
    model.updated_at = timezone.now()
    model.full_clean(validate_constraints=False)
    model.save()
    return model


@transaction.atomic
def delete_model(*, actor: User, model: RegisteredModel) -> None:
    shas = set(model.versions.values_list("blob_id", flat=True))
    try:
        with transaction.atomic():
            model.delete()
    except (ProtectedError, RestrictedError) as exc:
        blocking = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", ())
        uses = sorted({str(obj) for obj in blocking})
        raise Conflict(f"Model '{model.name}' is still in use: {'; '.join(uses[:10])}", checks=uses) from None
    record_audit(actor=actor, action="model.delete", team=model.team, data={"name": model.name, "id": str(model.pk)})
    transaction.on_commit(lambda: blobs.collect_garbage(shas), robust=True)


def register_version(
    *,
    actor: User | None,
    model: RegisteredModel,
    weights_path: str | Path,
    weights: File,
    spec,
    sha256: str | None = None,
    metrics: dict | None = None,
    params: dict | None = None,
    dataset_versions: Iterable[DatasetVersion] = (),
    description: str = "",
    job=None,
    parent: ModelVersion | None = None,
) -> ModelVersion:
    """Validate safetensors weights + architecture spec and record them as the model's next version."""
    try:
        facts = inspect_safetensors(weights_path)
    except ArtifactError as exc:
        raise ValidationError({"weights": [str(exc)]}) from None
    try:
        spec = validate_spec(spec)
    except ArtifactError as exc:
        raise ValidationError({"spec": [str(exc)]}) from None
    for field, value in (("weights", facts), ("spec", spec), ("metrics", metrics), ("params", params)):
        if problem := unsafe_text(value, field):
            raise ValidationError({field: [f"{problem}."]})
    try:
        check_weights_fit_spec(spec, facts["tensors"])
    except ArtifactError as exc:
        raise ValidationError({"weights": [str(exc)]}) from None
    dataset_versions = list(dataset_versions)
    for dv in dataset_versions:
        if dv.dataset.team_id != model.team_id:
            raise ValidationError({"dataset_versions": [f"Dataset version {dv.pk} does not exist."]})
    if sha256 is None:
        sha256, _ = blobs.hash_path(weights_path)
    size = Path(weights_path).stat().st_size

    with blobs.stored(weights, sha256=sha256, size=size) as blob:
        locked = RegisteredModel.objects.select_for_update().filter(pk=model.pk).first()
        if locked is None:  # deleted while the weights were being checked
            raise Http404("The model no longer exists.")
        number = (locked.versions.aggregate(n=Max("version"))["n"] or 0) + 1
        version = ModelVersion.objects.create(
            model=locked,
            version=number,
            blob=blob,
            spec=spec,
            tensors=facts["tensors"],
            num_parameters=facts["num_parameters"],
            metrics=metrics or {},
            params=params or {},
            description=description,
            job=job,
            parent=parent,
            created_by=actor,
        )
        ModelVersionDataset.objects.bulk_create(
            [ModelVersionDataset(model_version=version, dataset_version=dv) for dv in dataset_versions]
        )
        RegisteredModel.objects.filter(pk=locked.pk).update(updated_at=timezone.now())
    return version


def create_version_from_upload(
    *,
    actor: User,
    model: RegisteredModel,
    weights,
    spec,
    metrics=None,
    params=None,
    dataset_versions=(),
    description: str = "",
) -> ModelVersion:
    return register_version(
        actor=actor,
        model=model,
        weights_path=weights.temporary_file_path(),
        weights=weights,
        spec=spec,
        sha256=getattr(weights, "sha256", None),
        metrics=metrics,
        params=params,
        dataset_versions=dataset_versions,
        description=description,
    )


@transaction.atomic
def set_alias(*, actor: User, model: RegisteredModel, alias: str, version: ModelVersion) -> ModelAlias:
    if version.model_id != model.pk:
        raise ValidationError({"version": [f"Version {version.pk} is not a version of model '{model.name}'."]})
    RegisteredModel.objects.select_for_update().get(pk=model.pk)  # one alias move at a time per model
    current = ModelAlias.objects.filter(model=model, alias=alias).first()
    previous = current.version_id if current else None
    if current is None:
        current = ModelAlias(model=model, alias=alias)
    current.version = version
    current.updated_by = actor
    current.updated_at = timezone.now()
    current.full_clean(validate_constraints=False)
    current.save()
    record_audit(
        actor=actor,
        action="alias.set",
        team=model.team,
        target=current,
        data={
            "model": str(model.pk),
            "alias": alias,
            "version": str(version.pk),
            "previous": str(previous) if previous else None,
        },
    )
    return current


@transaction.atomic
def delete_alias(*, actor: User, alias: ModelAlias) -> None:
    record_audit(
        actor=actor,
        action="alias.delete",
        team=alias.model.team,
        target=alias,
        data={"model": str(alias.model_id), "alias": alias.alias, "version": str(alias.version_id)},
    )
    alias.delete()


HEADLINE_METRICS = ("accuracy", "r2")


def record_evaluation(
    *,
    actor: User | None,
    model_version: ModelVersion,
    dataset_version: DatasetVersion,
    split: str,
    metrics: dict,
    num_rows: int,
    job=None,
) -> Evaluation:
    """Store an evaluation's metrics; its score is the headline metric (accuracy, or R² for regression)."""
    metric = next((m for m in HEADLINE_METRICS if m in metrics), "")
    if problem := unsafe_text(metrics, "metrics"):
        raise ValidationError({"metrics": [f"{problem}."]})
    return Evaluation.objects.create(
        model_version=model_version,
        dataset_version=dataset_version,
        split=split,
        metric=metric,
        score=metrics.get(metric),
        metrics=metrics,
        num_rows=num_rows,
        job=job,
        created_by=actor,
    )
