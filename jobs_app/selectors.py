"""Reads of jobs_app, always scoped to the caller's teams."""

from django.db.models import Count, DurationField, ExpressionWrapper, F, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts_app.models import Team, User
from accounts_app.selectors import team_ids_for_user
from jobs_app import kinds
from jobs_app.models import Job, JobLog, JobOutput, JobStatus, MetricPoint, RetrainTrigger, TriggerRun


def jobs_for_user(*, user: User) -> QuerySet[Job]:
    return Job.objects.filter(team__in=team_ids_for_user(user)).select_related("team", "created_by")


def job_for_user(*, user: User, pk) -> Job:
    return get_object_or_404(jobs_for_user(user=user), pk=pk)


def job_id_of(*, kind: str, object_id) -> str | None:
    """The id of the job that made the object (`kind` is an OutputKind), or None when no job made it."""
    job_id = JobOutput.objects.filter(kind=kind, object_id=object_id).values_list("job_id", flat=True).first()
    return str(job_id) if job_id else None


def outputs_of(*, job: Job) -> dict[str, str]:
    """{kind: object id} of what the job made."""
    return {kind: str(pk) for kind, pk in JobOutput.objects.filter(job=job).values_list("kind", "object_id")}


def log_lines(*, job: Job, after: int = 0, limit: int = 1000) -> list[JobLog]:
    return list(JobLog.objects.filter(job=job, id__gt=after).order_by("id")[:limit])


def team_usage(*, team: Team) -> dict:
    """What a team uses now: jobs by status, CPU and GPU seconds of the jobs that ran (running ones up to
    now; GPU seconds count each GPU), bytes of the distinct blobs its datasets and models hold."""
    from datasets_app.models import Blob, DatasetVersion
    from models_app.models import ModelVersion

    jobs = Job.objects.filter(team=team)
    by_status = {status: 0 for status in JobStatus.values}
    by_status.update(dict(jobs.values_list("status").annotate(n=Count("id")).values_list("status", "n")))
    now = timezone.now()
    ran = ExpressionWrapper(Coalesce("finished_at", Value(now)) - F("started_at"), output_field=DurationField())
    cpu_seconds = gpu_seconds = 0.0
    # one row per GPU count: the database adds up the durations
    # runs outside Eco's workers (tracking) use none of its compute
    ran_here = jobs.filter(started_at__isnull=False).exclude(kind__in=kinds.outside_workers())
    for row in ran_here.values("resources__gpus").annotate(total=Sum(ran)):
        seconds = max(0.0, row["total"].total_seconds()) if row["total"] else 0.0
        gpus = row["resources__gpus"] or 0
        if gpus:
            gpu_seconds += seconds * gpus
        else:
            cpu_seconds += seconds
    blobs = Blob.objects.filter(
        Q(pk__in=DatasetVersion.objects.filter(dataset__team=team).values("blob_id"))
        | Q(pk__in=ModelVersion.objects.filter(model__team=team).values("blob_id"))
    )
    storage = blobs.aggregate(total=Sum("size_bytes"), count=Count("pk"))
    return {
        "team": team.slug,
        "running_jobs": by_status[JobStatus.RUNNING],
        "jobs": by_status,
        "cpu_seconds": round(cpu_seconds, 3),
        "gpu_seconds": round(gpu_seconds, 3),
        "storage_bytes": storage["total"] or 0,
        "blobs": storage["count"],
        "metric_points": MetricPoint.objects.filter(job__team=team).count(),
        "quota": None,  # quotas and admission arrive with resource governance
    }


def triggers_for_user(*, user: User) -> QuerySet[RetrainTrigger]:
    return (
        RetrainTrigger.objects.filter(team__in=team_ids_for_user(user))
        .select_related("team", "model", "created_by")
        .order_by("-created_at")
    )


def trigger_for_user(*, user: User, pk) -> RetrainTrigger:
    return get_object_or_404(triggers_for_user(user=user), pk=pk)


def runs_for_user(*, user: User) -> QuerySet[TriggerRun]:
    """Retrain runs of your teams' triggers, newest first, each with its jobs in the order they ran."""
    return (
        TriggerRun.objects.filter(trigger__team__in=team_ids_for_user(user))
        .select_related("trigger")
        .prefetch_related(Prefetch("jobs", queryset=Job.objects.order_by("created_at")))
        .order_by("-created_at")
    )
