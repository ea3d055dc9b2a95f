import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from jobs_app import kinds

# The kinds come from their registry (jobs_app/kinds/__init__.py): JobKind.TRAIN == "train", and so on.
JobKind = models.TextChoices("JobKind", [(name.upper(), name) for name in kinds.NAMES])


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Job(models.Model):
    """A unit of work run by a Celery worker. Its state lives here, not in a Celery result backend.

    `task_id` names the one Celery delivery that may work on the job now: a re-queued job gets a new one, so
    a stale redelivery of an older message finds a different id and does nothing. `attempt_token_hash` names
    the one attempt whose worker may write the job's metrics (see jobs_app.attempts). A job of a kind that runs
    outside the workers (`tracking`) is running once submitted and its creator ends it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("accounts_app.Team", on_delete=models.PROTECT, related_name="jobs")
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    spec = models.JSONField(default=dict)
    priority = models.SmallIntegerField(default=0)
    resources = models.JSONField(default=dict, blank=True)
    max_retries = models.PositiveSmallIntegerField(default=0)
    timeout_s = models.PositiveIntegerField(null=True, blank=True)
    progress = models.FloatField(default=0.0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    pool = models.CharField(max_length=64, default="cpu")
    task_id = models.CharField(max_length=64, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When the current delivery was queued.")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the broker took the current delivery.")
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    preempt_requested_at = models.DateTimeField(
        null=True, blank=True, help_text="Admission asked the running job to checkpoint and give its place back."
    )
    checkpoint = models.CharField(max_length=300, blank=True, help_text="Storage name of the latest checkpoint.")
    attempt_token_hash = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the current attempt's credential (jobs_app.attempts)."
    )
    outputs = models.JSONField(default=dict, blank=True)
    units = models.PositiveSmallIntegerField(
        default=1, help_text="What the job holds of its pool while admitted: GPUs on a GPU pool, else slots."
    )
    gpus = models.PositiveSmallIntegerField(default=0)
    admitted_at = models.DateTimeField(
        null=True, blank=True, help_text="When admission let the job through to the broker (empty: it waits)."
    )
    queue_reason = models.CharField(max_length=300, blank=True, help_text="Why admission holds the job back.")
    gpu_seconds = models.FloatField(default=0.0, help_text="GPUs × wall time of its attempts.")
    cpu_seconds = models.FloatField(default=0.0, help_text="CPU time its worker processes used.")
    trigger_run = models.ForeignKey(
        "TriggerRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
        help_text="The retrain run this job is a step of.",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # a tracking run's own: the experiment it belongs to, its name and tags (MLflow's protocol sets them)
    experiment = models.ForeignKey(
        "Experiment", null=True, blank=True, on_delete=models.PROTECT, related_name="runs", help_text="A run's."
    )
    name = models.CharField(max_length=250, blank=True, help_text="A run's name.")
    tags = models.JSONField(default=dict, blank=True, help_text="A run's tags: {key: string value}.")
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="A run deleted (soft): hidden from searches until restored."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["team", "status"], name="job_team_status"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            # admission: each team's best waiting job of a pool, and what each team holds of it
            models.Index(
                fields=["pool", "team", "-priority", "created_at"],
                condition=Q(status="queued", admitted_at__isnull=True),
                name="job_waiting",
            ),
            models.Index(
                fields=["pool", "team"],
                condition=Q(admitted_at__isnull=False, status__in=["queued", "running"]),
                name="job_admitted",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=JobKind.values), name="job_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="job_status_valid"),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="job_progress_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class JobLog(models.Model):
    """One line of a job's log. `id` is the cursor for `GET /jobs/{id}/logs/?after=N`."""

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    time = models.DateTimeField(default=timezone.now)
    line = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["job", "id"], name="joblog_job_id")]

    def __str__(self) -> str:
        return self.line[:80]


CHUNK_STEPS = 64


class MetricChunk(models.Model):
    """The points of one metric series (job, key) whose steps fall in one block of CHUNK_STEPS consecutive steps
    (block = step // CHUNK_STEPS), stored as one row: the points as packed columns in step order, and the block's
    count, first and last point and extremes, which answer counts, summaries and downsampled reads without
    unpacking the points.

    One row per block rather than per point: a 1,000-point request from a training loop (four keys, 250 steps)
    writes about 20 rows, and a read of 100,000 points reads about 1,600. The columns are big-endian, as
    PostgreSQL's own send functions write them: `step_bytes` int64 steps, `value_bytes` float64 values,
    `time_bytes` int64 microseconds since the Unix epoch (each point's recorded time); jobs_app.metrics packs
    and unpacks them."""

    pk = models.CompositePrimaryKey("job_id", "key", "block")
    # no index of its own: the primary key starts with job_id
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="metric_chunks", db_index=False)
    key = models.CharField(max_length=100)
    block = models.BigIntegerField(help_text="step // CHUNK_STEPS")
    count = models.IntegerField()
    first_step = models.BigIntegerField()
    last_step = models.BigIntegerField()
    last_value = models.FloatField()
    min_step = models.BigIntegerField(help_text="the step of the lowest value, the earliest on ties")
    min_value = models.FloatField()
    max_step = models.BigIntegerField(help_text="the step of the highest value, the earliest on ties")
    max_value = models.FloatField()
    step_bytes = models.BinaryField()
    value_bytes = models.BinaryField()
    time_bytes = models.BinaryField()

    def __str__(self) -> str:
        return f"{self.key}[{self.block}]"


