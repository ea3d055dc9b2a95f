from rest_framework import serializers

from accounts_app.models import slug_validator
from jobs_app.models import Job, JobKind, JobLog


class JobSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    cancel_requested = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "team",
            "kind",
            "status",
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
            "cancel_requested",
            "heartbeat_at",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_cancel_requested(self, obj) -> bool:
        return obj.cancel_requested_at is not None


class JobSubmitSerializer(serializers.Serializer):
    """Only the outer shape is checked here; the spec, resources and limits are checked by the service so
    that every message names its field (spec.architecture, resources.pool, …)."""

    team = serializers.CharField(validators=[slug_validator])
    kind = serializers.ChoiceField(choices=JobKind.choices)
    spec = serializers.JSONField()
    priority = serializers.JSONField(required=False, default=0)
    resources = serializers.JSONField(required=False, default=dict)
    max_retries = serializers.JSONField(required=False, default=0)
    timeout_s = serializers.JSONField(required=False, default=None, allow_null=True)


class JobLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobLog
        fields = ["id", "time", "line"]
        read_only_fields = fields


class MetricPointsSerializer(serializers.Serializer):
    points = serializers.JSONField(help_text="[{key, step, value}, ...]")
