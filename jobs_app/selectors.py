"""Reads of jobs_app, always scoped to the caller's teams."""

from django.db.models import Count, DurationField, ExpressionWrapper, F, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts_app.models import Team, User
from accounts_app.selectors import team_ids_for_user
from jobs_app import kinds
from jobs_app.models import (
    DEFAULT_EXPERIMENT,
    Experiment,
    Job,
    JobLog,
    JobOutput,
    JobStatus,
    LoggedModel,
    MetricChunk,
    RetrainTrigger,
    TeamMonthUsage,
    TeamQuota,
    TriggerRun,
)


def jobs_for_user(*, user: User, include_deleted: bool = False) -> QuerySet[Job]:
    """The jobs of the user's teams; a deleted (soft) run only with `include_deleted` (MLflow's protocol
    reads deleted runs; Eco's own API answers 404 for them)."""
    jobs = Job.objects.filter(team__in=team_ids_for_user(user)).select_related("team", "created_by", "experiment")
    return jobs if include_deleted else jobs.filter(deleted_at__isnull=True)


def job_for_user(*, user: User, pk, include_deleted: bool = False) -> Job:
    return get_object_or_404(jobs_for_user(user=user, include_deleted=include_deleted), pk=pk)


def experiments_for_user(*, user: User) -> QuerySet[Experiment]:
    """The experiments of the user's teams (deleted ones too: the caller filters by lifecycle_stage)."""
    return Experiment.objects.filter(team__in=team_ids_for_user(user)).select_related("team")


def experiment_for_user(*, user: User, pk) -> Experiment:
    return get_object_or_404(experiments_for_user(user=user), pk=pk)


def runs_of(experiments: list[Experiment], prefix: str = "") -> Q:
    """A Q on jobs (with `prefix` "job__", on rows that name a job) in `experiments`: a team's Default experiment
    also holds the tracking runs started without one (Eco's own)."""
    defaults = [e.team_id for e in experiments if e.name == DEFAULT_EXPERIMENT]
    return Q(**{f"{prefix}experiment__in": [e.pk for e in experiments]}) | Q(
        **{f"{prefix}experiment__isnull": True, f"{prefix}kind": "tracking", f"{prefix}team__in": defaults}
    )


def logged_models_for_user(*, user: User) -> QuerySet[LoggedModel]:
    """The logged models of the user's teams' runs (deleted ones too: MLflow's protocol says which)."""
    return LoggedModel.objects.filter(job__team__in=team_ids_for_user(user)).select_related(
        "job__team", "job__experiment", "created_by"
    )


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
    """What a team uses: jobs by status; GPU-seconds (GPUs × wall time of the attempts that ran, running ones
    up to now) and CPU-seconds (measured in the worker processes) of all its jobs; bytes of the distinct blobs
    its datasets and models hold; and per pool (`quota`, keyed by pool name) its limits, weight, what it holds
    now and what it used this month (UTC). A pool without a quota for the team is unlimited and not listed."""
    from datasets_app.models import Blob, DatasetVersion
    from models_app.models import ModelVersion

    jobs = Job.objects.filter(team=team)
    by_status = {status: 0 for status in JobStatus.values}
    by_status.update(dict(jobs.values_list("status").annotate(n=Count("id")).values_list("status", "n")))
    now = timezone.now()
    ran = ExpressionWrapper(Coalesce("finished_at", Value(now)) - F("started_at"), output_field=DurationField())
    gpu_seconds = 0.0
    # one row per GPU count: the database adds up the durations; runs outside Eco's workers (tracking) use none
    ran_here = jobs.filter(started_at__isnull=False, gpus__gt=0).exclude(kind__in=kinds.outside_workers())
    for row in ran_here.values("gpus").annotate(total=Sum(ran)):
        seconds = max(0.0, row["total"].total_seconds()) if row["total"] else 0.0
        gpu_seconds += seconds * row["gpus"]
    cpu_seconds = jobs.aggregate(total=Sum("cpu_seconds"))["total"] or 0.0
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
        "metric_points": MetricChunk.objects.filter(job__team=team).aggregate(n=Coalesce(Sum("count"), 0))["n"],
        "quota": team_quotas(team=team, now=now),
    }