class RetrainTrigger(models.Model):
    """A retrain policy: when `min_feedback` new labelled predictions of `model` have arrived, run
    snapshot (base + feedback) -> train (`train` spec) -> evaluate on the gate's pinned set -> promote to
    `promote_if.alias` if the model's gate passes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("accounts_app.Team", on_delete=models.PROTECT, related_name="triggers")
    name = models.CharField(max_length=200, blank=True)
    model = models.ForeignKey("models_app.RegisteredModel", on_delete=models.CASCADE, related_name="triggers")
    base_dataset_version = models.ForeignKey(
        "datasets_app.DatasetVersion", on_delete=models.RESTRICT, related_name="triggers"
    )
    min_feedback = models.PositiveIntegerField(default=100)
    train = models.JSONField(default=dict, help_text="The train spec, less dataset_version and model.")
    promote_if = models.JSONField(default=dict, help_text='{"alias": "production"}: promote if the gate passes.')
    enabled = models.BooleanField(default=True)
    feedback_seen_until = models.DateTimeField(
        null=True, blank=True, help_text="Feedback up to this time went into a run already."
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(min_feedback__gte=1), name="trigger_min_feedback_positive")]

    def __str__(self) -> str:
        return self.name or f"retrain {self.model_id}"


class RunStatus(models.TextChoices):
    RUNNING = "running"
    PROMOTED = "promoted"
    NOT_PROMOTED = "not_promoted"
    FAILED = "failed"


class TriggerRun(models.Model):
    """One pass of a retrain trigger; each step is a job linked here (`jobs`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trigger = models.ForeignKey(RetrainTrigger, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    step = models.CharField(max_length=16, default="snapshot")
    feedback_until = models.DateTimeField(help_text="Labelled predictions up to this time are in the snapshot.")
    feedback_count = models.PositiveIntegerField(default=0, help_text="New labelled predictions that started it.")
    dataset_version = models.ForeignKey(
        "datasets_app.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.ForeignKey(
        "models_app.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    gate_checks = models.JSONField(default=list, blank=True, help_text="Failed gate checks, when not promoted.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="trigger_run_status_valid"),
            # one run of a trigger at a time
            models.UniqueConstraint(fields=["trigger"], condition=Q(status="running"), name="trigger_one_running_run"),
        ]

    def __str__(self) -> str:
        return f"run of {self.trigger} ({self.status})"


class OutputKind(models.TextChoices):
    DATASET_VERSION = "dataset_version"
    MODEL_VERSION = "model_version"
    EVALUATION = "evaluation"


class JobOutput(models.Model):
    """Provenance: a registry object a job made (a dataset version, a model version, an evaluation). The lower
    apps hold no key to jobs; they read this through their selectors (by `apps.get_model`), jobs_app through
    its own. At most one output of each kind per job (a redelivered task cannot register a second one), and
    an object comes from at most one job."""

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="output_links")
    kind = models.CharField(max_length=32, choices=OutputKind.choices)
    object_id = models.UUIDField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "kind"], name="job_output_one_per_kind"),
            models.UniqueConstraint(fields=["kind", "object_id"], name="job_output_one_job_per_object"),
            models.CheckConstraint(condition=Q(kind__in=OutputKind.values), name="job_output_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} from job {self.job_id}"


class Accelerator(models.TextChoices):
    CPU = "cpu", "CPU"
    GPU = "gpu", "GPU"


class ResourcePool(models.Model):
    """A set of workers that consume one Celery queue, and how much of it jobs may hold at once: `capacity` GPUs
    (a GPU pool) or slots (a CPU pool; a job holds one). A pool named in settings.ECO_POOLS without a row here
    has no capacity limit (team quotas still apply)."""

    name = models.SlugField(max_length=64, unique=True)
    queue = models.CharField(max_length=64, help_text="The Celery queue its workers consume (usually the name).")
    accelerator = models.CharField(max_length=8, choices=Accelerator.choices, default=Accelerator.CPU)
    capacity = models.PositiveIntegerField(help_text="GPUs (GPU pool) or job slots (CPU pool) held at once.")
    preemption_grace_s = models.PositiveIntegerField(
        default=60, help_text="How long a preempted job has to checkpoint and stop."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(accelerator__in=Accelerator.values), name="pool_accelerator_valid")
        ]

    def __str__(self) -> str:
        unit = "GPU" if self.accelerator == Accelerator.GPU else "slot"
        return f"{self.name} ({self.capacity} {unit}{'s' if self.capacity != 1 else ''})"


