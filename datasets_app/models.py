import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from accounts_app.names import validate_name


class Blob(models.Model):
    """A stored file, addressed by the SHA-256 of its content (see datasets_app.blobs)."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size_bytes = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(size_bytes__gte=0), name="blob_size_non_negative")]

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.size_bytes} B)"


class Task(models.TextChoices):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    TEXT_CLASSIFICATION = "text-classification"
    IMAGE_CLASSIFICATION = "image-classification"


class Sensitivity(models.TextChoices):
    PUBLIC = "public"
    INTERNAL = "internal"
    RESTRICTED = "restricted"


class LiveManager(models.Manager):
    """The default manager of a soft-deletable model (a data set, a model; see datasets_app.retention): only
    the rows not deleted. `all_objects` sees them all (the admin, restore and purge); related access
    (`version.dataset`) and deletion cascades use Django's base manager, which sees them all too."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class AllManager(models.Manager):
    """Every row, deleted ones included (`all_objects` of a soft-deletable model)."""


class Dataset(models.Model):
    """A team's data set. Deleting it stamps `deleted_at` (soft delete, datasets_app.retention): it is hidden at
    once and purged after ECO_RETENTION_DAYS unless a staff user restores it first."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("accounts_app.Team", on_delete=models.PROTECT, related_name="datasets")
    name = models.CharField(max_length=200, validators=[validate_name])
    description = models.TextField(blank=True)
    task = models.CharField(max_length=32, choices=Task.choices)
    sensitivity = models.CharField(max_length=16, choices=Sensitivity.choices, default=Sensitivity.INTERNAL)
    license = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )

    objects = LiveManager()
    all_objects = AllManager()

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(  # among the data sets not deleted: a deleted one's name is free again
                F("team"),
                Lower("name"),
                condition=Q(deleted_at__isnull=True),
                name="dataset_unique_team_lower_name",
                violation_error_message="The team already has a dataset of this name (names ignore case).",
            ),
            models.CheckConstraint(condition=Q(task__in=Task.values), name="dataset_task_valid"),
            models.CheckConstraint(condition=Q(sensitivity__in=Sensitivity.values), name="dataset_sensitivity_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.team_id}/{self.name}"


class VersionStatus(models.TextChoices):
    READY = "ready"


class Source(models.TextChoices):
    UPLOAD = "upload"
    BUILTIN = "builtin"
    PROCESS = "process"
    FEEDBACK = "feedback"


class DatasetVersion(models.Model):
    """An immutable, numbered snapshot of a dataset: one file in blob storage plus what was learnt about it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="dataset_versions")
    format = models.CharField(max_length=8)
    filename = models.CharField(max_length=255, blank=True)
    target = models.CharField(max_length=200)
    schema = models.JSONField(default=dict)
    num_rows = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.READY)
    source = models.CharField(max_length=16, choices=Source.choices)
    source_detail = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    stats = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="Per-column statistics (ml.stats), computed the first time they are asked for; null until then.",
    )
    parents = models.ManyToManyField(
        "self", through="DatasetLineage", symmetrical=False, related_name="children", blank=True
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["dataset", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "version"], name="dataset_version_unique_number"),
            models.CheckConstraint(condition=Q(version__gte=1), name="dataset_version_positive"),
            models.CheckConstraint(condition=Q(num_rows__gte=0), name="dataset_version_rows_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.version}"


class DatasetLineage(models.Model):
    """child was derived from parent. A parent cannot be deleted while a child refers to it."""

    child = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="parent_links")
    parent = models.ForeignKey(DatasetVersion, on_delete=models.RESTRICT, related_name="child_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["child", "parent"], name="lineage_unique_pair"),
            models.CheckConstraint(condition=~Q(child=models.F("parent")), name="lineage_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.child} was derived from {self.parent}"