def team_quotas(*, team: Team, now=None) -> dict[str, dict]:
    """{pool name: {accelerator, capacity, weight, max_concurrent_jobs, max_gpus, gpu_hours_per_month,
    cpu_hours_per_month, storage_bytes (limits; None is unlimited), running_jobs, admitted_jobs, gpus_in_use,
    waiting_jobs (now), gpu_hours_this_month, cpu_hours_this_month}} for each pool where the team has a quota."""
    from jobs_app.services.admission import month_start

    now = now or timezone.now()
    quotas = list(TeamQuota.objects.filter(team=team).select_related("pool"))
    if not quotas:
        return {}
    pools = [q.pool.name for q in quotas]
    held = {
        row["pool"]: row
        for row in Job.objects.filter(team=team, pool__in=pools, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        .values("pool")
        .annotate(
            running=Count("id", filter=Q(status=JobStatus.RUNNING)),
            admitted=Count("id", filter=Q(admitted_at__isnull=False)),
            waiting=Count("id", filter=Q(admitted_at__isnull=True, status=JobStatus.QUEUED)),
            gpus=Sum("gpus", filter=Q(admitted_at__isnull=False)),
        )
        .order_by()
    }
    month = {u.pool: u for u in TeamMonthUsage.objects.filter(team=team, pool__in=pools, month=month_start(now))}
    out = {}
    for q in quotas:
        h, m = held.get(q.pool.name, {}), month.get(q.pool.name)
        out[q.pool.name] = {
            "accelerator": q.pool.accelerator,
            "capacity": q.pool.capacity,
            "weight": q.weight,
            "max_concurrent_jobs": q.max_concurrent_jobs,
            "max_gpus": q.max_gpus,
            "gpu_hours_per_month": q.gpu_hours_per_month,
            "cpu_hours_per_month": q.cpu_hours_per_month,
            "storage_bytes": q.storage_bytes,
            "running_jobs": h.get("running", 0),
            "admitted_jobs": h.get("admitted", 0),
            "waiting_jobs": h.get("waiting", 0),
            "gpus_in_use": h.get("gpus") or 0,
            "gpu_hours_this_month": round((m.gpu_seconds if m else 0.0) / 3600, 3),
            "cpu_hours_this_month": round((m.cpu_seconds if m else 0.0) / 3600, 3),
        }
    return out


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


COLUMN_JOBS = 2000  # the newest jobs the column picker looks at


def job_columns(*, jobs: QuerySet[Job]) -> dict:
    """`{params: [dot path], metrics: [{key, direction}]}` over the newest COLUMN_JOBS of `jobs` (already
    scoped and filtered): the runs table's column picker. Bounded: two queries over at most COLUMN_JOBS jobs
    (the metric keys from the metric chunks, a 64th of the points)."""
    from jobs_app import metrics, specs

    newest = jobs.order_by("-created_at", "-id")[:COLUMN_JOBS]
    params: set[str] = set()
    kinds_seen: set[str] = set()
    for kind, spec in newest.values_list("kind", "spec"):
        kinds_seen.add(kind)
        params.update(specs.flat_params(spec))
    keys = metrics.keys_of(Job.objects.filter(pk__in=newest.values("pk")))
    only = next(iter(kinds_seen)) if len(kinds_seen) == 1 else None
    return {
        "params": sorted(params),
        "metrics": [{"key": key, "direction": metrics.direction(key, only)} for key in keys],
    }


OVERVIEW_ITEMS = 5  # recent datasets and jobs
OVERVIEW_ACTIVE = 20  # running and queued jobs listed (by_status counts them all)
OVERVIEW_MODELS = 20  # the most recently updated models


def team_overview(*, team: Team) -> dict:
    """Everything the dashboard's overview shows, in a bounded number of queries (about 17, whatever the
    team's size); the shape is TeamOverviewSerializer's."""
    from datetime import UTC, datetime, timedelta

    from django.db.models import Max, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    from datasets_app.models import Dataset
    from models_app import feedback
    from models_app.models import ModelAlias, ModelVersion, PredictionLog, RegisteredModel

    now = timezone.now()
    datasets = Dataset.objects.filter(team=team)
    recent_datasets = datasets.annotate(num_versions=Count("versions")).order_by("-updated_at", "id")
    jobs = Job.objects.filter(team=team)
    running = jobs.filter(status=JobStatus.RUNNING).order_by("-started_at", "id")[:OVERVIEW_ACTIVE]
    queued = jobs.filter(status=JobStatus.QUEUED).order_by("created_at", "id")[:OVERVIEW_ACTIVE]
    finished = jobs.filter(status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
    recent_jobs = finished.order_by(F("finished_at").desc(nulls_last=True), "-id")[:OVERVIEW_ITEMS]

    newest = ModelVersion.objects.filter(model=OuterRef("pk")).order_by("-version")
    models = list(
        RegisteredModel.objects.filter(team=team)
        .annotate(latest_id=Subquery(newest.values("pk")[:1]), latest_number=Subquery(newest.values("version")[:1]))
        .order_by("-updated_at", "id")[:OVERVIEW_MODELS]
    )
    model_ids = [m.pk for m in models]
    aliases: dict = {}
    for alias in ModelAlias.objects.filter(model_id__in=model_ids).select_related("version").order_by("alias"):
        aliases.setdefault(alias.model_id, {})[alias.alias] = {
            "id": str(alias.version_id),
            "version": alias.version.version,
        }

    day = now - timedelta(hours=24)
    serving = PredictionLog.objects.filter(team=team).aggregate(
        predictions_24h=Count("id", filter=Q(created_at__gte=day)),
        feedback_24h=Count("id", filter=Q(feedback_at__gte=day)),
    )
    # the count each trigger compares with min_feedback (jobs_app.triggers.check_triggers), in one query
    never = datetime(1970, 1, 1, tzinfo=UTC)  # a trigger that never fired counts every labelled prediction
    waiting = (
        feedback.labelled(
            model=OuterRef("model_id"), since=Coalesce(OuterRef("feedback_seen_until"), Value(never)), until=now
        )
        .order_by()
        .values("model")
        .annotate(n=Count("id"))
        .values("n")
    )
    triggers = (
        RetrainTrigger.objects.filter(team=team)
        .select_related("model")
        .annotate(
            feedback_waiting=Coalesce(Subquery(waiting), 0),
            last_fired_at=Max("runs__created_at"),
        )
        .order_by("-created_at", "id")
    )
    return {
        "team": team.slug,
        "datasets": {
            "count": datasets.count(),
            "recent": [
                {
                    "id": str(d.pk),
                    "name": d.name,
                    "task": d.task,
                    "versions": d.num_versions,
                    "updated_at": d.updated_at,
                }
                for d in recent_datasets[:OVERVIEW_ITEMS]
            ],
        },
        "jobs": {
            "by_status": _by_status(jobs),
            "running": [
                {"id": str(j.pk), "kind": j.kind, "progress": j.progress, "started_at": j.started_at} for j in running
            ],
            "queued": [
                {"id": str(j.pk), "kind": j.kind, "queue_reason": queue_reason(j), "created_at": j.created_at}
                for j in queued
            ],
            "recent": [
                {"id": str(j.pk), "kind": j.kind, "status": j.status, "finished_at": j.finished_at} for j in recent_jobs
            ],
        },
        "models": [
            {
                "id": str(m.pk),
                "name": m.name,
                "task": m.task,
                "latest_version": {"id": str(m.latest_id), "version": m.latest_number} if m.latest_id else None,
                "aliases": aliases.get(m.pk, {}),
            }
            for m in models
        ],
        "serving": serving,
        "triggers": [
            {
                "id": str(t.pk),
                "model": {"id": str(t.model_id), "name": t.model.name},
                "min_feedback": t.min_feedback,
                "feedback_waiting": t.feedback_waiting,
                "last_fired_at": t.last_fired_at,
                "enabled": t.enabled,
            }
            for t in triggers
        ],
        "usage": team_usage(team=team),
    }


def queue_reason(job: Job) -> str | None:
    """Why a queued job waits, in plain words; None for a job that is not queued. Admission holds it back
    (its team's quota, a full pool, fair share: jobs_app.services.admission), or it was let through and waits
    for a worker of its pool to take it."""
    if job.status != JobStatus.QUEUED:
        return None
    if job.admitted_at is None:
        return job.queue_reason or f"waiting for admission to pool {job.pool}"
    return f"waiting for a worker on pool {job.pool}"


def _by_status(jobs: QuerySet[Job]) -> dict[str, int]:
    counts = {status: 0 for status in JobStatus.values}
    counts.update(dict(jobs.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")))
    return counts


def artifacts(*, job: Job):
    """The files a tracking run logged (JobArtifact), by path."""
    from jobs_app.models import JobArtifact

    return JobArtifact.objects.filter(job=job).order_by("path")
