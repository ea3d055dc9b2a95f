import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class JobKind(models.TextChoices):
    TRAIN = "train"
    EVALUATE = "evaluate"
    PROCESS = "process"
    EXPORT = "export"
    QUANTIZE = "quantize"


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Job(models.Model):
    """A unit of work run by a Celery worker. Its state lives here, not in a Celery result backend.

    The runners, tasks and API arrive with the jobs capability; the registry already links model versions
    to the job that produced them.
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
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "status"], name="job_team_status")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=JobKind.values), name="job_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="job_status_valid"),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="job_progress_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk} ({self.status})"
