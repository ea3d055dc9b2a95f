import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from accounts_app.names import validate_name
from datasets_app.models import AllManager, LiveManager, Task

alias_validator = RegexValidator(
    r"^[a-z][a-z0-9_-]{0,49}$", "Use 1-50 lowercase letters, digits, '-' or '_', starting with a letter."
)


MAX_CARD_CHARS = 100_000
"""The longest model card (Markdown, in characters) a model may hold: a long document, not a data store."""


NO_TASK = ""
"""The task of a model registered through MLflow's client, which names none: its versions are stored and
aliased, and an ONNX version with a signature gives the model its task (models_app.services.register_mlflow_version)."""


class RegisteredModel(models.Model):
    """A team's model. Deleting it stamps `deleted_at` (soft delete, datasets_app.retention): it is hidden at
    once and purged after ECO_RETENTION_DAYS unless a staff user restores it first."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("accounts_app.Team", on_delete=models.PROTECT, related_name="models")
    name = models.CharField(max_length=200, validators=[validate_name])
    description = models.TextField(blank=True)
    task = models.CharField(
        max_length=32,
        choices=Task.choices,
        blank=True,
        help_text="Empty only for a model registered through MLflow's client without one (NO_TASK).",
    )
    tags = models.JSONField(default=dict, blank=True, help_text="{key: string value} (MLflow's model tags).")
    card = models.TextField(blank=True, help_text="Model card (Markdown): intended use, data, limits, ethics.")
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
            models.UniqueConstraint(  # among the models not deleted: a deleted one's name is free again
                F("team"),
                Lower("name"),
                condition=Q(deleted_at__isnull=True),
                name="model_unique_team_lower_name",
                violation_error_message="The team already has a model of this name (names ignore case).",
            ),
            models.CheckConstraint(condition=Q(task__in=[*Task.values, NO_TASK]), name="model_task_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class VersionStatus(models.TextChoices):
    READY = "ready"
    ARCHIVED = "archived"


class WeightsFormat(models.TextChoices):
    SAFETENSORS = "safetensors"
    ONNX = "onnx"
    TORCHSCRIPT = "torchscript"
    HF = "hf"  # a Hugging Face checkpoint folder: its files are ModelVersionFile rows
    MLFLOW = "mlflow"  # an MLflow model folder Eco stores but never loads (pickled flavours): ModelVersionFile rows


class ModelVersion(models.Model):
    """An immutable, numbered set of weights with its architecture spec, metrics, params and lineage."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.READY)
    format = models.CharField(max_length=16, choices=WeightsFormat.choices, default=WeightsFormat.SAFETENSORS)
    blob = models.ForeignKey("datasets_app.Blob", on_delete=models.PROTECT, related_name="model_versions")
    spec = models.JSONField(default=dict, help_text="Architecture spec (JSON) that rebuilds the network.")
    tensors = models.JSONField(default=dict, blank=True, help_text="Tensor names, dtypes and shapes.")
    num_parameters = models.BigIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True, help_text="{key: string value} (MLflow's version tags).")
    source = models.CharField(
        max_length=500, blank=True, help_text="Where a version registered through MLflow came from (models:/m-...)."
    )
    dataset_versions = models.ManyToManyField(
        "datasets_app.DatasetVersion", through="ModelVersionDataset", related_name="model_versions", blank=True
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.RESTRICT, related_name="derived")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="model_version_unique_number"),
            models.CheckConstraint(condition=Q(version__gte=1), name="model_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.version}"


class ModelVersionFile(models.Model):
    """One file of a version stored as a folder (format `hf`: config.json, the safetensors weights, the
    tokenizer's files), by its name in the folder. The version's own `blob` is its weights file."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    blob = models.ForeignKey("datasets_app.Blob", on_delete=models.PROTECT, related_name="model_version_files")

    class Meta:
        ordering = ["model_version", "name"]
        constraints = [models.UniqueConstraint(fields=["model_version", "name"], name="mv_file_unique_name")]

    def __str__(self) -> str:
        return f"{self.model_version}: {self.name}"


class ModelVersionDataset(models.Model):
    """The dataset versions a model version was trained on. A dataset version in use cannot be deleted."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="dataset_links")
    dataset_version = models.ForeignKey(
        "datasets_app.DatasetVersion", on_delete=models.RESTRICT, related_name="model_links"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "dataset_version"], name="mv_dataset_unique_pair")
        ]

    def __str__(self) -> str:
        return f"{self.model_version} was trained on {self.dataset_version}"


