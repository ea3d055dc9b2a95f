from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts_app.models import slug_validator
from jobs_app import metrics, selectors, specs
from jobs_app.models import Job, JobArtifact, JobKind, JobLog, RetrainTrigger, TriggerRun


class MetricSummarySerializer(serializers.Serializer):
    """One metric of a job, summed up for the runs table: its last point, its lowest and highest point (the
    earliest step on ties), how many points it has, and which way is better."""

    last = serializers.FloatField(allow_null=True, help_text="null: NaN or infinite (logged through MLflow)")
    last_step = serializers.IntegerField()
    min = serializers.FloatField(allow_null=True, help_text="null: -infinity, or every value NaN")
    min_step = serializers.IntegerField()
    max = serializers.FloatField(allow_null=True, help_text="null: infinity, or every value NaN")
    max_step = serializers.IntegerField()
    count = serializers.IntegerField()
    direction = serializers.ChoiceField(choices=metrics.DIRECTIONS, help_text="min: lower is better; max: higher")


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
        "description": 'The spec\'s scalar leaves by dot path: {"hyperparameters.lr": 0.01, "architecture": "mlp"} '
        "(no nulls, lists or ids of other objects).",
    }
)
class ParamsField(serializers.DictField):
    pass


class JobSerializer(serializers.ModelSerializer):
    """A job. In a list, `metric_summaries` of the whole page come from one query (the view passes them in
    the context as {job id: summaries}); elsewhere the job's own are read."""

    team = serializers.CharField(source="team.slug", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)
    cancel_requested = serializers.SerializerMethodField()
    metric_summaries = serializers.SerializerMethodField()
    params = serializers.SerializerMethodField()
    queue_reason = serializers.SerializerMethodField(
        help_text="Why a queued job waits (its team's quota, a full pool, its turn, a worker); null unless queued."
    )
    experiment = serializers.CharField(
        source="experiment_id", read_only=True, allow_null=True, help_text="A run's experiment id (MLflow's)."
    )
    experiment_name = serializers.CharField(source="experiment.name", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "team",
            "kind",
            "name",
            "experiment",
            "experiment_name",
            "tags",
            "status",
            "queue_reason",
            "admitted_at",
            "gpu_seconds",
            "cpu_seconds",
            "spec",
            "priority",
            "resources",
            "max_retries",
            "timeout_s",
            "progress",
            "attempts",
            "error",
            "worker",
            "outputs",
            "trigger_run",
            "cancel_requested",
            "heartbeat_at",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "metric_summaries",
            "params",
        ]
        read_only_fields = fields

    def get_cancel_requested(self, obj) -> bool:
        return obj.cancel_requested_at is not None

    def get_queue_reason(self, obj) -> str | None:
        return selectors.queue_reason(obj)

    @extend_schema_field(serializers.DictField(child=MetricSummarySerializer(), help_text="{metric key: summary}"))
    def get_metric_summaries(self, obj) -> dict:
        page = self.context.get("metric_summaries")
        if page is not None and str(obj.pk) in page:
            return page[str(obj.pk)]
        return metrics.summaries([obj])[str(obj.pk)]

    @extend_schema_field(ParamsField())
    def get_params(self, obj) -> dict:
        return specs.flat_params(obj.spec)


class JobSubmittedSerializer(JobSerializer):
    """The answer to a submit: the job, and what its kind warns of (also in the job's log)."""

    warnings = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Things to know that did not refuse the job, such as training data that overlaps the pinned "
        "set of the target model's promotion gate (also written to the job's log as `warning: ...`).",
    )

    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "warnings"]
        read_only_fields = fields


class JobSubmitSerializer(serializers.Serializer):
    """Only the outer shape is checked here; the spec, resources and limits are checked by the service so
    that every message names its field (spec.architecture, resources.pool, …)."""

    id = serializers.UUIDField(
        required=False,
        help_text="An id chosen by the client (a uuid) so that a submission sent again after a lost answer makes no "
        "second job: the same id, team and kind from the same user answers 200 with the job as it is; an id "
        "that is another job's answers 409.",
    )
    team = serializers.CharField(validators=[slug_validator])
    kind = serializers.ChoiceField(choices=JobKind.choices)
    spec = serializers.JSONField()
    priority = serializers.JSONField(required=False, default=0)
    resources = serializers.JSONField(required=False, default=dict)
    max_retries = serializers.JSONField(required=False, default=0)
    timeout_s = serializers.JSONField(required=False, default=None, allow_null=True)


class JobFinishSerializer(serializers.Serializer):
    """How a tracking run ended: `succeeded`, or `failed` with a one-line `error`."""

    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    error = serializers.CharField(required=False, allow_blank=True, max_length=10_000, default="")


class JobLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobLog
        fields = ["id", "time", "line"]
        read_only_fields = fields


class MetricSeriesSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=metrics.KEY_MAX)
    steps = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=metrics.STEP_MAX))
    values = serializers.ListField(child=serializers.FloatField(), help_text="one per step")
    times = serializers.ListField(
        child=serializers.FloatField(), required=False, help_text="one per step: Unix epoch seconds (default: now)"
    )


class MetricPointsSerializer(serializers.Serializer):
    points = serializers.JSONField(
        required=False,
        help_text="[{key, step, value, time?}, ...]; time: the client's clock, Unix epoch seconds (default: now). "
        "Send points or series, not both.",
    )
    series = MetricSeriesSerializer(
        many=True, required=False, help_text="the same points as columns, one entry per key (what the client sends)"
    )
    batch_id = serializers.RegexField(
        rf"^{metrics.BATCH_ID.pattern}$",
        required=False,
        help_text="the client's id of this batch: sent again, the batch is answered duplicate and writes nothing",
    )


class TriggerSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug", validators=[slug_validator])
    model = serializers.UUIDField(source="model_id")
    base_dataset_version = serializers.UUIDField(source="base_dataset_version_id")
    min_feedback = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False, default=100)
    train = serializers.JSONField(required=False, default=dict, help_text="Train spec less dataset_version, model.")
    promote_if = serializers.JSONField(required=False, default=dict, help_text='{"alias": "production"}')
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = RetrainTrigger
        fields = [
            "id",
            "team",
            "name",
            "model",
            "base_dataset_version",
            "min_feedback",
            "train",
            "promote_if",
            "enabled",
            "feedback_seen_until",
            "last_checked_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "feedback_seen_until", "last_checked_at", "created_by", "created_at"]


class TriggerUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    min_feedback = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False)
    train = serializers.JSONField(required=False)
    promote_if = serializers.JSONField(required=False)
    enabled = serializers.BooleanField(required=False)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({f: ["This field cannot be changed."] for f in sorted(unknown)})
        return attrs


class RunJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = ["id", "kind", "status", "error", "outputs", "created_at", "finished_at"]
        read_only_fields = fields


class TriggerRunSerializer(serializers.ModelSerializer):
    trigger = serializers.UUIDField(source="trigger_id", read_only=True)
    dataset_version = serializers.UUIDField(source="dataset_version_id", read_only=True, allow_null=True)
    model_version = serializers.UUIDField(source="model_version_id", read_only=True, allow_null=True)
    jobs = RunJobSerializer(many=True, read_only=True)

    class Meta:
        model = TriggerRun
        fields = [
            "id",
            "trigger",
            "status",
            "step",
            "feedback_count",
            "feedback_until",
            "dataset_version",
            "model_version",
            "gate_checks",
            "error",
            "jobs",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class JobKindSerializer(serializers.Serializer):
    """One job kind: what it does and the JSON Schema of its spec (for forms)."""

    kind = serializers.ChoiceField(choices=JobKind.choices, read_only=True)
    description = serializers.CharField(read_only=True)
    spec_schema = serializers.DictField(
        read_only=True, help_text="A JSON Schema (draft 2020-12) of the spec a job of this kind takes."
    )
    distributed = serializers.BooleanField(
        read_only=True,
        help_text="Whether resources.processes (CPU, gloo) or resources.gpus above 1 run it as several "
        "DistributedDataParallel processes on one node.",
    )
    preemptible = serializers.BooleanField(
        read_only=True, help_text="Whether a higher-share team's job may preempt it (it resumes from a checkpoint)."
    )


class MetricKeySerializer(serializers.Serializer):
    key = serializers.CharField()
    count = serializers.IntegerField()
    first_step = serializers.IntegerField()
    last_step = serializers.IntegerField()
    last_value = serializers.FloatField(allow_null=True)


class MetricKeysAnswerSerializer(serializers.Serializer):
    """GET .../metrics/ without ?key."""

    job = serializers.UUIDField()
    keys = MetricKeySerializer(many=True)


class MetricSeriesAnswerSerializer(serializers.Serializer):
    """GET .../metrics/?key=...: `points` is [[step, value], ...] in step order, `times` each point's
    recorded time (Unix epoch seconds), index for index."""

    job = serializers.UUIDField()
    key = serializers.CharField()
    count = serializers.IntegerField(help_text="points in the range asked for (series, window or after_step)")
    total = serializers.IntegerField(help_text="points in the whole series")
    downsampled = serializers.BooleanField(help_text="points is a min/max selection of the range, not all of it")
    truncated = serializers.BooleanField(help_text="after_step: more points follow the last one returned")
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True), min_length=2, max_length=2),
        help_text="[[step, value], ...]; a value is null where it is NaN or infinite (logged through MLflow)",
    )
    times = serializers.ListField(
        child=serializers.FloatField(), help_text="the time each point was recorded, Unix epoch seconds"
    )


