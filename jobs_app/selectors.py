"""Reads of jobs_app, always scoped to the caller's teams."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts_app.models import User
from accounts_app.selectors import team_ids_for_user
from jobs_app.models import Job, JobLog


def jobs_for_user(*, user: User) -> QuerySet[Job]:
    return Job.objects.filter(team__in=team_ids_for_user(user)).select_related("team", "created_by")


def job_for_user(*, user: User, pk) -> Job:
    return get_object_or_404(jobs_for_user(user=user), pk=pk)


def log_lines(*, job: Job, after: int = 0, limit: int = 1000) -> list[JobLog]:
    return list(JobLog.objects.filter(job=job, id__gt=after).order_by("id")[:limit])