class ModelAlias(models.Model):
    """A movable name ("production", "staging") that points at one version of a model."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=50, validators=[alias_validator])
    version = models.ForeignKey(ModelVersion, on_delete=models.RESTRICT, related_name="aliases")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model", "alias"]
        constraints = [models.UniqueConstraint(fields=["model", "alias"], name="model_alias_unique")]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.alias}"


class Split(models.TextChoices):
    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"
    ALL = "all"


class Evaluation(models.Model):
    """Metrics of one model version on one split of one dataset version, written by an evaluate job.
    `score` is the task's headline metric (accuracy, or R² for regression) so a leaderboard is one ORDER BY."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    dataset_version = models.ForeignKey(
        "datasets_app.DatasetVersion", on_delete=models.RESTRICT, related_name="evaluations"
    )
    split = models.CharField(max_length=16, choices=Split.choices, default=Split.TEST)
    metric = models.CharField(max_length=32, help_text="Name of the headline metric held in `score`.")
    score = models.FloatField(null=True)
    metrics = models.JSONField(default=dict)
    num_rows = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["dataset_version", "split", "score"], name="evaluation_leaderboard")]
        constraints = [
            models.CheckConstraint(condition=Q(split__in=Split.values), name="evaluation_split_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} on {self.dataset_version} ({self.split}): {self.metric}={self.score}"


class Direction(models.TextChoices):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


class GatePolicy(models.Model):
    """What a version must show before it may hold a protected alias ("production" by default): an evaluation
    on a pinned dataset version (ideally one no model trains on, split `all`) whose `metric` beats the current
    holder's by at least `min_gain` in `direction`, and a model card with the required sections."""

    model = models.OneToOneField(RegisteredModel, on_delete=models.CASCADE, related_name="gate")
    metric = models.CharField(max_length=32, default="accuracy")
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.MAXIMIZE)
    dataset_version = models.ForeignKey("datasets_app.DatasetVersion", on_delete=models.RESTRICT, related_name="gates")
    split = models.CharField(max_length=16, choices=Split.choices, default=Split.ALL)
    min_gain = models.FloatField(default=0.0)
    max_overlap = models.PositiveIntegerField(
        default=0,
        help_text="How many distinct rows of the pinned set a candidate's training data may share (leakage check).",
    )
    required_card_fields = models.JSONField(default=list, blank=True)
    aliases = models.JSONField(default=list, help_text="Aliases this gate protects.")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(direction__in=Direction.values), name="gate_direction_valid"),
            models.CheckConstraint(condition=Q(split__in=Split.values), name="gate_split_valid"),
        ]

    def __str__(self) -> str:
        return f"gate of {self.model}: {self.metric} ({self.direction}) +{self.min_gain}"


class RowHashes(models.Model):
    """A cache for the gates' leakage check (models_app.leakage): the sorted distinct 64-bit content hashes
    of a dataset version's rows over some of its columns (ml.rowhash; by default every column but the target),
    stored as little-endian bytes, 8 a row. Computed the first time a check needs them; a dataset version's
    file never changes, so neither do they (`algorithm` is ml.rowhash.VERSION: a new one is computed anew)."""

    dataset_version = models.ForeignKey("datasets_app.DatasetVersion", on_delete=models.CASCADE, related_name="+")
    columns_key = models.CharField(max_length=64, help_text="SHA-256 of the algorithm version and column list.")
    columns = models.JSONField(default=list, help_text="The columns hashed, in order.")
    algorithm = models.PositiveSmallIntegerField()
    num_rows = models.BigIntegerField(help_text="Rows read, duplicates included.")
    distinct_rows = models.BigIntegerField()
    hashes = models.BinaryField()
    seconds = models.FloatField(default=0.0, help_text="How long reading and hashing the file took.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset_version", "columns_key"], name="row_hashes_unique_columns"),
        ]

    def __str__(self) -> str:
        return f"row hashes of {self.dataset_version_id} ({self.distinct_rows} distinct rows)"


class PredictionLog(models.Model):
    """One served prediction: which version answered (and which runtime), the input as dataset columns, the
    output, the request's model latency, and the feedback label once someone gives it. Written in batches by
    a background writer, so `id` is chosen when the request is answered."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("accounts_app.Team", on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    alias = models.CharField(max_length=50, blank=True)
    runtime = models.CharField(max_length=16)
    input = models.JSONField()
    output = models.JSONField()
    latency_ms = models.FloatField(help_text="Encode + run + decode time of the request this prediction was in.")
    batch_size = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    feedback = models.JSONField(null=True, blank=True, help_text="The true label, once someone says it.")
    feedback_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    feedback_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["model", "-created_at"], name="prediction_model_time"),
            models.Index(fields=["model", "feedback_at"], name="prediction_model_feedback"),
        ]

    def __str__(self) -> str:
        return f"prediction {self.pk} of {self.model_version_id}"


class ServingRequest(models.Model):
    """One request to POST /models/{id}/predict/ by a caller who may see the model, whatever its outcome: served
    (2xx), refused (4xx: bad input, unknown alias or version...) or failed (5xx). `model_version` is the version
    that answered or was named (null when the request never got that far); `latency_ms` is the whole request's
    time in the view, in milliseconds; `rows` the number of inputs sent (0 when `inputs` was not a list);
    `error` the start of the error's detail. Written by a background writer (models_app.prediction_log), so
    logging costs the predict path no round trip."""

    id = models.BigAutoField(primary_key=True)
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="serving_requests")
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="serving_requests"
    )
    alias = models.CharField(max_length=50, blank=True)
    status_code = models.PositiveSmallIntegerField()
    latency_ms = models.FloatField()
    rows = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["model", "created_at"], name="serving_request_model_time")]

    def __str__(self) -> str:
        return f"{self.status_code} from {self.model_id} at {self.created_at}"