class MetricIngestAnswerSerializer(serializers.Serializer):
    job = serializers.UUIDField()
    received = serializers.IntegerField()
    written = serializers.IntegerField()
    duplicate = serializers.BooleanField(help_text="the batch_id had been received before: nothing was written")


class JobLogsAnswerSerializer(serializers.Serializer):
    job = serializers.UUIDField()
    status = serializers.CharField()
    results = JobLogSerializer(many=True)
    next_after = serializers.IntegerField(help_text="pass as ?after= to read on")


class TeamUsageSerializer(serializers.Serializer):
    team = serializers.CharField()
    running_jobs = serializers.IntegerField()
    jobs = serializers.DictField(child=serializers.IntegerField(), help_text="job count by status")
    cpu_seconds = serializers.FloatField()
    gpu_seconds = serializers.FloatField()
    storage_bytes = serializers.IntegerField()
    blobs = serializers.IntegerField()
    metric_points = serializers.IntegerField()
    quota = serializers.DictField(
        child=serializers.DictField(),
        help_text="per pool where the team has a quota: its limits (null: unlimited), weight, what it holds now "
        "and what it used this month (jobs_app.selectors.team_quotas)",
    )


class ColumnMetricSerializer(serializers.Serializer):
    key = serializers.CharField()
    direction = serializers.ChoiceField(choices=metrics.DIRECTIONS)


class JobColumnsSerializer(serializers.Serializer):
    """GET /jobs/columns/: what the runs table can show as columns."""

    params = serializers.ListField(child=serializers.CharField(), help_text="param dot paths, in name order")
    metrics = ColumnMetricSerializer(many=True, help_text="metric keys, in name order")


class _VersionRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    version = serializers.IntegerField()


class _OverviewDatasetSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    task = serializers.CharField()
    versions = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class _OverviewDatasetsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    recent = _OverviewDatasetSerializer(many=True, help_text="at most 5, most recently updated first")


class _OverviewRunningSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    progress = serializers.FloatField()
    started_at = serializers.DateTimeField(allow_null=True)


class _OverviewQueuedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    queue_reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class _OverviewRecentJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    status = serializers.CharField()
    finished_at = serializers.DateTimeField(allow_null=True)


class _OverviewJobsSerializer(serializers.Serializer):
    by_status = serializers.DictField(child=serializers.IntegerField(), help_text="every status, with 0s")
    running = _OverviewRunningSerializer(many=True, help_text="at most 20, latest started first")
    queued = _OverviewQueuedSerializer(many=True, help_text="at most 20, oldest first")
    recent = _OverviewRecentJobSerializer(many=True, help_text="at most 5 finished jobs, latest first")


class _OverviewModelSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    task = serializers.CharField()
    latest_version = _VersionRefSerializer(allow_null=True)
    aliases = serializers.DictField(child=_VersionRefSerializer(), help_text="{alias: {id, version}}")


class _OverviewServingSerializer(serializers.Serializer):
    predictions_24h = serializers.IntegerField()
    feedback_24h = serializers.IntegerField()


class _ModelRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class _OverviewTriggerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    model = _ModelRefSerializer()
    min_feedback = serializers.IntegerField()
    feedback_waiting = serializers.IntegerField(
        help_text="labelled predictions since the trigger last fired: a run starts when it reaches min_feedback"
    )
    last_fired_at = serializers.DateTimeField(allow_null=True)
    enabled = serializers.BooleanField()


class TeamOverviewSerializer(serializers.Serializer):
    """GET /teams/{slug}/overview/: the dashboard's overview in one call."""

    team = serializers.CharField()
    datasets = _OverviewDatasetsSerializer()
    jobs = _OverviewJobsSerializer()
    models = _OverviewModelSerializer(many=True, help_text="at most 20, most recently updated first")
    serving = _OverviewServingSerializer()
    triggers = _OverviewTriggerSerializer(many=True)
    usage = TeamUsageSerializer()


class RunParamsSerializer(serializers.Serializer):
    """Parameters a tracking run logs after its start, merged into `spec.params`."""

    params = serializers.JSONField(help_text='{name: JSON value}, e.g. {"lr": 0.001, "layers": [64, 32]}')


class JobArtifactSerializer(serializers.ModelSerializer):
    sha256 = serializers.CharField(source="blob_id", read_only=True)

    class Meta:
        model = JobArtifact
        fields = ["path", "size_bytes", "sha256", "created_at"]
        read_only_fields = fields


class JobArtifactUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The file (multipart).")
    path = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Where it goes in the run, a relative path such as plots/loss.png (default: the file's name).",
    )