class TeamQuota(models.Model):
    """What one team may hold of one pool, and its share of it. Empty limits are unlimited. `weight` is the
    team's fair share: admission lets through first the team whose current use of the pool divided by its
    weight is lowest (jobs_app.services.admission)."""

    team = models.ForeignKey("accounts_app.Team", on_delete=models.CASCADE, related_name="quotas")
    pool = models.ForeignKey(ResourcePool, on_delete=models.CASCADE, related_name="quotas")
    weight = models.FloatField(default=1.0)
    max_concurrent_jobs = models.PositiveIntegerField(null=True, blank=True)
    max_gpus = models.PositiveIntegerField(null=True, blank=True, help_text="GPUs held at once.")
    gpu_hours_per_month = models.FloatField(null=True, blank=True)
    cpu_hours_per_month = models.FloatField(null=True, blank=True)
    storage_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Bytes the team's data sets and models may hold (the smallest of its quotas)."
    )

    class Meta:
        ordering = ["pool__name", "team__slug"]
        constraints = [
            models.UniqueConstraint(fields=["team", "pool"], name="quota_one_per_team_pool"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="quota_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.team} on {self.pool.name}"


class TeamMonthUsage(models.Model):
    """What a team's jobs used of a pool in one calendar month (UTC), added up as their attempts end."""

    team = models.ForeignKey("accounts_app.Team", on_delete=models.CASCADE, related_name="month_usage")
    pool = models.CharField(max_length=64)
    month = models.DateField(help_text="The first day of the month.")
    gpu_seconds = models.FloatField(default=0.0)
    cpu_seconds = models.FloatField(default=0.0)
    jobs = models.PositiveIntegerField(default=0, help_text="Attempts that ended this month.")

    class Meta:
        ordering = ["-month", "team__slug", "pool"]
        constraints = [models.UniqueConstraint(fields=["team", "pool", "month"], name="usage_one_per_month")]

    def __str__(self) -> str:
        return f"{self.team} on {self.pool}, {self.month:%Y-%m}"


class JobArtifact(models.Model):
    """A file a tracking run logged (`run.log_artifact`, `run.log_text`) under a relative `path` unique in its
    job; logging the path again points it at the new file. The content is a content-addressed blob."""

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=255)
    blob = models.ForeignKey("datasets_app.Blob", on_delete=models.PROTECT, related_name="+")
    size_bytes = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["job", "path"], name="job_artifact_path_unique")]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.path}"


class MetricBatch(models.Model):
    """A batch of metric points a client sent with its own `batch_id`, recorded in the transaction that wrote
    the points: the same batch sent again (a retry after a lost answer) is recognised and writes nothing."""

    pk = models.CompositePrimaryKey("job_id", "batch_id")  # unique (job, batch_id), and the index the check uses
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="metric_batches", db_index=False)
    batch_id = models.CharField(max_length=64)
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.job_id}:{self.batch_id}"


class LifecycleStage(models.TextChoices):
    ACTIVE = "active"
    DELETED = "deleted"


class Experiment(models.Model):
    """A team's named group of tracking runs (MLflow's experiment). Each team has a default one
    (DEFAULT_EXPERIMENT), made when first asked for. Deleting is soft (`lifecycle_stage`), as in MLflow."""

    id = models.BigAutoField(primary_key=True)
    team = models.ForeignKey("accounts_app.Team", on_delete=models.PROTECT, related_name="experiments")
    name = models.CharField(max_length=250)
    lifecycle_stage = models.CharField(max_length=8, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE)
    tags = models.JSONField(default=dict, blank=True, help_text="{key: string value}")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="experiment_team_name_unique"),
            models.CheckConstraint(
                condition=Q(lifecycle_stage__in=LifecycleStage.values), name="experiment_lifecycle_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team_id}/{self.name}"


DEFAULT_EXPERIMENT = "Default"


class LoggedModelStatus(models.TextChoices):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class LoggedModel(models.Model):
    """A model a tracking run logged through MLflow 3's client (`mlflow.<flavor>.log_model`): an MLflow model
    folder (its `MLmodel` file, the weights, the environment files) kept as the run's artifacts under
    `models/<id>/` (`artifact_prefix`), so the run's artifact list and quota count them. `status` is pending
    while the client uploads the files, then ready (or failed). Registering it (`source` "models:/m-<id>")
    makes an Eco model version of the files (models_app.services.register_mlflow_version)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="logged_models")
    name = models.CharField(max_length=250)
    model_type = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=8, choices=LoggedModelStatus.choices, default=LoggedModelStatus.PENDING)
    status_message = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True, help_text="{key: string value}")
    params = models.JSONField(default=dict, blank=True, help_text="{key: string value}")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=LoggedModelStatus.values), name="logged_model_status_valid"),
        ]

    def __str__(self) -> str:
        return f"m-{self.pk.hex} ({self.name})"

    @property
    def artifact_prefix(self) -> str:
        """The run artifact path its files are kept under (no trailing slash)."""
        return f"models/m-{self.pk.hex}"
